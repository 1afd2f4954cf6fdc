package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/receiptd/receiptd/deadletter"
	"github.com/receiptd/receiptd/internal/kafkatopics"
	"github.com/receiptd/receiptd/internal/sandbox"
)

// deadLetter builds a dead-letter record as the DLQ writer does.
func deadLetter(class string, code int64, failedAt time.Time, replays, offset int) kafka.Message {
	h := func(k, v string) kafka.Header { return kafka.Header{Key: k, Value: []byte(v)} }
	return kafka.Message{
		Key:   []byte("group-" + strconv.Itoa(offset)),
		Value: []byte(fmt.Sprintf(`{"user_id":"u%d","group_id":"g","conv_msg_seq":[%d]}`, offset, offset+1)),
		Headers: []kafka.Header{
			h("trace-id", "t-"+strconv.Itoa(offset)),
			h(deadletter.HeaderErrorClass, class),
			h(deadletter.HeaderErrorCode, strconv.FormatInt(code, 10)),
			h(deadletter.HeaderErrorMessage, "because"),
			h(deadletter.HeaderRequestID, "rq"),
			h(deadletter.HeaderAction, "GroupReadReceipt"),
			h(deadletter.HeaderFailedSeqs, strconv.Itoa(offset+1)),
			h(deadletter.HeaderSourceTopic, "message-read"),
			h(deadletter.HeaderSourcePartition, "3"),
			h(deadletter.HeaderSourceOffset, strconv.Itoa(offset)),
			h(deadletter.HeaderAttempts, "1"),
			h(deadletter.HeaderFirstAttemptAt, failedAt.UTC().Format(deadletter.TimeLayout)),
			h(deadletter.HeaderFailedAt, failedAt.UTC().Format(deadletter.TimeLayout)),
			h(deadletter.HeaderWorker, "pod-1"),
			h(deadletter.HeaderReplayCount, strconv.Itoa(replays)),
		},
	}
}

func TestDLQInspectAndReplay(t *testing.T) {
	box := startDLQSandbox(t)
	now := time.Now()
	letters := []kafka.Message{
		deadLetter("invalid_event", 0, now, 0, 0),
		deadLetter("invalid_event", 0, now, 0, 1),
		deadLetter("rejected", 660400103, now.Add(-3*time.Hour), 0, 2),
		deadLetter("rejected", 660400103, now, 0, 3),
		deadLetter("rejected", 660400103, now, 3, 4), // replayed too often
		deadLetter("exhausted", 424242, now, 0, 5),
	}
	writeDLQ(t, box, letters...)

	code, out, errOut := runCLI(t, "dlq", "inspect", "--samples", "1")
	if code != exitOK {
		t.Fatalf("inspect: exit %d\n%s", code, errOut)
	}
	for _, want := range []string{"6 records, 6 matching", "rejected   660400103  3", "invalid_event  0", "exhausted", "source: message-read partition 3 offset 0"} {
		if !strings.Contains(squeeze(out), squeeze(want)) {
			t.Errorf("inspect output lacks %q:\n%s", want, out)
		}
	}

	// A dry run produces nothing.
	code, out, _ = runCLI(t, "dlq", "replay", "--class", "rejected", "--dry-run")
	if code != exitOK || !strings.Contains(out, "would replay 2 record(s)") || !strings.Contains(out, "1 refused after 3 replays") {
		t.Fatalf("dry run: exit %d\n%s", code, out)
	}
	if n := sourceRecords(t, box); len(n) != 0 {
		t.Fatalf("the dry run produced %d records", len(n))
	}
	// Time and class filters.
	code, out, errOut = runCLI(t, "dlq", "replay", "--class", "rejected", "--since", "1h")
	if code != exitOK || !strings.Contains(out, "replayed 1 record(s) to message-read;") {
		t.Fatalf("replay --since 1h: exit %d\n%s%s", code, out, errOut)
	}
	// Code filter and limit.
	code, out, _ = runCLI(t, "dlq", "replay", "--code", "0", "--limit", "1")
	if code != exitOK || !strings.Contains(out, "replayed 1 record(s)") || !strings.Contains(out, "stopped at --limit 1") {
		t.Fatalf("replay --code 0 --limit 1: exit %d\n%s", code, out)
	}

	got := sourceRecords(t, box)
	if len(got) != 2 {
		t.Fatalf("source topic holds %d replayed records, want 2", len(got))
	}
	byValue := map[string]kafka.Message{}
	for _, m := range got {
		byValue[string(m.Value)] = m
	}
	for _, want := range []kafka.Message{letters[3], letters[0]} {
		m, ok := byValue[string(want.Value)]
		if !ok {
			t.Errorf("record %s was not replayed", want.Value)
			continue
		}
		if string(m.Key) != string(want.Key) {
			t.Errorf("replayed key = %s, want %s", m.Key, want.Key)
		}
		var replays, trace string
		for _, h := range m.Headers {
			switch h.Key {
			case deadletter.HeaderReplayCount:
				replays = string(h.Value)
			case "trace-id":
				trace = string(h.Value)
			case deadletter.HeaderErrorClass:
				t.Errorf("a replayed record carries %s", h.Key)
			}
		}
		if replays != "1" || trace == "" {
			t.Errorf("replayed headers %v: want replay count 1 and the original trace-id", m.Headers)
		}
	}
}

