package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/receiptd/receiptd/deadletter"
	"github.com/receiptd/receiptd/internal/traffic"
	"github.com/receiptd/receiptd/worker"
	"github.com/receiptd/receiptd/zimapi/zimfake"
)

// workload is a scenario's traffic and what it must produce: the receipts
// that must reach ZIM and the records that must be dead-lettered.
type workload struct {
	cfg     traffic.Config
	records []traffic.Record
	tally   *traffic.Tally
	// byValue tells, for every record value produced, its event and its
	// fate. Client retries repeat a value byte for byte and share its fate.
	byValue map[string]recordFate
}

// recordFate is what must become of a record.
type recordFate struct {
	event traffic.Event
	// class is "" when the record's receipts must reach ZIM, else the
	// class of its dead letter.
	class worker.FailureClass
}

// realisticTraffic is the generator's default mix (one-to-one chats,
// delivery receipts, client retries, malformed records, failing ids).
func realisticTraffic(seed uint64) traffic.Config {
	cfg := traffic.DefaultConfig()
	cfg.Seed = int64(seed)
	return cfg
}

// cleanTraffic is the default mix without malformed records and failing
// ids: nothing in it may be dead-lettered.
func cleanTraffic(seed uint64) traffic.Config {
	cfg := realisticTraffic(seed)
	cfg.MalformedFraction, cfg.FailingFraction = 0, 0
	return cfg
}

// newWorkload generates n records of cfg.
func newWorkload(t *testing.T, cfg traffic.Config, n int) *workload {
	t.Helper()
	g, err := traffic.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w := &workload{cfg: cfg, tally: traffic.NewTally(cfg), records: make([]traffic.Record, 0, n), byValue: make(map[string]recordFate, n)}
	now := time.Now()
	for i := range n {
		w.add(g.Next(now.Add(time.Duration(i) * time.Millisecond)))
	}
	return w
}

// add appends r to the workload.
func (w *workload) add(r traffic.Record) {
	malformed, rejected := w.tally.Malformed(), w.tally.Rejected()
	// The tally decides each record's fate, so that these tests and the
	// tally's own tests agree on what ZIM rejects.
	w.tally.Add(r)
	f := recordFate{event: r.Event}
	switch {
	case w.tally.Malformed() > malformed:
		f.class = worker.FailInvalidEvent
	case w.tally.Rejected() > rejected:
		f.class = worker.FailRejected
	}
	w.records = append(w.records, r)
	w.byValue[string(r.Value)] = f
}

// wantDeadLetters returns how many records must be dead-lettered.
func (w *workload) wantDeadLetters() int { return w.tally.Malformed() + w.tally.Rejected() }

// delivery is what zimfake holds compared with what the traffic must produce.
type delivery struct {
	distinct   int   // distinct receipts accepted
	duplicates int64 // acceptances beyond the first of a receipt
	// repeated holds the receipts accepted more than once, with how often.
	repeated map[traffic.Receipt]int64
}

// checkReceipts fails t unless the distinct receipts zimfake accepted are
// exactly the ones the traffic must produce: none missing, none extra.
func checkReceipts(t *testing.T, z *zimFake, w *workload) delivery {
	t.Helper()
	want := make(map[traffic.Receipt]bool, w.tally.Receipts())
	for r := range w.tally.Expected() {
		want[r] = false
	}
	d := delivery{repeated: make(map[traffic.Receipt]int64)}
	var extra []traffic.Receipt
	for _, r := range z.receipts(t) {
		k := traffic.Receipt{Action: r.Action, UserID: r.UserID, ConvID: r.ConvID, Seq: r.Seq}
		seen, ok := want[k]
		switch {
		case !ok:
			extra = append(extra, k)
		case seen:
			t.Errorf("zimfake lists receipt %+v twice", k)
		default:
			want[k] = true
		}
		d.distinct++
		d.duplicates += r.Count - 1
		if r.Count > 1 {
			d.repeated[k] = r.Count
		}
	}
	var missing []traffic.Receipt
	for r, seen := range want {
		if !seen {
			missing = append(missing, r)
		}
	}
	if len(missing) > 0 || len(extra) > 0 {
		t.Errorf("receipts at zimfake differ from the traffic's: %d of %d missing (lost), %d not expected\n  missing: %s\n  not expected: %s",
			len(missing), len(want), len(extra), sample(missing), sample(extra))
	}
	return d
}

// sample formats the first few receipts of rs.
func sample(rs []traffic.Receipt) string {
	if len(rs) == 0 {
		return "none"
	}
	slices.SortFunc(rs, func(a, b traffic.Receipt) int {
		return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
	})
	const n = 5
	var parts []string
	for _, r := range rs[:min(n, len(rs))] {
		parts = append(parts, fmt.Sprintf("%s(%s,%s,%d)", r.Action, r.UserID, r.ConvID, r.Seq))
	}
	if len(rs) > n {
		parts = append(parts, fmt.Sprintf("... %d more", len(rs)-n))
	}
	return strings.Join(parts, " ")
}

