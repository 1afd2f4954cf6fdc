package traffic_test

import (
	"iter"
	"testing"
	"time"

	"github.com/receiptd/receiptd/internal/traffic"
)

// epoch is the read_at of generated streams: 2025-11-26T09:40:00.123Z.
var epoch = time.UnixMilli(1764150000123)

// generate returns n records of a generator for cfg, one millisecond apart.
func generate(t testing.TB, cfg traffic.Config, n int) []traffic.Record {
	t.Helper()
	g, err := traffic.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	recs := make([]traffic.Record, n)
	for i := range recs {
		recs[i] = g.Next(epoch.Add(time.Duration(i) * time.Millisecond))
	}
	return recs
}

// convKey names one (type, reader, conversation).
type convKey struct{ typ, user, conv string }

func keyOf(e traffic.Event) convKey { return convKey{e.Type, e.UserID, e.Conv()} }

// wellFormed yields the records that are not malformed, with their index
// in recs.
func wellFormed(recs []traffic.Record) iter.Seq2[int, traffic.Record] {
	return func(yield func(int, traffic.Record) bool) {
		for i, r := range recs {
			if !r.Malformed && !yield(i, r) {
				return
			}
		}
	}
}

// repeats reports, for each record, whether a valid record with the same
// value came before it: a client retry.
func repeats(recs []traffic.Record) []bool {
	seen := make(map[string]bool, len(recs))
	out := make([]bool, len(recs))
	for i, r := range wellFormed(recs) {
		out[i] = seen[string(r.Value)]
		seen[string(r.Value)] = true
	}
	return out
}

// failingRecord reports whether r names one of cfg's failing ids.
func failingRecord(cfg traffic.Config, r traffic.Record) bool {
	for _, id := range cfg.FailingGroups {
		if r.Event.GroupID == id {
			return true
		}
	}
	for _, id := range cfg.FailingUsers {
		if r.Event.UserID == id || r.Event.ConvID == id {
			return true
		}
	}
	return false
}
