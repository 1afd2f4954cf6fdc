package deadletter_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/receiptd/receiptd/deadletter"
	"github.com/receiptd/receiptd/deadletter/deadlettertest"
	"github.com/receiptd/receiptd/internal/kafkatest"
	"github.com/receiptd/receiptd/internal/kafkatopics"
	"github.com/receiptd/receiptd/worker"
)

// A record replayed from the dead-letter topic and dead-lettered again gets
// fresh receiptd headers (not a second set), its replay count carried over,
// and its own headers, key and value unchanged.
func TestDeadLetterOfAReplayedRecord(t *testing.T) {
	addrs := newCluster(t).ListenAddrs()
	cfg := testConfig(addrs)
	var src sources
	dlq := newWriter(t, cfg, &src, nil)

	// A first dead letter, replayed to the source topic.
	first := kafka.Message{Key: []byte("k"), Value: []byte(`{"user_id":"a","group_id":"g","conv_msg_seq":[5,6]}`),
		Headers: []kafka.Header{{Key: "trace", Value: []byte("t1")}}}
	recs := src.add(first)
	failedAt := time.Date(2026, 11, 26, 3, 4, 5, 678_900_000, time.FixedZone("x", 3600))
	f := worker.Failure{Class: worker.FailRejected, Code: 660400103, Message: "failed to set group receipts",
		RequestID: "req-1", FailedSeqs: []uint64{5, 6}, Attempts: 2,
		FirstAttemptAt: failedAt.Add(-time.Second), FailedAt: failedAt}
	if err := dlq.DeadLetter(context.Background(), []deadletter.Letter{{Record: recs[0], Failure: f}}); err != nil {
		t.Fatal(err)
	}
	dead := readDLQ(t, addrs, 1)[0]
	info, err := deadletter.Parse(dead)
	if err != nil {
		t.Fatal(err)
	}
	want := deadletter.Info{Class: worker.FailRejected, Code: 660400103, Message: "failed to set group receipts",
		RequestID: "req-1", Action: "GroupReadReceipt", FailedSeqs: []uint64{5, 6}, SourceTopic: srcTopic,
		SourcePartition: 0, SourceOffset: 0, Attempts: 2, FirstAttemptAt: failedAt.Add(-time.Second).Truncate(time.Millisecond).UTC(),
		FailedAt: failedAt.Truncate(time.Millisecond).UTC(), Worker: "test-worker", ReplayCount: 0,
		Original: []kafka.Header{{Key: "trace", Value: []byte("t1")}}}
	if !equalInfo(info, want) {
		t.Errorf("Parse =\n%+v\nwant\n%+v", info, want)
	}
	if got := header(dead, deadletter.HeaderFailedAt); got != "2026-11-26T02:04:05.678Z" {
		t.Errorf("%s = %q, want RFC 3339 UTC with milliseconds", deadletter.HeaderFailedAt, got)
	}

	replay, err := deadletter.ReplayMessage(dead, srcTopic)
	if err != nil {
		t.Fatal(err)
	}
	if replay.Topic != srcTopic || header(replay, deadletter.HeaderReplayCount) != "1" || string(replay.Value) != string(first.Value) {
		t.Fatalf("ReplayMessage = %+v", replay)
	}

	// The replayed record fails again.
	replay.Topic = ""
	recs = src.add(replay)
	f2 := worker.Failure{Class: worker.FailExhausted, Code: 123, Message: strings.Repeat("é", 600), Attempts: 5, FailedAt: failedAt}
	if err := dlq.DeadLetter(context.Background(), []deadletter.Letter{{Record: recs[0], Failure: f2}}); err != nil {
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
	info2, err := deadletter.Parse(dead2)
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

func equalInfo(a, b deadletter.Info) bool {
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

func TestParseNamesBadHeaders(t *testing.T) {
	tests := []struct {
		name    string
		headers map[string]string
		want    []string
	}{
		{"malformed", map[string]string{
			deadletter.HeaderErrorClass:   "weird",
			deadletter.HeaderSourceOffset: "x",
			deadletter.HeaderFailedAt:     "yesterday",
		}, []string{
			`header receiptd-error-class: unknown class "weird"`,
			`header receiptd-source-offset: "x" is not an integer`,
			`header receiptd-failed-at: "yesterday" is not an RFC 3339 time`,
			`header receiptd-source-topic: missing`,
		}},
		{"negative or empty", map[string]string{
			deadletter.HeaderReplayCount:     "-1",
			deadletter.HeaderSourcePartition: "-3",
			deadletter.HeaderAttempts:        "-2",
			deadletter.HeaderSourceTopic:     "",
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
			_, err := deadletter.Parse(m)
			var he *deadletter.HeaderError
			if !errors.As(err, &he) || he.Partition != 2 || he.Offset != 9 {
				t.Fatalf("Parse = %v, want a *HeaderError at partition 2 offset 9", err)
			}
			for _, want := range tt.want {
				if !slices.Contains(he.Problems, want) {
					t.Errorf("problems %q lack %q", he.Problems, want)
				}
			}
		})
	}
}

// A failed write returns an error naming the topic, within WriteTimeout,
// and reports it. One the brokers refuse for good wraps ErrRefused, so that
// the stage settles each letter alone; one that can succeed later (no
// broker answers) does not.
func TestDeadLetterWriteErrors(t *testing.T) {
	tests := []struct {
		name    string
		fail    func(*kfake.Cluster)
		refused bool
	}{
		{"no broker answers", func(c *kfake.Cluster) { c.Close() }, false},
		{"the broker refuses", func(c *kfake.Cluster) { kafkatest.RefuseProduces(c, dlqTopic, 1) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cluster := newCluster(t)
			addrs := cluster.ListenAddrs()
			cfg := testConfig(addrs)
			var src sources
			recs := src.add(kafka.Message{Value: []byte("{}")})
			cfg.WriteTimeout = 300 * time.Millisecond
			var failed []deadletter.WriteFailed
			dlq := newWriter(t, cfg, &src, dlqObserver{failed: &failed})
			letters := []deadletter.Letter{{Record: recs[0], Failure: worker.Failure{Class: worker.FailInvalidEvent}}}
			if _, err := dlq.Limit(context.Background()); err != nil {
				t.Fatal(err)
			}
			tt.fail(cluster)
			err := dlq.DeadLetter(context.Background(), letters)
			if err == nil || !strings.Contains(err.Error(), dlqTopic) {
				t.Fatalf("DeadLetter = %v, want an error naming the topic", err)
			}
			if errors.Is(err, deadletter.ErrRefused) != tt.refused {
				t.Errorf("DeadLetter = %v; wraps ErrRefused: %t, want %t", err, !tt.refused, tt.refused)
			}
			if tt.refused && !errors.Is(err, kafka.PolicyViolation) {
				t.Errorf("DeadLetter = %v, want the broker's error", err)
			}
			if len(failed) != 1 || failed[0].Records != 1 {
				t.Errorf("DLQWriteFailed reports %+v, want one for 1 record", failed)
			}
			if tt.refused {
				if err := dlq.DeadLetter(context.Background(), letters); err != nil {
					t.Errorf("DeadLetter once the broker accepts = %v", err)
				}
			}
		})
	}
}

type dlqObserver struct {
	deadletter.NopObserver
	failed *[]deadletter.WriteFailed
}

func (o dlqObserver) WriteFailed(f deadletter.WriteFailed) { *o.failed = append(*o.failed, f) }

// oversizedEvent returns a record value of n bytes: a valid event padded
// with an unknown field, as a producer bug or an attacker might send.
func oversizedEvent(n int) []byte {
	head := `{"user_id":"u","group_id":"g-rejected","conv_msg_seq":[1],"pad":"`
	v := []byte(head + strings.Repeat("x", n-len(head)-2) + `"}`)
	return v
}

// A record the source topic accepts but whose dead letter is over the
// dead-letter topic's limit (here Kafka's default, 1048588 bytes) is written
// with its value cut and headers that say so, and the letters written with
// it are written whole.
func TestOversizedDeadLetterIsCut(t *testing.T) {
	addrs := newCluster(t).ListenAddrs()
	cfg := testConfig(addrs)
	var src sources
	big := kafka.Message{Key: []byte("g-rejected"), Value: oversizedEvent(1_048_367),
		Headers: []kafka.Header{{Key: "trace", Value: []byte("t1")}}}
	small := kafka.Message{Key: []byte("g"), Value: []byte(`{"user_id":"a","group_id":"g","conv_msg_seq":[2]}`)}
	recs := src.add(big, small)
	dlq := newWriter(t, cfg, &src, nil)
	f := worker.Failure{Class: worker.FailRejected, Code: 660400103, Message: "not a member", FailedSeqs: []uint64{1}, Attempts: 1, FailedAt: time.Now()}
	err := dlq.DeadLetter(context.Background(), []deadletter.Letter{{Record: recs[0], Failure: f}, {Record: recs[1], Failure: f}})
	if err != nil {
		t.Fatalf("DeadLetter = %v, want the oversized letter cut and written", err)
	}
	got := readDLQ(t, addrs, 2)
	cut, whole := got[0], got[1]
	sum := sha256.Sum256(big.Value)
	if h := header(cut, deadletter.HeaderTruncated); h != "value" {
		t.Errorf("receiptd-truncated = %q, want value", h)
	}
	if h := header(cut, deadletter.HeaderOriginalValueSize); h != "1048367" {
		t.Errorf("receiptd-original-value-size = %q, want 1048367", h)
	}
	if h := header(cut, deadletter.HeaderOriginalValueSHA256); h != hex.EncodeToString(sum[:]) {
		t.Errorf("receiptd-original-value-sha256 = %q, want %x", h, sum)
	}
	if len(cut.Value) == 0 || len(cut.Value) >= len(big.Value) || !bytes.HasPrefix(big.Value, cut.Value) {
		t.Errorf("cut value of %d bytes, want a non-empty prefix of the original %d", len(cut.Value), len(big.Value))
	}
	if header(cut, "trace") != "t1" || string(cut.Key) != "g-rejected" || header(cut, deadletter.HeaderSourceOffset) != "0" ||
		header(cut, deadletter.HeaderSourceTopic) != srcTopic || header(cut, deadletter.HeaderErrorClass) != "rejected" {
		t.Errorf("cut letter lost its key, headers or coordinates: key %q headers %v", cut.Key, cut.Headers)
	}
	if size := recordBatchSize(cut); size > 1_048_588 {
		t.Errorf("cut letter's record batch is %d bytes, over the topic's 1048588", size)
	}
	if !bytes.Equal(whole.Value, small.Value) || header(whole, deadletter.HeaderTruncated) != "" {
		t.Errorf("the small letter beside it was changed: %q, truncated %q", whole.Value, header(whole, deadletter.HeaderTruncated))
	}
}

// recordBatchSize is the size of a record batch holding m alone, as the
// broker counts it against max.message.bytes: the batch header and the
// record's varint-framed fields.
func recordBatchSize(m kafka.Message) int {
	uv := func(n int) int { // zig-zag varint length, by the standard library rather than the writer's own count
		return len(binary.AppendVarint(nil, int64(n)))
	}
	body := 1 + 1 + 1 // attributes, timestamp delta, offset delta
	body += uv(len(m.Key)) + len(m.Key) + uv(len(m.Value)) + len(m.Value) + uv(len(m.Headers))
	for _, h := range m.Headers {
		body += uv(len(h.Key)) + len(h.Key) + uv(len(h.Value)) + len(h.Value)
	}
	return 61 + uv(body) + body
}

// createDLQ creates a one-partition topic with max.message.bytes set.
func createDLQ(t *testing.T, addrs []string, topic string, maxMessageBytes int) {
	t.Helper()
	err := kafkatopics.Create(t.Context(), kafkaClient(t, addrs), []kafkatopics.Topic{{Name: topic, Partitions: 1,
		Configs: []kafka.ConfigEntry{{ConfigName: "max.message.bytes", ConfigValue: strconv.Itoa(maxMessageBytes)}},
	}}, kafkatopics.Fresh())
	if err != nil {
		t.Fatal(err)
	}
}

func rejected() worker.Failure {
	return worker.Failure{Class: worker.FailRejected, Code: 660400103, Message: "not a member", FailedSeqs: []uint64{1}, Attempts: 1, FailedAt: time.Now()}
}

// A dead-letter topic whose max.message.bytes is below the source topic's:
// the writer reads the limit from the topic, cuts what does not fit to it,
// and spreads letters that fit alone but not together over several batches.
func TestDeadLetterFitsTheTopicsOwnLimit(t *testing.T) {
	const limit = 64 << 10
	addrs := newCluster(t).ListenAddrs()
	cfg := testConfig(addrs)
	var src sources
	cfg.Topic = "small-dlq"
	createDLQ(t, addrs, cfg.Topic, limit)
	msgs := []kafka.Message{{Key: []byte("g-rejected"), Value: oversizedEvent(200 << 10),
		Headers: []kafka.Header{{Key: "trace", Value: []byte(strings.Repeat("t", 100))}}}}
	for range 8 {
		msgs = append(msgs, kafka.Message{Key: []byte("g"), Value: oversizedEvent(20 << 10)})
	}
	recs := src.add(msgs...)
	events := &deadlettertest.Events{}
	dlq := newWriter(t, cfg, &src, events)
	var letters []deadletter.Letter
	for _, r := range recs {
		letters = append(letters, deadletter.Letter{Record: r, Failure: rejected()})
	}
	if err := dlq.DeadLetter(context.Background(), letters); err != nil {
		t.Fatalf("DeadLetter = %v", err)
	}
	got := kafkatest.ReadTopic(t, addrs, cfg.Topic, len(msgs))
	if size := recordBatchSize(got[0]); header(got[0], deadletter.HeaderTruncated) != "value" || size > limit || size < limit-100 {
		t.Errorf("the 200 KiB letter: truncated %q, %d bytes; want its value cut to fill the %d-byte limit",
			header(got[0], deadletter.HeaderTruncated), size, limit)
	}
	for _, m := range got[1:] {
		if header(m, deadletter.HeaderTruncated) != "" || len(m.Value) != 20<<10 {
			t.Errorf("a 20 KiB letter was cut: %q, %d bytes", header(m, deadletter.HeaderTruncated), len(m.Value))
		}
	}
	if limits := events.Limits(); len(limits) != 1 || limits[0] != (deadletter.LimitLearned{Topic: cfg.Topic, MaxMessageBytes: limit, From: deadletter.LimitFromTopic}) {
		t.Errorf("limit events %+v, want one for %d bytes from the topic", limits, limit)
	}
	if cuts := events.Truncations(); len(cuts) != 1 || cuts[0].SourceOffset != 0 || cuts[0].WrittenBytes > limit ||
		!slices.Equal(cuts[0].Cut, []string{"value"}) {
		t.Errorf("truncation events %+v, want one for offset 0", cuts)
	}
}

// kafka.dlq_max_message_bytes overrides the topic's limit; a letter whose
// receiptd headers alone exceed it loses its own headers and key too.
func TestDeadLetterLimitFromConfig(t *testing.T) {
	addrs := newCluster(t).ListenAddrs()
	cfg := testConfig(addrs)
	var src sources
	cfg.MaxMessageBytes = 4096
	recs := src.add(kafka.Message{Key: []byte("k"), Value: oversizedEvent(10 << 10)},
		kafka.Message{Key: []byte(strings.Repeat("k", 4000)), Value: oversizedEvent(1000),
			Headers: []kafka.Header{{Key: "big", Value: []byte(strings.Repeat("h", 3000))}}})
	events := &deadlettertest.Events{}
	dlq := newWriter(t, cfg, &src, events)
	if err := dlq.DeadLetter(context.Background(), []deadletter.Letter{{Record: recs[0], Failure: rejected()}, {Record: recs[1], Failure: rejected()}}); err != nil {
		t.Fatalf("DeadLetter = %v", err)
	}
	got := readDLQ(t, addrs, 2)
	if size := recordBatchSize(got[0]); header(got[0], deadletter.HeaderTruncated) != "value" || size > 4096 {
		t.Errorf("first letter: truncated %q, %d bytes; want its value cut to 4096", header(got[0], deadletter.HeaderTruncated), size)
	}
	if h := header(got[1], deadletter.HeaderTruncated); h != "value,headers,key" || got[1].Key != nil || header(got[1], "big") != "" {
		t.Errorf("second letter: truncated %q, key of %d bytes; want value, headers and key cut", h, len(got[1].Key))
	}
	info, err := deadletter.Parse(got[1])
	if err != nil || info.SourceOffset != 1 || info.OriginalValueSize != 1000 || !slices.Equal(info.Truncated, []string{"value", "headers", "key"}) {
		t.Errorf("Parse of the cut letter = %+v, %v", info, err)
	}
	if _, err := deadletter.ReplayMessage(got[1], srcTopic); !errors.Is(err, deadletter.ErrTruncated) || !strings.Contains(err.Error(), "partition 0 offset 1") {
		t.Errorf("ReplayMessage of a cut letter = %v, want ErrTruncated naming the source record", err)
	}
	if limits := events.Limits(); len(limits) != 1 || limits[0].From != deadletter.LimitFromConfig || limits[0].MaxMessageBytes != 4096 {
		t.Errorf("limit events %+v, want 4096 from the configuration", limits)
	}
}

// A principal that may not describe the topic's configuration: the writer
// assumes Kafka's default limit and says why.
func TestDeadLetterLimitWhenDescribeIsRefused(t *testing.T) {
	cluster := newCluster(t)
	addrs := cluster.ListenAddrs()
	cfg := testConfig(addrs)
	var src sources
	recs := src.add(kafka.Message{Key: []byte("k"), Value: oversizedEvent(1_048_367)})
	cluster.ControlKey(int16(kmsg.DescribeConfigs), func(r kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		req := r.(*kmsg.DescribeConfigsRequest)
		resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
		for _, rr := range req.Resources {
			res := kmsg.NewDescribeConfigsResponseResource()
			res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
			res.ErrorCode = kerr.TopicAuthorizationFailed.Code
			resp.Resources = append(resp.Resources, res)
		}
		return resp, nil, true
	})
	events := &deadlettertest.Events{}
	dlq := newWriter(t, cfg, &src, events)
	if limit, err := dlq.Limit(context.Background()); err != nil || limit != deadletter.DefaultMaxMessageBytes {
		t.Fatalf("Limit = %d, %v; want Kafka's default", limit, err)
	}
	if err := dlq.DeadLetter(context.Background(), []deadletter.Letter{{Record: recs[0], Failure: rejected()}}); err != nil {
		t.Fatalf("DeadLetter = %v", err)
	}
	if got := readDLQ(t, addrs, 1); header(got[0], deadletter.HeaderTruncated) != "value" {
		t.Errorf("the letter was not cut to the default limit")
	}
	if limits := events.Limits(); len(limits) != 1 || limits[0].From != deadletter.LimitFromDefault || !errors.Is(limits[0].Err, kafka.TopicAuthorizationFailed) {
		t.Errorf("limit events %+v, want the default for want of authorization", limits)
	}
}

// The topic's limit is lowered while receiptd runs: the brokers refuse a
// letter cut to the old limit, which is then written in its smallest form,
// and the next write uses the new limit.
func TestDeadLetterAfterTheLimitWasLowered(t *testing.T) {
	addrs := newCluster(t).ListenAddrs()
	cfg := testConfig(addrs)
	var src sources
	recs := src.add(kafka.Message{Key: []byte("k"), Value: oversizedEvent(100 << 10)},
		kafka.Message{Key: []byte("k"), Value: oversizedEvent(100 << 10)})
	events := &deadlettertest.Events{}
	dlq := newWriter(t, cfg, &src, events)
	if _, err := dlq.Limit(context.Background()); err != nil {
		t.Fatal(err)
	}
	const lowered = 16 << 10
	_, err := kafkaClient(t, addrs).AlterConfigs(context.Background(), &kafka.AlterConfigsRequest{Resources: []kafka.AlterConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: dlqTopic,
		Configs: []kafka.AlterConfigRequestConfig{{Name: "max.message.bytes", Value: strconv.Itoa(lowered)}},
	}}})
	if err != nil {
		t.Fatalf("lower max.message.bytes: %v", err)
	}
	for _, r := range recs {
		if err := dlq.DeadLetter(context.Background(), []deadletter.Letter{{Record: r, Failure: rejected()}}); err != nil {
			t.Fatalf("DeadLetter = %v", err)
		}
	}
	got := readDLQ(t, addrs, 2)
	if h := header(got[0], deadletter.HeaderTruncated); h != "value,headers,key" || len(got[0].Value) != 0 {
		t.Errorf("the letter refused at the old limit: truncated %q, value of %d bytes; want its smallest form", h, len(got[0].Value))
	}
	if h := header(got[1], deadletter.HeaderTruncated); h != "value" || recordBatchSize(got[1]) > lowered || len(got[1].Value) == 0 {
		t.Errorf("the next letter: truncated %q, %d bytes; want its value cut to the new limit", h, recordBatchSize(got[1]))
	}
	if limits := events.Limits(); len(limits) != 2 || limits[1].MaxMessageBytes != lowered {
		t.Errorf("limit events %+v, want the old limit, then %d", limits, lowered)
	}
}