// startDLQSandbox starts a sandbox and points the CLI's configuration at it.
func startDLQSandbox(t *testing.T) *sandbox.Sandbox {
	t.Helper()
	box, err := sandbox.Start(context.Background(), sandbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(box.Close)
	t.Setenv("RECEIPTD_KAFKA_BROKERS", strings.Join(box.Brokers, ","))
	t.Setenv("RECEIPTD_ZIM_APP_ID", "1234567")
	t.Setenv("RECEIPTD_ZIM_SERVER_SECRET", sandbox.Secret)
	return box
}

// writeDLQ writes msgs to the sandbox's dead-letter topic.
func writeDLQ(t *testing.T, box *sandbox.Sandbox, msgs ...kafka.Message) {
	t.Helper()
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	w := &kafka.Writer{Addr: kafka.TCP(box.Brokers...), Topic: "message-read-dlq", RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond, Transport: transport}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
}

// withHeader returns m with header key set to value, or removed when value
// is nil.
func withHeader(m kafka.Message, key string, value []byte) kafka.Message {
	var hs []kafka.Header
	for _, h := range m.Headers {
		if h.Key != key {
			hs = append(hs, h)
		}
	}
	if value != nil {
		hs = append(hs, kafka.Header{Key: key, Value: value})
	}
	m.Headers = hs
	return m
}

// Replay sends records dead-lettered from kafka.topic to kafka.topic, or to
// --to-topic; never to the dead-letter topic itself. Records dead-lettered
// from other topics (another deployment sharing the dead-letter topic) are
// left alone and counted unless --all-sources. A record whose receiptd headers
// are missing or unreadable is reported and skipped, and the run goes on.
func TestDLQReplayTargetAndUnreadableRecords(t *testing.T) {
	box := startDLQSandbox(t)
	now := time.Now()
	good := deadLetter("rejected", 660400103, now, 0, 0)
	fromOther := withHeader(deadLetter("rejected", 660400103, now, 1, 1), deadletter.HeaderSourceTopic, []byte("retired-topic"))
	fromDLQ := withHeader(deadLetter("rejected", 660400103, now, 0, 2), deadletter.HeaderSourceTopic, []byte("message-read-dlq"))
	noTopic := withHeader(deadLetter("rejected", 660400103, now, 0, 3), deadletter.HeaderSourceTopic, []byte(""))
	negative := deadLetter("rejected", 660400103, now, -1, 4)
	noClass := withHeader(deadLetter("rejected", 660400103, now, 0, 5), deadletter.HeaderErrorClass, nil)
	garbled := withHeader(deadLetter("rejected", 660400103, now, 0, 6), deadletter.HeaderReplayCount, []byte("two"))
	foreign := kafka.Message{Key: []byte("k"), Value: []byte("not a dead letter")}
	cut := deadLetter("rejected", 660400103, now, 0, 7)
	cut = withHeader(cut, deadletter.HeaderTruncated, []byte("value"))
	cut = withHeader(cut, deadletter.HeaderOriginalValueSize, []byte("2000000"))
	cut = withHeader(cut, deadletter.HeaderOriginalValueSHA256, []byte(strings.Repeat("ab", 32)))
	writeDLQ(t, box, good, noTopic, fromOther, negative, noClass, fromDLQ, garbled, foreign, cut)

	code, out, errOut := runCLI(t, "dlq", "replay", "--rate", "1000")
	if code != exitOK {
		t.Fatalf("replay: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "replayed 1 record(s) to message-read;") || !strings.Contains(out, "5 skipped") ||
		!strings.Contains(out, "1 not replayed because they were cut") ||
		!strings.Contains(out, `2 left alone, dead-lettered from other topics than message-read ("message-read-dlq": 1, "retired-topic": 1; --all-sources replays them)`) {
		t.Errorf("replay output:\n%s", out)
	}
	for _, want := range []string{
		`not replayed dlq 0/8: its value was cut to fit the dead-letter topic; the whole record is at message-read partition 3 offset 7`,
		`skipped dlq 0/1: header receiptd-source-topic: empty`,
		`skipped dlq 0/3: header receiptd-replay-count: -1 is negative`,
		`skipped dlq 0/4: header receiptd-error-class: missing`,
		`skipped dlq 0/6: header receiptd-replay-count: "two" is not an integer`,
		`skipped dlq 0/7: no receiptd headers`,
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("replay's report of skipped records lacks %q:\n%s", want, errOut)
		}
	}
	got := sourceRecords(t, box)
	var values []string
	for _, m := range got {
		values = append(values, string(m.Value))
	}
	slices.Sort(values)
	if want := []string{string(good.Value)}; !slices.Equal(values, want) {
		t.Errorf("message-read holds %q, want %q", values, want)
	}
	if n := len(topicRecords(t, box, "message-read-dlq")); n != 9 {
		t.Errorf("the dead-letter topic holds %d records after the replay, want the 9 written", n)
	}

	// --to-topic names another topic; the dead-letter topic is refused.
	code, _, errOut = runCLI(t, "dlq", "replay", "--to-topic", "message-read-dlq")
	if code != exitUsage || !strings.Contains(errOut, `--to-topic "message-read-dlq" is the dead-letter topic`) {
		t.Errorf("replay --to-topic <dlq>: exit %d, want %d\n%s", code, exitUsage, errOut)
	}
	code, _, errOut = runCLI(t, "dlq", "replay", "--to-topic", "no-such-topic")
	if code != exitFailure || !strings.Contains(errOut, `topic "no-such-topic"`) {
		t.Errorf("replay --to-topic to a missing topic: exit %d, want %d\n%s", code, exitFailure, errOut)
	}
	createTopic(t, box, "message-read-retry")
	code, out, errOut = runCLI(t, "dlq", "replay", "--to-topic", "message-read-retry", "--all-sources", "--rate", "1000")
	if code != exitOK || !strings.Contains(out, "replayed 3 record(s) to message-read-retry") ||
		!strings.Contains(out, `among them, dead-lettered from other topics than message-read: "message-read-dlq": 1, "retired-topic": 1`) {
		t.Errorf("replay --to-topic message-read-retry --all-sources: exit %d\n%s%s", code, out, errOut)
	}
	got = topicRecords(t, box, "message-read-retry")
	values = values[:0]
	for _, m := range got {
		values = append(values, string(m.Value))
	}
	slices.Sort(values)
	want := []string{string(good.Value), string(fromOther.Value), string(fromDLQ.Value)}
	slices.Sort(want)
	if !slices.Equal(values, want) {
		t.Errorf("message-read-retry holds %q, want %q", values, want)
	}
}

func createTopic(t *testing.T, box *sandbox.Sandbox, topic string) {
	t.Helper()
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(box.Brokers...), Timeout: 10 * time.Second, Transport: transport}
	if err := kafkatopics.Create(t.Context(), client, []kafkatopics.Topic{{Name: topic, Partitions: 2}}, kafkatopics.Fresh()); err != nil {
		t.Fatal(err)
	}
}

// sourceRecords reads every record of the sandbox's source topic.
func sourceRecords(t *testing.T, box *sandbox.Sandbox) []kafka.Message {
	t.Helper()
	return topicRecords(t, box, "message-read")
}

// topicRecords reads every record of topic.
func topicRecords(t *testing.T, box *sandbox.Sandbox, topic string) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := box.EndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var out []kafka.Message
	for p, end := range ends {
		if end == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: box.Brokers, Topic: topic, Partition: p, MaxWait: 100 * time.Millisecond, ReadLagInterval: -1})
		for {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				r.Close()
				t.Fatal(err)
			}
			out = append(out, m)
			if m.Offset+1 >= end {
				break
			}
		}
		r.Close()
	}
	return out
}

func squeeze(s string) string { return strings.Join(strings.Fields(s), " ") }
