package retry_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.uber.org/goleak"

	"github.com/receiptd/receiptd/receipt"
	"github.com/receiptd/receiptd/retry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var actions = []receipt.Action{receipt.GroupRead, receipt.C2CRead}

func newBudget(t *testing.T, cfg retry.BudgetConfig) *retry.Budget {
	t.Helper()
	if cfg.Actions == nil {
		cfg.Actions = actions
	}
	b, err := retry.NewBudget(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// drive takes grants for action a until d of (fake) time has passed and
// returns their times.
func drive(t *testing.T, b *retry.Budget, a receipt.Action, d time.Duration) []time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	var out []time.Time
	for {
		g, err := b.Wait(ctx, a)
		if err != nil {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Wait: %v", err)
			}
			return out
		}
		out = append(out, g.At)
	}
}

// maxInWindow returns the largest number of times within any window of w
// (half-open [t, t+w)), the way a sliding-window server counts.
func maxInWindow(times []time.Time, w time.Duration) int {
	best, lo := 0, 0
	for hi := range times {
		for times[hi].Sub(times[lo]) >= w {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}

func TestBudgetNeverExceedsCeilingInAnySecond(t *testing.T) {
	tests := []struct {
		name       string
		rps        float64
		shared     bool // by partitions, owning them all
		wantPerSec int
	}{
		{"alone", 20, false, 20},
		{"owning every partition", 20, true, 20},
		{"fractional rps", 2.5, false, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newBudget(t, retry.BudgetConfig{RPS: tt.rps, Actions: actions, ShareByPartitions: tt.shared})
				b.SetShare([]int{0, 1, 2}, 3)
				got := drive(t, b, actions[0], 30*time.Second)
				if m := maxInWindow(got, time.Second); m > tt.wantPerSec {
					t.Errorf("%d grants within one second, want at most %d", m, tt.wantPerSec)
				}
				// Throughput must not fall below the ceiling by more than one
				// request per second (the window's rounding), nor, owning
				// partitions, by the wait for their first slots.
				if min := (tt.wantPerSec - 1) * 29; len(got) < min {
					t.Errorf("%d grants in 30s, want at least %d", len(got), min)
				}
			})
		})
	}
}

func sortTimes(ts []time.Time) {
	for i := 1; i < len(ts); i++ {
		for j := i; j > 0 && ts[j].Before(ts[j-1]); j-- {
			ts[j], ts[j-1] = ts[j-1], ts[j]
		}
	}
}

func TestBudgetRateLimitedHalvesPausesAndRecovers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBudget(t, retry.BudgetConfig{RPS: 20, Pause: retry.Policy{Initial: 2 * time.Second, Jitter: 0.01}})
		g, err := b.Wait(t.Context(), actions[0])
		if err != nil {
			t.Fatal(err)
		}
		// A second request was already in flight when the first answer came.
		inFlight, err := b.Wait(t.Context(), actions[1])
		if err != nil {
			t.Fatal(err)
		}
		pause := b.RateLimited(g)
		if pause < 1900*time.Millisecond || pause > 2100*time.Millisecond {
			t.Fatalf("pause = %v, want about 2s", pause)
		}
		if again := b.RateLimited(g); again != 0 {
			t.Errorf("a second answer for the same episode paused again for %v", again)
		}
		ceiling := b.Ceiling(actions[0])
		if got := b.Rate(actions[0]); got != ceiling/2 {
			t.Errorf("rate after a rate-limit answer = %v, want %v (halved)", got, ceiling/2)
		}
		if got := b.Rate(actions[1]); got != ceiling {
			t.Errorf("the other action's rate = %v, want %v (untouched)", got, ceiling)
		}
		_ = inFlight
		start := time.Now()
		next, err := b.Wait(t.Context(), actions[1])
		if err != nil {
			t.Fatal(err)
		}
		if waited := next.At.Sub(start); waited < pause {
			t.Errorf("every bucket must pause: the other action waited %v, want %v", waited, pause)
		}
		b.Succeeded(next)
		time.Sleep(10 * time.Second)
		if got := b.Rate(actions[0]); got != ceiling {
			t.Errorf("rate 10s after the episode = %v, want back at %v", got, ceiling)
		}
		if !b.PausedUntil().IsZero() {
			t.Errorf("still paused after a success")
		}
	})
}

