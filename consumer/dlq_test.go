package consumer_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/receiptd/receiptd/consumer"
	"github.com/receiptd/receiptd/worker"
)

// A record replayed from the dead-letter topic and dead-lettered again gets
// fresh receiptd headers (not a second set), its replay count carried over,
// and its own headers, key and value unchanged.
func TestDeadLetterOfAReplayedRecord(t *testing.T) {
	addrs := newCluster(t, 1).ListenAddrs()
	cfg := testConfig(addrs, "replayed")
	dlq := newDLQWriter(t, cfg, nil)

	// A first dead letter, replayed to the source topic.
	first := kafka.Message{Key: []byte("k"), Value: []byte(`{"user_id":"a","group_id":"g","conv_msg_seq":[5,6]}`),
		Headers: []kafka.Header{{Key: "trace", Value: []byte("t1")}}}
	recs := consumeRecords(t, cfg, first)
	failedAt := time.Date(2026, 11, 26, 3, 4, 5, 678_900_000, time.FixedZone("x", 3600))
	f := worker.Failure{Class: worker.FailRejected, Code: 660400103, Message: "failed to set group receipts",
		RequestID: "req-1", FailedSeqs: []uint64{5, 6}, Attempts: 2,
		FirstAttemptAt: failedAt.Add(-time.Second), FailedAt: failedAt}
	if err := dlq.DeadLetter(context.Background(), []worker.DeadLetter{{Record: recs[0], Failure: f}}); err != nil {
		t.Fatal(err)
	}
	dead := readDLQ(t, addrs, 1)[0]
	info, err := consumer.ParseDeadLetter(dead)
	if err != nil {
		t.Fatal(err)
	}
	want := consumer.DeadLetterInfo{Class: worker.FailRejected, Code: 660400103, Message: "failed to set group receipts",
		RequestID: "req-1", Action: "GroupReadReceipt", FailedSeqs: []uint64{5, 6}, SourceTopic: srcTopic,
		SourcePartition: 0, SourceOffset: 0, Attempts: 2, FirstAttemptAt: failedAt.Add(-time.Second).Truncate(time.Millisecond).UTC(),
		FailedAt: failedAt.Truncate(time.Millisecond).UTC(), Worker: "test-worker", ReplayCount: 0,
		Original: []kafka.Header{{Key: "trace", Value: []byte("t1")}}}
	if !equalInfo(info, want) {
		t.Errorf("ParseDeadLetter =\n%+v\nwant\n%+v", info, want)
	}
	if got := header(dead, consumer.HeaderFailedAt); got != "2026-11-26T02:04:05.678Z" {
		t.Errorf("%s = %q, want RFC 3339 UTC with milliseconds", consumer.HeaderFailedAt, got)
	}

	replay, err := consumer.ReplayMessage(dead, srcTopic)
	if err != nil {
		t.Fatal(err)
	}
	if replay.Topic != srcTopic || header(replay, consumer.HeaderReplayCount) != "1" || string(replay.Value) != string(first.Value) {
		t.Fatalf("ReplayMessage = %+v", replay)
	}

	// The replayed record fails again.
	replay.Topic = ""
	recs = consumeRecords(t, cfg, replay)
	f2 := worker.Failure{Class: worker.FailExhausted, Code: 123, Message: strings.Repeat("é", 600), Attempts: 5, FailedAt: failedAt}
	if err := dlq.DeadLetter(context.Background(), []worker.DeadLetter{{Record: recs[0], Failure: f2}}); err != nil {
		t.Fatal(err)
	}
	dead2 := readDLQ(t, addrs, 2)[1]
	count := map[string]int{}
	for _, h := range dead2.Headers {
		count[h.Key]++
	}
	for k, n := range count {
		if n != 1 {
			t.Errorf("header %s appears %d times", k, n)
		}
	}
	info2, err := consumer.ParseDeadLetter(dead2)
	if err != nil {
		t.Fatal(err)
	}
	if info2.ReplayCount != 1 || info2.Class != worker.FailExhausted || info2.SourceOffset != 1 ||
		len(info2.Original) != 1 || info2.Original[0].Key != "trace" || len(info2.FailedSeqs) != 0 || !info2.FirstAttemptAt.IsZero() {
		t.Errorf("second dead letter %+v", info2)
	}
	if n := len(info2.Message); n > 1024 || !strings.HasPrefix(strings.Repeat("é", 600), info2.Message) {
		t.Errorf("error message header of %d bytes, want a prefix of at most 1024", n)
	}
}

func equalInfo(a, b consumer.DeadLetterInfo) bool {
	return a.Class == b.Class && a.Code == b.Code && a.Message == b.Message && a.RequestID == b.RequestID &&
		a.Action == b.Action && slices.Equal(a.FailedSeqs, b.FailedSeqs) && a.SourceTopic == b.SourceTopic &&
		a.SourcePartition == b.SourcePartition && a.SourceOffset == b.SourceOffset && a.Attempts == b.Attempts &&
		a.FirstAttemptAt.Equal(b.FirstAttemptAt) && a.FailedAt.Equal(b.FailedAt) && a.Worker == b.Worker &&
		a.ReplayCount == b.ReplayCount && slices.EqualFunc(a.Original, b.Original, func(x, y kafka.Header) bool {
		return x.Key == y.Key && string(x.Value) == string(y.Value)
	})
}

