package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/receiptd/receiptd/deadletter"
	"github.com/receiptd/receiptd/internal/traffic"
)

// brokerMaxMessageBytes is the broker's default max.message.bytes.
const brokerMaxMessageBytes = 1_048_588

// oversizedRecord returns a valid group_read event of n bytes for group,
// padded with an unknown field, as a buggy producer might send: the
// source topic takes it, but its dead letter, with receiptd's headers, is
// over the same limit.
func oversizedRecord(group, user string, seq uint64, n int) traffic.Record {
	head := fmt.Sprintf(`{"type":"group_read","user_id":%q,"group_id":%q,"conv_msg_seq":[%d],"pad":"`, user, group, seq)
	v := append([]byte(head), bytes.Repeat([]byte("x"), n-len(head)-2)...)
	v = append(v, '"', '}')
	return traffic.Record{Key: []byte(group), Value: v,
		Event: traffic.Event{Type: traffic.TypeGroupRead, UserID: user, GroupID: group, Seqs: []uint64{seq}}}
}

// deadLetterRun is what one run of a dead-letter scenario measured.
type deadLetterRun struct {
	start     time.Time // when the run began
	events    int
	delivered int           // distinct receipts at zimfake
	receipts  time.Duration // from the join to every receipt at zimfake
	caughtUp  time.Duration // from the join to every record committed
	letters   deadLetters
	// For the first oversized record: from the join to its letter in the
	// dead-letter topic, and from its failure to the letter (the
	// dead-letter path alone).
	toDLQ, failedToDLQ time.Duration
}

// runDeadLetterScenario produces realistic traffic of events records with
// big added in its middle, runs one worker over it and checks that every
// receipt reaches ZIM, every record is committed and the dead-letter topic
// holds exactly the records ZIM rejects or that are malformed, cut where
// they do not fit.
func runDeadLetterScenario(t *testing.T, events int, big []traffic.Record, dlqConfig ...kafka.ConfigEntry) deadLetterRun {
	t.Helper()
	// More malformed and rejected records than the default mix: their
	// letters are the ones an oversized letter could hold back.
	moreLetters := func(seed uint64) traffic.Config {
		cfg := realisticTraffic(seed)
		cfg.MalformedFraction, cfg.FailingFraction = 0.01, 0.01
		return cfg
	}
	s := newScenario(t, setup{traffic: moreLetters, events: events, dlqConfig: dlqConfig, zim: zimOptions{RPS: fastRPS}, rejectFailing: true})
	w, b, n, z := s.w, s.b, s.n, s.z
	for _, r := range big {
		w.add(r)
	}
	// Records follow the big ones, so a stalled dead-letter path would hold
	// their letters back.
	mid := events / 2
	w.records = slices.Concat(w.records[:mid], w.records[events:], w.records[mid:events])
	s.produce(t)

	p := startWorker(t, "worker", n, z, fastRPS, nil)
	p.waitJoined(t, 1, joinTimeout)
	joined := time.Now()
	run := deadLetterRun{start: s.start, events: len(w.records)}
	if len(big) > 0 {
		m, at := waitDeadLetter(t, b, n, 2*time.Minute, func(m kafka.Message) bool {
			return bytes.HasPrefix(big[0].Value, m.Value) && header(m, deadletter.HeaderTruncated) != ""
		})
		info, err := deadletter.Parse(m)
		if err != nil {
			t.Fatalf("the oversized record's dead letter: %v", err)
		}
		run.toDLQ, run.failedToDLQ = at.Sub(joined), at.Sub(info.FailedAt)
	}
	waitReceipts(t, z, w.tally.Receipts(), 2*time.Minute)
	run.receipts = time.Since(joined)
	waitCaughtUp(t, b, n, z, 2*time.Minute)
	run.caughtUp = time.Since(joined)

	var d delivery
	d, run.letters = s.checkOutcome(t, [][]int64{noCommits()}, true)
	run.delivered = d.distinct
	if got := len(run.letters.cut); got != len(big) {
		t.Errorf("%d dead letters were cut, want the %d oversized ones", got, len(big))
	}
	limit := brokerMaxMessageBytes
	for _, c := range dlqConfig {
		if c.ConfigName == "max.message.bytes" {
			limit, _ = strconv.Atoi(c.ConfigValue)
		}
	}
	if p.stderr.count("dead letter cut to fit the dead-letter topic; the whole record stays in the source topic") == 0 && len(big) > 0 {
		t.Error("no log line reports the cut dead letter")
	}
	limits := p.stderr.matching(func(l logLine) bool { return l.Msg == "dead-letter topic limit" })
	if len(limits) != 1 || number(limits[0].Fields["max_message_bytes"]) != float64(limit) || limits[0].Fields["from"] != "topic" {
		t.Errorf("log lines %+v, want one dead-letter topic limit of %d from the topic", limits, limit)
	}
	stopWorker(t, p, 30*time.Second)
	return run
}