func TestBudgetStaleAnswerDoesNotHalveAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBudget(t, retry.BudgetConfig{RPS: 20, Pause: retry.Policy{Initial: time.Second}})
		first, _ := b.Wait(t.Context(), actions[0])
		second, _ := b.Wait(t.Context(), actions[0])
		b.RateLimited(first)
		b.RateLimited(second) // sent before the decrease: same episode
		half := b.Ceiling(actions[0]) / 2
		if got := b.Rate(actions[0]); got != half {
			t.Errorf("rate = %v, want %v: answers to requests sent before a decrease must not halve again", got, half)
		}
		third, _ := b.Wait(t.Context(), actions[0])
		b.RateLimited(third)
		if got := b.Rate(actions[0]); got >= half {
			t.Errorf("rate = %v, want below %v after a fresh rate-limit answer", got, half)
		}
	})
}

func TestBudgetZeroShareBlocksUntilShareGrows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBudget(t, retry.BudgetConfig{RPS: 20, ShareByPartitions: true})
		b.SetShare(nil, 8)
		done := make(chan error, 1)
		go func() {
			_, err := b.Wait(t.Context(), actions[0])
			done <- err
		}()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("Wait returned %v with a zero share", err)
		default:
		}
		b.SetShare([]int{3, 6}, 8)
		if err := <-done; err != nil {
			t.Fatalf("Wait after share grew: %v", err)
		}
		if got := b.Share(actions[0]); got != 0.25 {
			t.Errorf("share = %v, want 0.25 (2 of 8 partitions)", got)
		}
		// 20 x 2/8, less the schedule's stretch.
		if got := b.Ceiling(actions[0]); got < 4.9 || got > 5 {
			t.Errorf("ceiling = %v, want just under 5 (20 x 2/8)", got)
		}
	})
}

func TestBudgetWaitEndsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBudget(t, retry.BudgetConfig{RPS: 1})
		if _, err := b.Wait(t.Context(), actions[0]); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		if _, err := b.Wait(ctx, actions[0]); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Wait = %v, want the context's deadline error", err)
		}
	})
}

func TestBudgetSharedBucketsCountTogether(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBudget(t, retry.BudgetConfig{RPS: 10, Shared: true})
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		var (
			mu  sync.Mutex
			all []time.Time
			wg  sync.WaitGroup
		)
		for _, a := range actions {
			wg.Go(func() {
				for {
					g, err := b.Wait(ctx, a)
					if err != nil {
						return
					}
					mu.Lock()
					all = append(all, g.At)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		sortTimes(all)
		if m := maxInWindow(all, time.Second); m > 10 {
			t.Errorf("two actions on one shared budget sent %d within a second, want at most 10", m)
		}
	})
}

func TestBudgetConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  retry.BudgetConfig
	}{
		{"zero rps", retry.BudgetConfig{Actions: actions}},
		{"negative rps", retry.BudgetConfig{RPS: -1, Actions: actions}},
		{"no actions", retry.BudgetConfig{RPS: 20}},
		{"no valid action", retry.BudgetConfig{RPS: 20, Actions: []receipt.Action{0, 200}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := retry.NewBudget(tt.cfg); err == nil {
				t.Error("NewBudget accepted an invalid config")
			}
		})
	}
	b := newBudget(t, retry.BudgetConfig{RPS: 20})
	for _, a := range []receipt.Action{receipt.GroupDelivered, 0, 200} {
		if _, err := b.Wait(t.Context(), a); !errors.Is(err, retry.ErrUnknownBucket) {
			t.Errorf("Wait on action %d, which the budget was not given = %v, want ErrUnknownBucket", a, err)
		}
	}
	if _, err := b.Wait(t.Context(), receipt.GroupDelivered); !errors.Is(err, retry.ErrUnknownBucket) {
		t.Errorf("Wait on an unknown bucket = %v, want ErrUnknownBucket", err)
	}
}

func TestPolicyGrowsToMaxAndNeverStops(t *testing.T) {
	p := retry.Policy{Initial: 100 * time.Millisecond, Max: time.Second, Jitter: 0.2}
	b := p.New()
	lastBase := 100 * time.Millisecond
	for i := range 50 {
		d := b.NextBackOff()
		if d == backoff.Stop {
			t.Fatalf("attempt %d: the policy gave up; it must retry until the caller stops", i)
		}
		base := min(lastBase, time.Second)
		if lo, hi := time.Duration(float64(base)*0.8), time.Duration(float64(base)*1.2)+1; d < lo || d > hi {
			t.Fatalf("attempt %d: delay %v outside [%v, %v]", i, d, lo, hi)
		}
		lastBase = min(2*lastBase, time.Second)
	}
	b.Reset()
	if d := b.NextBackOff(); d > 120*time.Millisecond {
		t.Errorf("after Reset the delay is %v, want the initial 100ms", d)
	}
}

func TestBudgetVeryHighRateStaysWithinIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBudget(t, retry.BudgetConfig{RPS: 1e6})
		got := drive(t, b, actions[0], 100*time.Millisecond)
		if m := maxInWindow(got, time.Second); m > 1e6 {
			t.Errorf("%d grants within one second at 1e6/s", m)
		}
		if len(got) < 90000 {
			t.Errorf("%d grants in 100ms at 1e6/s, want about 100000", len(got))
		}
	})
}

// At light load requests that become ready together leave together; the
// places they took in the window are given back a little after the
// window, so a request sent when they leave cannot meet them in the
// server's second even if the network delays them differently.
func TestBudgetBurstsAtLightLoadOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBudget(t, retry.BudgetConfig{RPS: 20})
		time.Sleep(time.Second)
		t0 := time.Now()
		var (
			mu  sync.Mutex
			all []time.Time
			wg  sync.WaitGroup
		)
		for range 8 {
			wg.Go(func() {
				g, err := b.Wait(t.Context(), actions[0])
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				all = append(all, g.At)
				mu.Unlock()
			})
		}
		wg.Wait()
		for i, at := range all {
			if !at.Equal(t0) {
				t.Fatalf("request %d of 8 ready together at light load waited %v", i, at.Sub(t0))
			}
		}
		// Then full demand: the rest of the window is paced, the burst's
		// places come back only after the window and its margin.
		all = append(all, drive(t, b, actions[0], 5*time.Second)...)
		sortTimes(all)
		if m := maxInWindow(all, time.Second); m > 20 {
			t.Errorf("%d grants within one second, want at most 20", m)
		}
		if m := maxInWindow(all[:countBefore(all, t0.Add(1050*time.Millisecond))], 1050*time.Millisecond); m > 20 {
			t.Errorf("%d grants within 1.05 s of the burst, want at most 20", m)
		}
		// The window is half full after ten grants: the next ones in the
		// same second follow the slots, one per 50ms, after the one that
		// completes the burst in the current slot.
		first := all[:countBefore(all, t0.Add(time.Second))]
		for i := 12; i < len(first); i++ {
			if d := first[i].Sub(first[i-1]); d < 50*time.Millisecond {
				t.Fatalf("grants %d and %d only %v apart in a half-full window, want 50ms", i-1, i, d)
			}
		}
	})
}

func countBefore(ts []time.Time, t time.Time) int {
	n := 0
	for _, x := range ts {
		if x.Before(t) {
			n++
		}
	}
	return n
}

// A pod alone that stalls (every request in flight waits for a slow answer)
// is back at its full rate as soon as the stall ends, and never exceeds the
// limit in a second.
func TestBudgetAloneRecoversFromAStall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBudget(t, retry.BudgetConfig{RPS: 20})
		all := drive(t, b, actions[0], 3*time.Second)
		time.Sleep(300 * time.Millisecond) // the stall
		after := drive(t, b, actions[0], 5*time.Second)
		all = append(all, after...)
		if m := maxInWindow(all, time.Second); m > 20 {
			t.Errorf("%d grants within one second, want at most 20", m)
		}
		// 20 a second, less the margin each grant keeps (10ms a second): 99.
		if want := 99; len(after) < want-1 {
			t.Errorf("%d grants in the 5s after a stall, want about %d", len(after), want)
		}
	})
}

// A pod alone whose burst at light load is written late (the process
// stalled, a new connection was slow) keeps those requests' places in its
// window until a window and the margin after their write, so that the
// requests that follow, in its slots, cannot reach the server within one
// second of them. Without Sent the places would come back a window after
// the grants, and 23 requests would be written within one second.
func TestBudgetSentHoldsALateBurstsPlaces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBudget(t, retry.BudgetConfig{RPS: 20})
		time.Sleep(3 * time.Second)
		const writeDelay = 600 * time.Millisecond
		var writes []time.Time
		for range 9 { // under half the window: they leave at once
			g, err := b.Wait(t.Context(), actions[0])
			if err != nil {
				t.Fatal(err)
			}
			b.Sent(g, g.At.Add(writeDelay))
			writes = append(writes, g.At.Add(writeDelay))
		}
		if d := writes[8].Sub(writes[0]); d != 0 {
			t.Fatalf("the burst's grants were %v apart, want together", d)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 4*time.Second)
		defer cancel()
		for {
			g, err := b.Wait(ctx, actions[0])
			if err != nil {
				break
			}
			b.Sent(g, g.At)
			writes = append(writes, g.At)
		}
		sortTimes(writes)
		if m := maxInWindow(writes, time.Second); m > 20 {
			t.Errorf("%d requests written within one second, want at most 20", m)
		}
		if len(writes) < 60 {
			t.Errorf("%d requests in 4s, want the limit used (about 80)", len(writes))
		}
	})
}
