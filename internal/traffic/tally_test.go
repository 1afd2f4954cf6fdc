package traffic_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/receiptd/receiptd/internal/traffic"
)

func event(typ, user, conv string, seqs ...uint64) traffic.Record {
	e := traffic.Event{Type: typ, UserID: user, Seqs: seqs}
	if typ == traffic.TypeGroupRead || typ == traffic.TypeGroupDelivered {
		e.GroupID = conv
	} else {
		e.ConvID = conv
	}
	return traffic.Record{Event: e}
}

func TestTallyHandBuiltStream(t *testing.T) {
	cfg := traffic.Config{FailingGroups: []string{"gone"}, FailingUsers: []string{"mallory"}}
	tally := traffic.NewTally(cfg)
	for _, r := range []traffic.Record{
		event(traffic.TypeGroupRead, "alice", "team", 1, 2, 3),
		event(traffic.TypeGroupRead, "alice", "team", 1, 2, 3), // client retry
		event(traffic.TypeGroupRead, "alice", "team", 5, 3, 4), // overlaps, out of order
		event(traffic.TypeGroupDelivered, "alice", "team", 1),  // another action: another key
		event(traffic.TypeC2CRead, "alice", "bob", 9),
		event(traffic.TypeC2CDelivered, "bob", "alice", 9),
		{Malformed: true, Flaw: traffic.FlawSeqZero},
		{Malformed: true, Flaw: traffic.FlawNotJSON},
		event(traffic.TypeGroupRead, "alice", "gone", 1, 2),  // failing group
		event(traffic.TypeGroupRead, "alice", "gone", 1, 2),  // its retry
		event(traffic.TypeC2CRead, "alice", "mallory", 4),    // failing peer
		event(traffic.TypeGroupRead, "mallory", "team", 7),   // failing reader
		event(traffic.TypeC2CDelivered, "alice", "gone", 3),  // "gone" is only a failing group
		event(traffic.TypeGroupDelivered, "alice", "bob", 8), // "bob" is not a group, but not failing either
	} {
		tally.Add(r)
	}

	for _, tc := range []struct {
		name      string
		got, want int
	}{
		{"Records", tally.Records(), 14},
		{"Malformed", tally.Malformed(), 2},
		{"Rejected", tally.Rejected(), 4},
		// team 1..5 for GroupRead, then one seq for each other key.
		{"Receipts", tally.Receipts(), 5 + 1 + 1 + 1 + 1 + 1},
		{"IdealCalls(10)", tally.IdealCalls(10), 6},
		{"IdealCalls(2)", tally.IdealCalls(2), 3 + 5},
		{"IdealCalls(1)", tally.IdealCalls(1), 10},
		{"IdealCalls(0) counts as 1", tally.IdealCalls(0), 10},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %d, want %d", tc.name, tc.got, tc.want)
		}
	}

	want := []traffic.Receipt{
		{"GroupReadReceipt", "alice", "team", 1},
		{"GroupReadReceipt", "alice", "team", 2},
		{"GroupReadReceipt", "alice", "team", 3},
		{"GroupReadReceipt", "alice", "team", 4},
		{"GroupReadReceipt", "alice", "team", 5},
		{"C2cReadReceipt", "alice", "bob", 9},
		{"GroupDeliveryReceipt", "alice", "bob", 8},
		{"GroupDeliveryReceipt", "alice", "team", 1},
		{"C2cDeliveryReceipt", "alice", "gone", 3},
		{"C2cDeliveryReceipt", "bob", "alice", 9},
	}
	if got := slices.Collect(tally.Expected()); !reflect.DeepEqual(got, want) {
		t.Errorf("Expected:\n got %v\nwant %v", got, want)
	}

	// Stopping early is honoured.
	n := 0
	for range tally.Expected() {
		n++
		if n == 3 {
			break
		}
	}
	if n != 3 {
		t.Errorf("iteration went on to %d after break", n)
	}
}

func TestZeroTally(t *testing.T) {
	var tally traffic.Tally
	if got := slices.Collect(tally.Expected()); len(got) != 0 {
		t.Errorf("empty Tally expects %v", got)
	}
	tally.Add(event(traffic.TypeGroupRead, "alice", "team", 1))
	tally.Add(traffic.Record{}) // no type: counts as malformed
	if tally.Receipts() != 1 || tally.Malformed() != 1 || tally.Rejected() != 0 || tally.Records() != 2 {
		t.Errorf("Receipts %d, Malformed %d, Rejected %d, Records %d; want 1, 1, 0, 2",
			tally.Receipts(), tally.Malformed(), tally.Rejected(), tally.Records())
	}
}

// Over generated traffic the Tally agrees with the records: its malformed
// and rejected counts match the records' own flags and failing ids, and it
// expects each distinct receipt of the other records exactly once.
func TestTallyOfGeneratedTraffic(t *testing.T) {
	cfg := traffic.DefaultConfig()
	cfg.DuplicateFraction, cfg.MalformedFraction, cfg.FailingFraction = 0.05, 0.01, 0.01
	recs := generate(t, cfg, 50000)
	tally := traffic.NewTally(cfg)
	var malformed, rejected int
	seqs := 0
	want := make(map[traffic.Receipt]bool)
	for _, r := range recs {
		tally.Add(r)
		switch {
		case r.Malformed:
			malformed++
		case failingRecord(cfg, r):
			rejected++
		default:
			seqs += len(r.Event.Seqs)
			for _, s := range r.Event.Seqs {
				want[traffic.Receipt{Action: r.Event.Action(), UserID: r.Event.UserID, ConvID: r.Event.Conv(), Seq: s}] = true
			}
		}
	}
	if tally.Malformed() != malformed || tally.Rejected() != rejected || tally.Records() != len(recs) {
		t.Errorf("Malformed %d, Rejected %d, Records %d; want %d, %d, %d",
			tally.Malformed(), tally.Rejected(), tally.Records(), malformed, rejected, len(recs))
	}
	got := 0
	for rc := range tally.Expected() {
		if !want[rc] {
			t.Fatalf("Expected yields %+v, which no valid record carries, or twice", rc)
		}
		delete(want, rc)
		got++
	}
	if len(want) != 0 || tally.Receipts() != got {
		t.Errorf("%d receipts never yielded; Receipts() = %d, yielded %d", len(want), tally.Receipts(), got)
	}
	// Retries repeat seqs, so fewer distinct receipts than seqs sent.
	if got >= seqs {
		t.Errorf("%d distinct receipts from %d seqs sent; want fewer: retries repeat seqs", got, seqs)
	}
	if calls := tally.IdealCalls(10); calls <= 0 || calls >= got {
		t.Errorf("IdealCalls(10) = %d for %d receipts; want between 1 and the receipts", calls, got)
	}
}