// receiptsOf returns the receipts ev sets.
func receiptsOf(ev traffic.Event) []traffic.Receipt {
	out := make([]traffic.Receipt, len(ev.Seqs))
	for i, seq := range ev.Seqs {
		out[i] = traffic.Receipt{Action: ev.Action(), UserID: ev.UserID, ConvID: ev.Conv(), Seq: seq}
	}
	return out
}

// checkDuplicates fails t for every receipt that zimfake accepted more often
// than worker runs consumed records carrying it (invariant 6: duplicates
// come only from the uncommitted window). runStarts holds, for each worker
// run on the group, the committed offsets it started from (-1: nothing
// committed yet); a run consumes every record at or above them once and
// sends each receipt at most once per record it consumed. Only the
// traffic's own client retries make two records carry one receipt.
func checkDuplicates(t *testing.T, d delivery, w *workload, src [][]kafka.Message, runStarts [][]int64) {
	t.Helper()
	allowed := make(map[traffic.Receipt]int64)
	for p, msgs := range src {
		for _, m := range msgs {
			f := w.byValue[string(m.Value)]
			if f.class != "" {
				continue
			}
			runs := int64(0)
			for _, start := range runStarts {
				if m.Offset >= start[p] {
					runs++
				}
			}
			for _, r := range receiptsOf(f.event) {
				allowed[r] += runs
			}
		}
	}
	var over []string
	for r, n := range d.repeated {
		if n > allowed[r] {
			over = append(over, fmt.Sprintf("%s(%s,%s,%d) %d times, at most %d", r.Action, r.UserID, r.ConvID, r.Seq, n, allowed[r]))
		}
	}
	if len(over) > 0 {
		slices.Sort(over)
		t.Errorf("%d receipts reached zimfake more often than workers consumed their records (committed work sent again?), e.g. %s",
			len(over), strings.Join(over[:min(5, len(over))], "; "))
	}
}

// coord is a record's place in its topic.
type coord struct {
	partition int
	offset    int64
}

func (c coord) String() string { return fmt.Sprintf("%d@%d", c.partition, c.offset) }

// deadLetters is what the dead-letter topic holds compared with what the
// traffic must put there.
type deadLetters struct {
	records    int // records in the dead-letter topic
	duplicates int // records beyond the first for one source record
	// cut holds the letters cut to fit the dead-letter topic.
	cut []kafka.Message
}