func header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// consumeRecords produces msgs to partition 0 of the source topic and
// returns the records a Consumer, in a group of its own, hands over for them.
func consumeRecords(t *testing.T, cfg consumer.Config, msgs ...kafka.Message) []*worker.Record {
	t.Helper()
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	w := &kafka.Writer{Addr: kafka.TCP(cfg.Brokers...), Topic: cfg.Topic, RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond, Transport: tr}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce: %v", err)
	}
	_ = w.Close()
	cl := &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Transport: tr}
	offs, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
		cfg.Topic: {kafka.LastOffsetOf(0)}}})
	if err != nil || len(offs.Topics[cfg.Topic]) != 1 {
		t.Fatalf("list offsets: %v %+v", err, offs)
	}
	end := int(offs.Topics[cfg.Topic][0].LastOffset)

	consumed.Add(1)
	cfg.GroupID = fmt.Sprintf("%s-read-%d", cfg.GroupID, consumed.Load())
	pipe := newFakePipeline(newLedger(), 1)
	pipe.setPaused(true)
	r := startConsumer(t, cfg, pipe, nil)
	pipe.waitFor(t, 20*time.Second, "the records", func() bool { return len(pipe.queue) == end })
	pipe.mu.Lock()
	recs := slices.Clone(pipe.queue[end-len(msgs):])
	pipe.mu.Unlock()
	r.cancel(consumer.ErrAbandon)
	if err := r.wait(); err != nil {
		t.Fatal(err)
	}
	return recs
}

var consumed atomic.Int32

func TestParseDeadLetterNamesBadHeaders(t *testing.T) {
	tests := []struct {
		name    string
		headers map[string]string
		want    []string
	}{
		{"malformed", map[string]string{
			consumer.HeaderErrorClass:   "weird",
			consumer.HeaderSourceOffset: "x",
			consumer.HeaderFailedAt:     "yesterday",
		}, []string{
			`header receiptd-error-class: unknown class "weird"`,
			`header receiptd-source-offset: "x" is not an integer`,
			`header receiptd-failed-at: "yesterday" is not an RFC 3339 time`,
			`header receiptd-source-topic: missing`,
		}},
		{"negative or empty", map[string]string{
			consumer.HeaderReplayCount:     "-1",
			consumer.HeaderSourcePartition: "-3",
			consumer.HeaderAttempts:        "-2",
			consumer.HeaderSourceTopic:     "",
		}, []string{
			`header receiptd-replay-count: -1 is negative`,
			`header receiptd-source-partition: -3 is negative`,
			`header receiptd-attempts: -2 is negative`,
			`header receiptd-source-topic: empty`,
		}},
		{"none at all", nil, []string{"no receiptd headers"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := kafka.Message{Partition: 2, Offset: 9, Headers: []kafka.Header{{Key: "trace", Value: []byte("t")}}}
			for k, v := range tt.headers {
				m.Headers = append(m.Headers, kafka.Header{Key: k, Value: []byte(v)})
			}
			_, err := consumer.ParseDeadLetter(m)
			var he *consumer.HeaderError
			if !errors.As(err, &he) || he.Partition != 2 || he.Offset != 9 {
				t.Fatalf("ParseDeadLetter = %v, want a *HeaderError at partition 2 offset 9", err)
			}
			for _, want := range tt.want {
				if !slices.Contains(he.Problems, want) {
					t.Errorf("problems %q lack %q", he.Problems, want)
				}
			}
		})
	}
}

// A write that is not acknowledged returns an error within DLQWriteTimeout.
func TestDeadLetterWriteFailureIsAnError(t *testing.T) {
	cluster := newCluster(t, 1)
	addrs := cluster.ListenAddrs()
	cfg := testConfig(addrs, "dlq-error")
	recs := consumeRecords(t, cfg, kafka.Message{Value: []byte("{}")})
	cfg.DLQWriteTimeout = 300 * time.Millisecond
	obs := newRecorder(newLedger())
	var failed []consumer.DLQWriteFailed
	dlq := newDLQWriter(t, cfg, dlqObserver{obs, &failed})
	cluster.Close() // no broker answers any more
	err := dlq.DeadLetter(context.Background(), []worker.DeadLetter{{Record: recs[0], Failure: worker.Failure{Class: worker.FailInvalidEvent}}})
	if err == nil || !strings.Contains(err.Error(), dlqTopic) {
		t.Fatalf("DeadLetter with no broker = %v, want an error naming the topic", err)
	}
	if len(failed) != 1 || failed[0].Records != 1 {
		t.Errorf("DLQWriteFailed reports %+v, want one for 1 record", failed)
	}
}

type dlqObserver struct {
	*recorder
	failed *[]consumer.DLQWriteFailed
}

func (o dlqObserver) DLQWriteFailed(f consumer.DLQWriteFailed) { *o.failed = append(*o.failed, f) }
