package traffic_test

import (
	"testing"

	"github.com/receiptd/receiptd/consumer"
	"github.com/receiptd/receiptd/internal/traffic"
)

// Every flaw appears, about equally often, and receiptd's own decoder
// rejects every malformed record and accepts every valid one as the event
// the generator says it is.
func TestRecordsAgreeWithTheDecoder(t *testing.T) {
	const n = 100000
	cfg := traffic.DefaultConfig()
	cfg.MalformedFraction = 0.2
	recs := generate(t, cfg, n)

	flaws := make(map[traffic.Flaw]int)
	reasons := make(map[traffic.Flaw]map[string]bool)
	var malformed int
	for i, r := range recs {
		ev, err := consumer.DecodeEvent(r.Value, consumer.Limits{})
		if r.Malformed {
			malformed++
			flaws[r.Flaw]++
			if err == nil {
				t.Fatalf("record %d (%v) %q: the decoder accepts it", i, r.Flaw, r.Value)
			}
			if reasons[r.Flaw] == nil {
				reasons[r.Flaw] = make(map[string]bool)
			}
			reasons[r.Flaw][err.Error()] = true
			continue
		}
		if err != nil {
			t.Fatalf("record %d %s: the decoder rejects it: %v", i, r.Value, err)
		}
		e := r.Event
		if ev.Key.Action.String() != e.Action() || ev.Key.UserID != e.UserID || ev.Key.ConvID != e.Conv() ||
			!ev.ReadAt.Equal(e.ReadAt) || len(ev.Seqs) != len(e.Seqs) {
			t.Fatalf("record %d %s: decoder sees %+v, generator says %+v", i, r.Value, ev, e)
		}
		for j := range ev.Seqs {
			if ev.Seqs[j] != e.Seqs[j] {
				t.Fatalf("record %d %s: decoder sees seqs %v, generator says %v", i, r.Value, ev.Seqs, e.Seqs)
			}
		}
	}

	all := traffic.Flaws()
	mean := float64(malformed) / float64(len(all))
	for _, f := range all {
		if got := float64(flaws[f]); got < 0.8*mean || got > 1.2*mean {
			t.Errorf("flaw %v: %d records, want about %.0f", f, flaws[f], mean)
		}
		// Each flaw comes in several shapes, as broken producers vary.
		if f != traffic.FlawSeqEmpty && len(reasons[f]) < 2 {
			t.Errorf("flaw %v: one shape only, rejected as %v", f, reasons[f])
		}
	}
	if len(flaws) != len(all) {
		t.Errorf("flaws seen %v, want exactly %v", flaws, all)
	}
}

func TestFlawString(t *testing.T) {
	for _, tc := range []struct {
		give traffic.Flaw
		want string
	}{
		{traffic.FlawNone, "none"},
		{traffic.FlawNotJSON, "not_json"},
		{traffic.FlawSeqString, "seq_string"},
		{traffic.FlawIDTooLong, "id_too_long"},
		{traffic.Flaw(200), "flaw(200)"},
	} {
		if got := tc.give.String(); got != tc.want {
			t.Errorf("Flaw(%d).String() = %q, want %q", tc.give, got, tc.want)
		}
	}
}
