package consumer_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/receiptd/receiptd/consumer"
	"github.com/receiptd/receiptd/internal/kafkatest"
)

func TestMissingTopicIsAClearError(t *testing.T) {
	addrs := newCluster(t, 1).ListenAddrs()
	tests := []struct {
		name      string
		topic     string
		dlq       string
		wantTopic string
		wantRole  string
	}{
		{"source", "no-such-topic", dlqTopic, "no-such-topic", "source topic"},
		{"dead-letter", srcTopic, "no-such-dlq", "no-such-dlq", "dead-letter topic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(addrs, "missing-"+tt.name)
			cfg.Topic, cfg.DLQTopic = tt.topic, tt.dlq
			c, err := consumer.New(cfg, newFakeStages(newLedger(), 1), nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err = c.Run(ctx)
			var missing *consumer.MissingTopicError
			if !errors.As(err, &missing) || missing.Topic != tt.wantTopic || missing.Role != tt.wantRole {
				t.Fatalf("Run = %v, want a MissingTopicError for the %s %q", err, tt.wantRole, tt.wantTopic)
			}
			if msg := err.Error(); !strings.Contains(msg, tt.wantRole+` "`+tt.wantTopic+`" does not exist`) ||
				!strings.Contains(msg, "--create --topic "+tt.wantTopic) {
				t.Errorf("error %q does not name the topic and how to create it", msg)
			}
			if err := consumer.CheckTopics(ctx, cfg); !errors.As(err, &missing) {
				t.Errorf("CheckTopics = %v, want a MissingTopicError", err)
			}
			cfg.AutoCreateTopics = true
			if err := consumer.CheckTopics(ctx, cfg); err != nil {
				t.Errorf("CheckTopics with auto-creation = %v, want nil", err)
			}
		})
	}
	if err := consumer.CheckTopics(context.Background(), testConfig(addrs, "g")); err != nil {
		t.Errorf("CheckTopics with both topics present = %v", err)
	}
}

// A committed offset past the end of the log is reported and reset per
// StartOffset, and consumption goes on from there: no silent stall.
func TestOffsetOutOfRangeIsReset(t *testing.T) {
	tests := []struct {
		start      string
		wantReset  int64
		wantRecord bool // whether records 0..9 are consumed again
	}{
		{consumer.StartEarliest, 0, true},
		{consumer.StartLatest, 10, false},
	}
	for _, tt := range tests {
		t.Run(tt.start, func(t *testing.T) {
			addrs, _ := seededCluster(t, 1, 10, nil)
			cfg := testConfig(addrs, "oor-"+tt.start)
			cfg.StartOffset = tt.start
			commitOffset(t, addrs, cfg.GroupID, 0, 500)

			l := newLedger()
			stages := newFakeStages(l, 1)
			obs, r := startOnFake(t, cfg, stages)
			obs.waitFor(t, 30*time.Second, "the reset committed", func() bool {
				off, _ := l.lastCommit(0)
				return len(obs.resets) == 1 && off == 10
			})
			if err := r.stop(); err != nil {
				t.Fatal(err)
			}
			want := consumer.OffsetReset{Topic: srcTopic, Partition: 0, Offset: 500, LogStart: 0, LogEnd: 10,
				ResetTo: tt.wantReset, StartOffset: tt.start}
			if obs.resets[0] != want {
				t.Errorf("reset %+v, want %+v", obs.resets[0], want)
			}
			if distinct, _ := l.doneCount(); (distinct == 10) != tt.wantRecord {
				t.Errorf("%d records consumed after the reset, want all 10: %t", distinct, tt.wantRecord)
			}
			if got := committedOffsets(t, addrs, cfg.GroupID, 1); got[0] != 10 {
				t.Errorf("committed %d after the reset, want 10", got[0])
			}
		})
	}
}

// Records deleted before they were consumed are reported, with the range
// lost.
func TestRecordsLostToRetentionAreReported(t *testing.T) {
	addrs, _ := seededCluster(t, 1, 10, nil)
	cfg := testConfig(addrs, "retention")
	commitOffset(t, addrs, cfg.GroupID, 0, 2)
	deleteRecordsBefore(t, addrs, 0, 5)

	l := newLedger()
	stages := newFakeStages(l, 1)
	obs, r := startOnFake(t, cfg, stages)
	obs.waitCommitted(t, 30*time.Second, "records 5..9 committed", 0, 10)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	want := consumer.RecordsSkipped{Topic: srcTopic, Partition: 0, From: 2, To: 5}
	if len(obs.skipped) != 1 || obs.skipped[0] != want {
		t.Errorf("skipped reports %+v, want [%+v]", obs.skipped, want)
	}
}

