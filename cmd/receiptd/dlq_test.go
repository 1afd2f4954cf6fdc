package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/receiptd/receiptd/consumer"
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
			h(consumer.HeaderErrorClass, class),
			h(consumer.HeaderErrorCode, strconv.FormatInt(code, 10)),
			h(consumer.HeaderErrorMessage, "because"),
			h(consumer.HeaderRequestID, "rq"),
			h(consumer.HeaderAction, "GroupReadReceipt"),
			h(consumer.HeaderFailedSeqs, strconv.Itoa(offset+1)),
			h(consumer.HeaderSourceTopic, "message-read"),
			h(consumer.HeaderSourcePartition, "3"),
			h(consumer.HeaderSourceOffset, strconv.Itoa(offset)),
			h(consumer.HeaderAttempts, "1"),
			h(consumer.HeaderFirstAttemptAt, failedAt.UTC().Format(consumer.TimeLayout)),
			h(consumer.HeaderFailedAt, failedAt.UTC().Format(consumer.TimeLayout)),
			h(consumer.HeaderWorker, "pod-1"),
			h(consumer.HeaderReplayCount, strconv.Itoa(replays)),
		},
	}
}

func TestDLQInspectAndReplay(t *testing.T) {
	ctx := context.Background()
	box, err := sandbox.Start(ctx, sandbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	t.Setenv("RECEIPTD_KAFKA_BROKERS", strings.Join(box.Brokers, ","))
	t.Setenv("RECEIPTD_ZIM_APP_ID", "1234567")
	t.Setenv("RECEIPTD_ZIM_SERVER_SECRET", sandbox.Secret)

	now := time.Now()
	letters := []kafka.Message{
		deadLetter("invalid_event", 0, now, 0, 0),
		deadLetter("invalid_event", 0, now, 0, 1),
		deadLetter("rejected", 660400103, now.Add(-3*time.Hour), 0, 2),
		deadLetter("rejected", 660400103, now, 0, 3),
		deadLetter("rejected", 660400103, now, 3, 4), // replayed too often
		deadLetter("exhausted", 424242, now, 0, 5),
	}
	transport := &kafka.Transport{}
	w := &kafka.Writer{Addr: kafka.TCP(box.Brokers...), Topic: "message-read-dlq", RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond, Transport: transport}
	if err := w.WriteMessages(ctx, letters...); err != nil {
		t.Fatal(err)
	}
	w.Close()
	transport.CloseIdleConnections()

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
	if code != exitOK || !strings.Contains(out, "replayed 1 record(s) [message-read: 1]") {
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
			case consumer.HeaderReplayCount:
				replays = string(h.Value)
			case "trace-id":
				trace = string(h.Value)
			case consumer.HeaderErrorClass:
				t.Errorf("a replayed record carries %s", h.Key)
			}
		}
		if replays != "1" || trace == "" {
			t.Errorf("replayed headers %v: want replay count 1 and the original trace-id", m.Headers)
		}
	}
}

// sourceRecords reads every record of the sandbox's source topic.
func sourceRecords(t *testing.T, box *sandbox.Sandbox) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := box.EndOffsets(ctx, "message-read")
	if err != nil {
		t.Fatal(err)
	}
	var out []kafka.Message
	for p, end := range ends {
		if end == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: box.Brokers, Topic: "message-read", Partition: p, MaxWait: 100 * time.Millisecond, ReadLagInterval: -1})
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
