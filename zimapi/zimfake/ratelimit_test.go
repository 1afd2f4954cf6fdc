package zimfake_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/receiptd/receiptd/zimapi/zimfake"
)

// step sends n requests of action at t0+at, each expecting want; do, when
// set, runs first.
type step struct {
	at     time.Duration
	action string
	n      int
	want   int64
	do     func(*zimfake.Server)
}

const (
	ok      = zimfake.CodeSuccess
	limited = zimfake.CodeRateLimited
	group   = "GroupReadReceipt"
	c2c     = "C2cReadReceipt"
	gDeliv  = "GroupDeliveryReceipt"
)

// every returns n steps of one request each, spaced by gap from start.
func every(start, gap time.Duration, n int, action string, want int64) []step {
	s := make([]step, n)
	for i := range s {
		s[i] = step{at: start + time.Duration(i)*gap, action: action, n: 1, want: want}
	}
	return s
}

func concat(parts ...[]step) []step {
	var out []step
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestRateLimit(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*zimfake.Config)
		steps  []step
	}{
		{
			name: "21st request within a second rejected",
			steps: []step{
				{at: 0, action: group, n: 20, want: ok},
				{at: 0, action: group, n: 1, want: limited},
				{at: 999 * time.Millisecond, action: group, n: 1, want: limited},
				// t0 leaves the window; only the rejected request at 999ms remains.
				{at: time.Second, action: group, n: 19, want: ok},
				{at: time.Second, action: group, n: 1, want: limited},
			},
		},
		{
			name: "sliding, not fixed, window",
			steps: concat(
				[]step{{at: 900 * time.Millisecond, action: group, n: 20, want: ok}},
				// A fixed window would reset at 1s; a sliding one holds
				// until 1.9s, when the requests of 0.9s leave the
				// half-open window (t-1s, t].
				[]step{{at: 1500 * time.Millisecond, action: group, n: 1, want: limited}},
				[]step{{at: 1900*time.Millisecond - 1, action: group, n: 1, want: limited}},
				[]step{{at: 1900 * time.Millisecond, action: group, n: 18, want: ok}},
			),
		},
		{
			name:   "rejected requests count toward the window",
			modify: func(c *zimfake.Config) { c.CountRejected = true },
			steps: concat(
				every(0, 50*time.Millisecond, 20, group, ok), // 0 … 950ms
				[]step{{at: 999 * time.Millisecond, action: group, n: 1, want: limited}},
				// At 1s the request of t0 left, the rejected one of 999ms did not.
				[]step{{at: time.Second, action: group, n: 1, want: limited}},
			),
		},
		{
			name:   "rejected requests not counted",
			modify: func(c *zimfake.Config) { c.CountRejected = false },
			steps: concat(
				every(0, 50*time.Millisecond, 20, group, ok),
				[]step{{at: 999 * time.Millisecond, action: group, n: 1, want: limited}},
				[]step{{at: time.Second, action: group, n: 1, want: ok}},
				[]step{{at: time.Second, action: group, n: 1, want: limited}},
			),
		},
		{
			// A client pacing exactly one request per 50 ms stays within
			// 20 in every window (t-1s, t].
			name:  "steady stream at the limit",
			steps: every(0, 50*time.Millisecond, 200, group, ok),
		},
		{
			name: "one bucket per action",
			steps: []step{
				{at: 0, action: group, n: 20, want: ok},
				{at: 0, action: c2c, n: 20, want: ok},
				{at: 0, action: gDeliv, n: 20, want: ok},
				{at: 0, action: group, n: 1, want: limited},
				{at: 0, action: c2c, n: 1, want: limited},
			},
		},
		{
			name:   "shared bucket",
			modify: func(c *zimfake.Config) { c.SharedBucket = true },
			steps: []step{
				{at: 0, action: group, n: 10, want: ok},
				{at: 0, action: c2c, n: 10, want: ok},
				{at: 0, action: gDeliv, n: 1, want: limited},
			},
		},
		{
			name:   "configured limit",
			modify: func(c *zimfake.Config) { c.RPS = 5 },
			steps: []step{
				{at: 0, action: group, n: 5, want: ok},
				{at: 0, action: group, n: 1, want: limited},
			},
		},
		{
			name:   "unlimited",
			modify: func(c *zimfake.Config) { c.RPS = 0 },
			steps:  []step{{at: 0, action: group, n: 200, want: ok}},
		},
		{
			name:   "below one per second",
			modify: func(c *zimfake.Config) { c.RPS, c.CountRejected = 0.5, false },
			steps: []step{
				{at: 0, action: group, n: 1, want: ok},
				{at: 1999 * time.Millisecond, action: group, n: 1, want: limited},
				{at: 2 * time.Second, action: group, n: 1, want: ok},
			},
		},
		{
			name: "SetRPS takes effect at once",
			steps: []step{
				{at: 0, action: group, n: 20, want: ok},
				{at: 0, action: group, n: 10, want: ok, do: func(s *zimfake.Server) { s.SetRPS(30) }},
				{at: 0, action: group, n: 1, want: limited},
				{at: 0, action: group, n: 5, want: ok, do: func(s *zimfake.Server) { s.SetRPS(0) }},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := start(t, tt.modify)
			t0 := f.clock.Now()
			wantLimited := int64(0)
			for i, s := range tt.steps {
				if s.do != nil {
					s.do(f.fake)
				}
				f.clock.Set(t0.Add(s.at))
				for j := range s.n {
					a := f.do(t, call{query: signed(s.action, f.clock.Now()), body: bodyFor(s.action)})
					if a.Code != s.want {
						t.Fatalf("step %d (%s at +%s) request %d: Code %d, want %d", i, s.action, s.at, j+1, a.Code, s.want)
					}
				}
				if s.want == limited {
					wantLimited += int64(s.n)
				}
			}
			if got := f.fake.Stats().RateLimited; got != wantLimited {
				t.Errorf("Stats().RateLimited = %d, want %d", got, wantLimited)
			}
		})
	}
}

func bodyFor(action string) string {
	if action == c2c {
		return c2cBody("alice", "bob", 1)
	}
	return groupBody("alice", "team", 1)
}

func TestPeakPerSecond(t *testing.T) {
	f := start(t, nil) // 20/s, rejected requests counted
	t0 := f.clock.Now()
	send := func(at time.Duration, action string, n int) {
		f.clock.Set(t0.Add(at))
		for range n {
			f.do(t, call{query: signed(action, f.clock.Now()), body: bodyFor(action)})
		}
	}
	send(0, group, 15)
	send(500*time.Millisecond, group, 10) // 5 accepted, 5 rejected
	send(1600*time.Millisecond, group, 10)
	send(0, c2c, 3)
	st := f.fake.Stats()
	want := map[string]int64{group: 25, c2c: 3}
	if !mapsEqual(st.PeakPerSecond, want) {
		t.Errorf("PeakPerSecond = %v, want %v", st.PeakPerSecond, want)
	}
	if st.RateLimited != 5 {
		t.Errorf("RateLimited = %d, want 5", st.RateLimited)
	}
}

func TestPeakPerSecondLabels(t *testing.T) {
	f := start(t, func(c *zimfake.Config) {
		c.SharedBucket = true
		c.Apps = map[uint32]string{appID + 1: "other"}
	})
	f.do(t, f.groupCall(1))
	if got, want := fmt.Sprint(f.fake.Stats().PeakPerSecond), "map[shared:1]"; got != want {
		t.Errorf("PeakPerSecond = %s, want %s", got, want)
	}
}