// Partitions added to the topic are picked up, and the rate share follows.
func TestNewPartitionsArePickedUp(t *testing.T) {
	addrs := newCluster(t, 2).ListenAddrs()
	cfg := testConfig(addrs, "grow")
	cfg.PartitionWatchInterval = 200 * time.Millisecond
	l := newLedger()
	stages := newFakeStages(l, 1)
	obs, r := startOnFake(t, cfg, stages)
	obs.waitFor(t, 30*time.Second, "the first generation", func() bool { return len(obs.joined) > 0 })

	res, err := kafkatest.Client(t, addrs).CreatePartitions(t.Context(), &kafka.CreatePartitionsRequest{
		Topics: []kafka.TopicPartitionsConfig{{Name: srcTopic, Count: 4}}})
	if err != nil || res.Errors[srcTopic] != nil {
		t.Fatalf("create partitions: %v %v", err, res)
	}
	want := produce(t, addrs, 4, 5, nil)
	obs.waitFor(t, 30*time.Second, "all 4 partitions committed", func() bool { return l.committedAll(want) })
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	last := obs.joined[len(obs.joined)-1]
	if last.Total != 4 || len(last.Partitions) != 4 {
		t.Errorf("last generation %+v, want all 4 partitions", last)
	}
	stages.mu.Lock()
	defer stages.mu.Unlock()
	if got := stages.shares[len(stages.shares)-1]; !slices.Equal(got.partitions, []int{0, 1, 2, 3}) || got.total != 4 {
		t.Errorf("last share %+v, want partitions [0 1 2 3] of 4", got)
	}
	l.check(t, want)
}

func commitOffset(t *testing.T, addrs []string, group string, partition int, offset int64) {
	t.Helper()
	cl := kafkatest.Client(t, addrs)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cl.OffsetCommit(ctx, &kafka.OffsetCommitRequest{GroupID: group, GenerationID: -1,
		Topics: map[string][]kafka.OffsetCommit{srcTopic: {{Partition: partition, Offset: offset}}}})
	if err != nil {
		t.Fatalf("commit offset: %v", err)
	}
	for _, p := range res.Topics[srcTopic] {
		if p.Error != nil {
			t.Fatalf("commit offset: %v", p.Error)
		}
	}
}

func deleteRecordsBefore(t *testing.T, addrs []string, partition int32, offset int64) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrDeleteRecordsRequest()
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = srcTopic
	rp := kmsg.NewDeleteRecordsRequestTopicPartition()
	rp.Partition, rp.Offset = partition, offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 5000
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("delete records: %v", err)
	}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if rp.ErrorCode != 0 {
				t.Fatalf("delete records: error code %d", rp.ErrorCode)
			}
		}
	}
}

// Fetch errors are reported and retried; the fetcher never gives up on its
// partition.
func TestFetchErrorsAreRetried(t *testing.T) {
	cluster := newCluster(t, 1)
	addrs := cluster.ListenAddrs()
	want := produce(t, addrs, 1, 20, nil)
	kafkatest.RefuseFetches(cluster, 2, 29) // TOPIC_AUTHORIZATION_FAILED: the reader hands it to FetchMessage
	cfg := testConfig(addrs, "fetch-errors")
	l := newLedger()
	stages := newFakeStages(l, 1)
	stages.start(t)
	obs := &fetchErrors{recorder: newRecorder(l)}
	r := startConsumer(t, cfg, stages, obs)
	obs.waitCommitted(t, 30*time.Second, "every record committed", 0, 20)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	l.check(t, want)
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if len(obs.errs) == 0 || obs.errs[0].Partition != 0 || obs.errs[0].RetryIn <= 0 ||
		!errors.Is(obs.errs[0].Err, kafka.TopicAuthorizationFailed) {
		t.Errorf("fetch error reports %+v, want the refused fetches with a retry delay", obs.errs)
	}
}

type fetchErrors struct {
	*recorder
	errs []consumer.FetchError
}

func (o *fetchErrors) FetchError(e consumer.FetchError) {
	o.event(func() { o.errs = append(o.errs, e) })
}