// checkDeadLetters fails t unless the dead-letter topic holds every record
// of the source topic (src, as readAll returns it) that must be
// dead-lettered, and nothing else, each with its source coordinates, the
// source record's key and value, and the class and code of its failure.
// exact also fails t on duplicates (two dead letters for one source
// record), which only a crash can excuse.
func checkDeadLetters(t *testing.T, b *broker, n names, w *workload, src [][]kafka.Message, exact bool) deadLetters {
	t.Helper()
	want := make(map[coord]kafka.Message)
	source := make(map[coord]kafka.Message)
	for _, msgs := range src {
		for _, m := range msgs {
			c := coord{m.Partition, m.Offset}
			source[c] = m
			f, ok := w.byValue[string(m.Value)]
			if !ok {
				t.Fatalf("source record %s holds a value the test did not produce: %q", c, m.Value)
			}
			if f.class != "" {
				want[c] = m
			}
		}
	}
	if len(want) != w.wantDeadLetters() {
		t.Fatalf("the source topic holds %d records to dead-letter, the traffic made %d", len(want), w.wantDeadLetters())
	}

	var problems []string
	problem := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	seen := make(map[coord]int)
	var got deadLetters
	for _, msgs := range b.readAll(t, n.DLQ, dlqPartitions) {
		for _, m := range msgs {
			got.records++
			at := coord{m.Partition, m.Offset}
			info, err := deadletter.Parse(m)
			if err != nil {
				problem("dead letter %s: %v", at, err)
				continue
			}
			c := coord{info.SourcePartition, info.SourceOffset}
			src, ok := source[c]
			switch {
			case info.SourceTopic != n.Source:
				problem("dead letter %s: source topic %q, want %q", at, info.SourceTopic, n.Source)
				continue
			case !ok:
				problem("dead letter %s: source %s is not a record of %s", at, c, n.Source)
				continue
			case info.Truncated != nil:
				if p := checkCut(m, info, src); p != "" {
					problem("dead letter %s of source %s, cut: %s", at, c, p)
					continue
				}
				got.cut = append(got.cut, m)
			case !bytes.Equal(m.Value, src.Value) || !bytes.Equal(m.Key, src.Key):
				problem("dead letter %s: key/value %q/%s differ from source %s's %q/%s", at, m.Key, short(m.Value), c, src.Key, short(src.Value))
				continue
			}
			seen[c]++
			f := w.byValue[string(src.Value)]
			if _, ok := want[c]; !ok {
				problem("dead letter %s: source %s (%s) must not be dead-lettered; class %s, code %d: %s",
					at, c, short(src.Value), info.Class, info.Code, info.Message)
				continue
			}
			for _, p := range checkFailure(info, f) {
				problem("dead letter %s of source %s (%s): %s", at, c, short(src.Value), p)
			}
		}
	}
	for c, m := range want {
		switch k := seen[c]; {
		case k == 0:
			problem("source %s (%s, %s) is not in the dead-letter topic", c, w.byValue[string(m.Value)].class, short(m.Value))
		case k > 1:
			got.duplicates += k - 1
			if exact {
				problem("source %s is in the dead-letter topic %d times", c, k)
			}
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		const show = 10
		t.Errorf("dead-letter topic %s: %d problem(s):\n  %s", n.DLQ, len(problems), strings.Join(problems[:min(show, len(problems))], "\n  "))
	}
	return got
}

// checkCut returns what is wrong with m, a letter cut to fit the dead-letter
// topic, for the source record src, or "": its headers must describe src's
// value, what is left of the value must be the start of it, and the key may
// be gone only if the headers say so.
func checkCut(m kafka.Message, info deadletter.Info, src kafka.Message) string {
	sum := sha256.Sum256(src.Value)
	switch {
	case info.OriginalValueSize != int64(len(src.Value)):
		return fmt.Sprintf("original value size %d, the source's is %d", info.OriginalValueSize, len(src.Value))
	case info.OriginalValueSHA256 != hex.EncodeToString(sum[:]):
		return fmt.Sprintf("original value SHA-256 %s, the source's is %x", info.OriginalValueSHA256, sum)
	case !bytes.HasPrefix(src.Value, m.Value) || len(m.Value) == len(src.Value):
		return fmt.Sprintf("value of %d bytes is not a cut of the source's %d", len(m.Value), len(src.Value))
	case !bytes.Equal(m.Key, src.Key) && !slices.Contains(info.Truncated, "key"):
		return fmt.Sprintf("key %q differs from the source's %q, and the headers do not say it was cut", m.Key, src.Key)
	}
	return ""
}

// short quotes at most the first 200 bytes of a record value.
func short(v []byte) string {
	if len(v) <= 200 {
		return fmt.Sprintf("%q", v)
	}
	return fmt.Sprintf("%q... (%d bytes)", v[:200], len(v))
}

// checkFailure compares a dead letter's headers with the record's fate.
func checkFailure(info deadletter.Info, f recordFate) []string {
	var out []string
	if info.Class != f.class {
		out = append(out, fmt.Sprintf("class %q, want %q", info.Class, f.class))
	}
	if info.FailedAt.IsZero() || info.Message == "" {
		out = append(out, "no failure time or message")
	}
	if f.class != worker.FailRejected {
		if info.Code != 0 {
			out = append(out, fmt.Sprintf("code %d, want 0 for an invalid event", info.Code))
		}
		return out
	}
	wantCode := zimfake.CodeGroupReceiptFailed
	if f.event.GroupID == "" {
		wantCode = zimfake.CodeC2cReceiptFailed
	}
	if info.Code != wantCode {
		out = append(out, fmt.Sprintf("code %d, want %d", info.Code, wantCode))
	}
	if info.Action != f.event.Action() {
		out = append(out, fmt.Sprintf("action %q, want %q", info.Action, f.event.Action()))
	}
	if info.RequestID == "" || info.Attempts < 1 {
		out = append(out, fmt.Sprintf("request id %q, attempts %d: want the failed call's", info.RequestID, info.Attempts))
	}
	if len(info.FailedSeqs) == 0 {
		out = append(out, "no failed seqs")
	}
	for _, s := range info.FailedSeqs {
		if !slices.Contains(f.event.Seqs, s) {
			out = append(out, fmt.Sprintf("failed seq %d is not one of the record's %v", s, f.event.Seqs))
		}
	}
	return out
}

// figures is the one-line account every scenario logs.
type figures struct {
	events     int
	delivered  int
	duplicates int64
	deadLetter int
	start      time.Time
	extra      string
}

func (f figures) log(t *testing.T) {
	t.Helper()
	t.Logf("FIGURES %s: events=%d receipts_delivered=%d duplicates=%d dlq_records=%d wall=%s kafka=%s %s",
		t.Name(), f.events, f.delivered, f.duplicates, f.deadLetter, time.Since(f.start).Round(100*time.Millisecond), suite.kafkaVersion, f.extra)
}