// header returns the value of m's header key, or "".
func header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// waitDeadLetter reads the dead-letter topic as records arrive until match
// holds for one, and returns it with the time it was seen.
func waitDeadLetter(t *testing.T, b *broker, n names, timeout time.Duration, match func(kafka.Message) bool) (kafka.Message, time.Time) {
	t.Helper()
	next := make([]int64, dlqPartitions)
	var found kafka.Message
	var at time.Time
	waitUntil(t, timeout, "the oversized record's dead letter", func() (bool, string) {
		hw := b.highWater(t, n.DLQ, dlqPartitions)
		for p := range dlqPartitions {
			if next[p] >= hw[p] {
				continue
			}
			msgs, err := b.readRange(n.DLQ, p, next[p], hw[p])
			if err != nil {
				return false, err.Error()
			}
			for _, m := range msgs {
				if match(m) {
					found, at = m, time.Now()
					return true, ""
				}
			}
			next[p] = hw[p]
		}
		return false, fmt.Sprintf("dead-letter topic at %s, no match", offsetsString(hw))
	})
	return found, at
}

// An oversized record for a group ZIM rejects: the source topic takes its
// 1,048,367 bytes, but its dead letter with receiptd's headers is over the
// broker's default max.message.bytes. Its letter is written cut, with the
// headers that say so, within seconds; every other letter is written whole
// and every record committed, in about the time the same traffic takes
// without it.
func TestOversizedRecordIsDeadLetteredCut(t *testing.T) {
	const events = 3000
	failing := traffic.DefaultConfig().FailingGroups[0]
	base := runDeadLetterScenario(t, events, nil)
	big := runDeadLetterScenario(t, events, []traffic.Record{oversizedRecord(failing, "user-oversized", 7, 1_048_367)})
	if len(big.letters.cut) != 1 {
		t.FailNow()
	}
	cut := big.letters.cut[0]
	// The size model the test holds letters to, and that receiptd cuts by,
	// against the broker itself: the largest letter it takes is exactly its
	// max.message.bytes by that model.
	largest := largestAccepted(t, newBroker(t), cut)
	if largest != brokerMaxMessageBytes {
		t.Errorf("the broker takes letters up to %d bytes by the test's count, want exactly its max.message.bytes %d", largest, brokerMaxMessageBytes)
	}
	figures{events: big.events, delivered: big.delivered, deadLetter: big.letters.records, start: base.start,
		extra: fmt.Sprintf("record_bytes=1048367 dlq_max_message_bytes=%d broker_takes_up_to=%d cut_letter_bytes=%d joined_to_cut_letter=%s failed_to_cut_letter=%s "+
			"receipts_done=%s (without the record %s, ratio %.2f) all_committed=%s (without %s, ratio %.2f) letters=%d (without %d)",
			brokerMaxMessageBytes, largest, recordBatchBytes(cut), big.toDLQ.Round(time.Millisecond), big.failedToDLQ.Round(time.Millisecond),
			big.receipts.Round(100*time.Millisecond), base.receipts.Round(100*time.Millisecond), ratio(big.receipts, base.receipts),
			big.caughtUp.Round(100*time.Millisecond), base.caughtUp.Round(100*time.Millisecond), ratio(big.caughtUp, base.caughtUp),
			big.letters.records, base.letters.records)}.log(t)
}

// A dead-letter topic created with a smaller max.message.bytes (64 KiB)
// than the source topic's: the writer reads the limit from the topic, and
// records of 100 KiB for a rejected group are dead-lettered cut to it while
// every other letter is written whole.
func TestDeadLetterTopicSmallerThanSource(t *testing.T) {
	const events, limit = 3000, 64 << 10
	failing := traffic.DefaultConfig().FailingGroups[0]
	var big []traffic.Record
	for i := range 5 {
		big = append(big, oversizedRecord(failing, fmt.Sprintf("user-big-%d", i), uint64(i+1), 100<<10))
	}
	run := runDeadLetterScenario(t, events, big,
		kafka.ConfigEntry{ConfigName: "max.message.bytes", ConfigValue: strconv.Itoa(limit)})
	for _, m := range run.letters.cut {
		if size := recordBatchBytes(m); size > limit {
			t.Errorf("a cut letter takes %d bytes, over the topic's %d", size, limit)
		}
	}
	figures{events: run.events, delivered: run.delivered, deadLetter: run.letters.records, start: run.start,
		extra: fmt.Sprintf("record_bytes=%d dlq_max_message_bytes=%d cut_letters=%d largest_cut_letter_bytes=%d joined_to_first_cut_letter=%s failed_to_cut_letter=%s receipts_done=%s all_committed=%s",
			100<<10, limit, len(run.letters.cut), letterBytes(run.letters.cut), run.toDLQ.Round(time.Millisecond), run.failedToDLQ.Round(time.Millisecond),
			run.receipts.Round(100*time.Millisecond), run.caughtUp.Round(100*time.Millisecond))}.log(t)
}

// letterBytes returns the largest record batch size among msgs.
func letterBytes(msgs []kafka.Message) int {
	n := 0
	for _, m := range msgs {
		n = max(n, recordBatchBytes(m))
	}
	return n
}

// recordBatchBytes is the size of a record batch holding m alone, as the
// broker counts it against max.message.bytes.
func recordBatchBytes(m kafka.Message) int {
	varint := func(n int) int {
		z := uint64(n<<1) ^ uint64(n>>63)
		l := 1
		for ; z >= 0x80; z >>= 7 {
			l++
		}
		return l
	}
	keyLen := len(m.Key)
	if m.Key == nil {
		keyLen = -1
	}
	body := 3 + varint(keyLen) + len(m.Key) + varint(len(m.Value)) + len(m.Value) + varint(len(m.Headers))
	for _, h := range m.Headers {
		body += varint(len(h.Key)) + len(h.Key) + varint(len(h.Value)) + len(h.Value)
	}
	return 61 + varint(body) + body
}

// largestAccepted writes letter, grown a byte at a time past its size, to a
// fresh topic with the broker's default limit, and returns the size
// (recordBatchBytes) of the largest one the broker took.
func largestAccepted(t *testing.T, b *broker, letter kafka.Message) int {
	t.Helper()
	n := b.newTopics(t)
	// BatchBytes leaves the sizes to the broker; its too-large refusal is
	// never retried, a transient error is.
	w := &kafka.Writer{Addr: kafka.TCP(suite.brokers...), Topic: n.DLQ, RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond, BatchBytes: 4 << 20, Transport: b.transport,
		Balancer: kafka.BalancerFunc(func(_ kafka.Message, partitions ...int) int { return partitions[0] })}
	defer w.Close()
	grown := func(extra int) kafka.Message {
		m := kafka.Message{Key: letter.Key, Headers: letter.Headers}
		m.Value = append(bytes.Clone(letter.Value), bytes.Repeat([]byte("x"), extra)...)
		return m
	}
	lo, hi := 0, 64 // lo is taken; hi is not, checked below
	for _, extra := range []int{lo, hi} {
		ctx, cancel := context.WithTimeout(context.Background(), kafkaTimeout)
		err := w.WriteMessages(ctx, grown(extra))
		cancel()
		if (extra == lo) != (err == nil) || (err != nil && !errors.Is(writeErr(err), kafka.MessageSizeTooLarge)) {
			t.Fatalf("letter grown by %d bytes (%d by the test's count): %v", extra, recordBatchBytes(grown(extra)), err)
		}
	}
	for lo+1 < hi {
		mid := (lo + hi) / 2
		ctx, cancel := context.WithTimeout(context.Background(), kafkaTimeout)
		err := w.WriteMessages(ctx, grown(mid))
		cancel()
		switch {
		case err == nil:
			lo = mid
		case errors.Is(writeErr(err), kafka.MessageSizeTooLarge):
			hi = mid
		default:
			t.Fatalf("letter grown by %d bytes: %v", mid, err)
		}
	}
	return recordBatchBytes(grown(lo))
}

// writeErr returns the first error of kafka-go's per-record WriteErrors.
func writeErr(err error) error {
	var we kafka.WriteErrors
	if errors.As(err, &we) {
		for _, e := range we {
			if e != nil {
				return e
			}
		}
	}
	return err
}
