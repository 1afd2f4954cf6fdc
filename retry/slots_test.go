package retry_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/receiptd/receiptd/retry"
)

// The conditions the tests put pods in: clocks up to 20ms either side of
// true time, so up to 40ms apart (some tests go much further); a request
// written up to 2ms after its grant (reported through Sent), then up to
// 10ms on the way to the server; in a pod's first second after more than a
// round without any calls (new connections, a busy process), written up to
// 35ms late and up to 25ms on the way.
const (
	maxSkew    = 20 * time.Millisecond
	writeDelay = 2 * time.Millisecond
	netJitter  = 10 * time.Millisecond
	coldWrite  = 35 * time.Millisecond
	coldNet    = 25 * time.Millisecond
)

// simPod is one simulated receiptd process in a group: its Budget, reading
// a clock that is skew off true time, and the randomness of its calls.
type simPod struct {
	name   string
	skew   time.Duration
	budget *retry.Budget
	rng    *rand.Rand
}

// group simulates receiptd pods of one consumer group calling one server,
// all in synctest's fake time: each pod asks for grants as fast as its
// Budget gives them, sometimes coming back late as a busy dispatcher
// would, and each call reaches the server after a network delay of up to
// netJitter. arrivals are the times the server sees, in true time.
type group struct {
	t    *testing.T
	rps  float64
	pods []*simPod
	// erratic names a pod that comes back for its next grant at random
	// times, so that its grants fall anywhere in its slots' openings.
	erratic string

	mu       sync.Mutex
	arrivals []time.Time
	perPod   map[string]int
}

func newGroup(t *testing.T, rps float64, skews []time.Duration, seed uint64) *group {
	g := &group{t: t, rps: rps, perPod: make(map[string]int)}
	for i, skew := range skews {
		g.pods = append(g.pods, &simPod{
			name:   fmt.Sprintf("pod-%d", i),
			skew:   skew,
			budget: newBudget(t, retry.BudgetConfig{RPS: rps, ShareByPartitions: true, ClockOffset: skew}),
			rng:    rand.New(rand.NewPCG(seed, uint64(i))),
		})
	}
	return g
}

// run makes every pod send as much as it may until ctx ends, and waits for
// them.
func (g *group) run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, p := range g.pods {
		wg.Go(func() { g.drive(ctx, p) })
	}
	wg.Wait()
}

// runFor lets every pod send as much as it may for d of the bubble's time,
// then returns when the run began and the arrivals, checked under what
// (see check).
func (g *group) runFor(what string, d time.Duration) (start time.Time, all []time.Time) {
	start, done := g.goFor(d)
	<-done
	return start, g.check(what)
}

// goFor is runFor in the background, for tests that change the pods'
// shares while they send: done closes when the pods have stopped.
func (g *group) goFor(d time.Duration) (start time.Time, done <-chan struct{}) {
	ctx, cancel := context.WithTimeout(g.t.Context(), d)
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		defer cancel()
		g.run(ctx)
	}()
	return time.Now(), ended
}

// shareOut gives every pod its partitions of total, spread as how says
// (see assign).
func (g *group) shareOut(how string, total int, rng *rand.Rand) {
	parts := assign(how, len(g.pods), total, rng)
	for i, p := range g.pods {
		p.budget.SetShare(parts[i], total)
	}
}

func (g *group) drive(ctx context.Context, p *simPod) {
	var last, coldUntil time.Time
	for {
		if p.name == g.erratic {
			if err := retry.Sleep(ctx, time.Duration(p.rng.Int64N(int64(1200*time.Millisecond)))); err != nil {
				return
			}
		} else if p.rng.IntN(4) == 0 {
			// The dispatcher comes back late: the next grant may start
			// late in its slot, or miss it.
			if err := retry.Sleep(ctx, time.Duration(p.rng.Int64N(int64(25*time.Millisecond)))); err != nil {
				return
			}
		}
		gr, err := p.budget.Wait(ctx, actions[0])
		if err != nil {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				g.t.Errorf("%s: Wait: %v", p.name, err)
			}
			return
		}
		if gr.At.Sub(last) > 1500*time.Millisecond {
			coldUntil = gr.At.Add(time.Second)
		}
		last = gr.At
		write, net := writeDelay, netJitter
		if gr.At.Before(coldUntil) {
			write, net = coldWrite, coldNet
		}
		sent := gr.At.Add(time.Duration(p.rng.Int64N(int64(write))))
		p.budget.Sent(gr, sent)
		at := sent.Add(time.Duration(p.rng.Int64N(int64(net))))
		g.mu.Lock()
		g.arrivals = append(g.arrivals, at)
		g.perPod[p.name]++
		g.mu.Unlock()
	}
}

// check fails the test if any one-second span of the server's, (t-1s, t],
// held more than the limit, and returns the arrivals sorted.
func (g *group) check(what string) []time.Time {
	g.t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	slices.SortFunc(g.arrivals, time.Time.Compare)
	if m, at := peakInWindow(g.arrivals, time.Second); m > int(g.rps) {
		g.t.Errorf("%s: %d calls reached the server within one second ending at %s, want at most %d",
			what, m, at.Format("15:04:05.000"), int(g.rps))
	}
	return g.arrivals
}

// peakInWindow returns the most times within one window (t-w, t] and the
// end of the first window that holds them.
func peakInWindow(times []time.Time, w time.Duration) (int, time.Time) {
	best, lo := 0, 0
	var at time.Time
	for hi := range times {
		for times[hi].Sub(times[lo]) >= w {
			lo++
		}
		if n := hi - lo + 1; n > best {
			best, at = n, times[hi]
		}
	}
	return best, at
}

// rate returns the arrivals per second between from and to.
func rate(times []time.Time, from, to time.Time) float64 {
	n := 0
	for _, at := range times {
		if !at.Before(from) && at.Before(to) {
			n++
		}
	}
	return float64(n) / to.Sub(from).Seconds()
}

// assign spreads total partitions over pods the way a group balancer may.
func assign(how string, pods, total int, rng *rand.Rand) [][]int {
	out := make([][]int, pods)
	switch how {
	case "range": // kafka-go's default: contiguous ranges
		for p := range total {
			i := p * pods / total
			out[i] = append(out[i], p)
		}
	case "round-robin":
		for p := range total {
			out[p%pods] = append(out[p%pods], p)
		}
	case "random":
		for _, p := range rng.Perm(total) {
			i := rng.IntN(pods)
			out[i] = append(out[i], p)
		}
	}
	return out
}

// skews returns each pod's clock offset: alternately skew ahead and skew
// behind true time, the worst pairs.
func skews(pods int, skew time.Duration) []time.Duration {
	out := make([]time.Duration, pods)
	for i := range out {
		out[i] = skew
		if i%2 == 1 {
			out[i] = -skew
		}
	}
	return out
}

// Any number of pods from 1 to the partition count, however the partitions
// are spread over them, with clocks in step, 40ms apart or half a second
// apart, and network jitter: no one-second span at the server ever holds
// more than the limit, and the pods together use at least 97.5 % of it.
func TestSlotsPodsShareTheWholeLimit(t *testing.T) {
	const (
		rps   = 20
		total = 24
		run   = 120 * time.Second
	)
	for _, pods := range []int{1, 2, 3, 5, 8, 12, 24} {
		for _, how := range []string{"range", "round-robin", "random"} {
			for _, skew := range []time.Duration{0, maxSkew, 250 * time.Millisecond} {
				name := fmt.Sprintf("%d pods, %s, clocks ±%v", pods, how, skew)
				t.Run(name, func(t *testing.T) {
					synctest.Test(t, func(t *testing.T) {
						rng := rand.New(rand.NewPCG(uint64(pods), 7))
						g := newGroup(t, rps, skews(pods, skew), uint64(pods*100))
						g.shareOut(how, total, rng)
						start, all := g.runFor(name, run)
						// From the end of the partitions' holdoff on.
						steady := rate(all, start.Add(2*time.Second), start.Add(run))
						if steady < 0.975*rps {
							t.Errorf("the pods sent %.2f calls/s together, want at least %.2f (97.5 %% of %d)", steady, 0.975*rps, rps)
						}
						t.Logf("%.2f calls/s together; per pod %v", steady, g.perPod)
					})
				})
			}
		}
	}
}

// A pod whose clock is 20ms behind and that asks for grants at random
// times gets them anywhere in its slots' openings, the latest start being
// the worst for the limit, while the other pods, 20ms ahead, call at the
// very start of their slots: no second holds more than the limit.
func TestSlotsLateCallerKeepsTheLimit(t *testing.T) {
	for _, pods := range []int{1, 2, 3, 5, 12, 24} {
		name := fmt.Sprintf("%d pods", pods)
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sk := make([]time.Duration, pods)
				for i := range sk {
					sk[i] = maxSkew
				}
				sk[0] = -maxSkew
				g := newGroup(t, 20, sk, uint64(pods))
				g.erratic = g.pods[0].name
				g.shareOut("round-robin", 24, nil)
				g.runFor(name, 600*time.Second)
			})
		})
	}
}

// More pods than requests per second: with 24 pods at 20/s, or 10 pods at
// 5/s, some pods own no slot in a given second; the pods still never
// exceed the limit and still use all of it.
func TestSlotsMorePodsThanRequestsPerSecond(t *testing.T) {
	tests := []struct {
		rps         float64
		pods, total int
	}{
		{20, 24, 24},
		{5, 10, 10},
		{5, 10, 30},
		{2, 6, 12},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("%d pods at %v/s on %d partitions", tt.pods, tt.rps, tt.total)
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const run = 300 * time.Second
				g := newGroup(t, tt.rps, skews(tt.pods, maxSkew), 3)
				g.shareOut("round-robin", tt.total, nil)
				start, all := g.runFor(name, run)
				if steady := rate(all, start.Add(5*time.Second), start.Add(run)); steady < 0.975*tt.rps {
					t.Errorf("%.2f calls/s together, want at least %.2f", steady, 0.975*tt.rps)
				}
			})
		})
	}
}

// One partition: its owner uses the whole limit, and pods that own nothing
// send nothing.
func TestSlotsOnePartition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const run = 30 * time.Second
		g := newGroup(t, 20, skews(3, maxSkew), 5)
		g.pods[0].budget.SetShare(nil, 1)
		g.pods[1].budget.SetShare([]int{0}, 1)
		g.pods[2].budget.SetShare(nil, 1)
		start, all := g.runFor("one partition", run)
		if n := g.perPod["pod-0"] + g.perPod["pod-2"]; n != 0 {
			t.Errorf("pods owning no partition sent %d calls", n)
		}
		if steady := rate(all, start.Add(2*time.Second), start.Add(run)); steady < 19.5 {
			t.Errorf("the owner of the only partition sent %.2f calls/s, want the whole 20", steady)
		}
		if got := g.pods[1].budget.Share(actions[0]); got != 1 {
			t.Errorf("share of the only partition's owner = %v, want 1", got)
		}
	})
}

// Rebalances while every pod sends all it may: pods join and leave, every
// partition changes hands, and the topic grows from 24 to 32 partitions.
// Old and new owners of a partition never use its slots in the same
// second, so the limit holds throughout; a pod waits a little over a round
// before it uses a partition it gained.
func TestSlotsRebalancesKeepTheLimit(t *testing.T) {
	for _, skew := range []time.Duration{maxSkew, 250 * time.Millisecond} {
		t.Run(fmt.Sprintf("clocks ±%v", skew), func(t *testing.T) { testRebalances(t, skew) })
	}
}

func testRebalances(t *testing.T, skew time.Duration) {
	synctest.Test(t, func(t *testing.T) {
		const rps = 20
		g := newGroup(t, rps, skews(6, skew), 11)
		rng := rand.New(rand.NewPCG(11, 12))
		steps := []struct {
			at    time.Duration
			pods  int // the first pods are the members
			total int
			how   string
		}{
			{0, 3, 24, "range"},
			{20 * time.Second, 5, 24, "range"},       // two pods join
			{40 * time.Second, 5, 24, "random"},      // every partition may move
			{60 * time.Second, 2, 24, "round-robin"}, // three pods leave
			{80 * time.Second, 6, 32, "range"},       // partitions added, pods join
			{100 * time.Second, 6, 32, "random"},
		}
		start, done := g.goFor(120 * time.Second)
		for _, st := range steps {
			time.Sleep(time.Until(start.Add(st.at)))
			parts := assign(st.how, st.pods, st.total, rng)
			for i, p := range g.pods {
				var mine []int
				if i < st.pods {
					mine = parts[i]
				}
				p.budget.SetShare(mine, st.total)
			}
		}
		<-done
		all := g.check("rebalances")
		// Between rebalances the group uses the whole limit again.
		if steady := rate(all, start.Add(105*time.Second), start.Add(120*time.Second)); steady < 0.975*rps {
			t.Errorf("%.2f calls/s after the last rebalance, want at least %.2f", steady, 0.975*rps)
		}
	})
}

// A pod that gains a partition waits more than a round before it uses its
// slots: the pod that owned it may have used them during the last second.
func TestSlotsGainedPartitionWaitsARound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBudget(t, retry.BudgetConfig{RPS: 20, ShareByPartitions: true})
		b.SetShare([]int{0, 1, 2, 3}, 8)
		time.Sleep(5 * time.Second)
		if got := b.Share(actions[0]); got != 0.5 {
			t.Fatalf("share = %v, want 0.5", got)
		}
		b.SetShare([]int{0, 1, 2, 3, 4, 5}, 8) // two more
		time.Sleep(time.Second)
		if got := b.Share(actions[0]); got != 0.5 {
			t.Errorf("share a second after gaining two partitions = %v, want still 0.5", got)
		}
		time.Sleep(200 * time.Millisecond)
		if got := b.Share(actions[0]); got != 0.75 {
			t.Errorf("share 1.2s after gaining two partitions = %v, want 0.75", got)
		}
		b.SetShare([]int{0}, 8) // lost five: at once
		if got := b.Share(actions[0]); got != 0.125 {
			t.Errorf("share right after losing partitions = %v, want 0.125", got)
		}
		b.SetShare([]int{0}, 16) // the topic grew: every partition waits
		if got := b.Share(actions[0]); got != 0 {
			t.Errorf("share right after the partition count changed = %v, want 0", got)
		}
		time.Sleep(1200 * time.Millisecond)
		if got := b.Share(actions[0]); got != 1.0/16 {
			t.Errorf("share 1.2s after the partition count changed = %v, want 1/16", got)
		}
	})
}

// A rate-limit answer slows the pod that drew it to half its slots and
// pauses it; the rate then climbs back to the whole share.
func TestSlotsSlowDownAfterRateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBudget(t, retry.BudgetConfig{RPS: 20, ShareByPartitions: true,
			Pause: retry.Policy{Initial: 2 * time.Second, Jitter: 0.01}, RecoveryPerSecond: 0.05})
		b.SetShare([]int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, 24)
		time.Sleep(2 * time.Second)
		before := drive(t, b, actions[0], 10*time.Second)
		g, err := b.Wait(t.Context(), actions[0])
		if err != nil {
			t.Fatal(err)
		}
		pause := b.RateLimited(g)
		if pause < 1900*time.Millisecond {
			t.Fatalf("pause = %v, want about 2s", pause)
		}
		after := drive(t, b, actions[0], 4*time.Second)
		if len(after) > 0 && after[0].Sub(g.At) < pause {
			t.Errorf("first grant %v after the rate-limit answer, want after the %v pause", after[0].Sub(g.At), pause)
		}
		// In the two seconds after the pause the rate is about half, then
		// climbing: well below the ten seconds' before.
		perSecBefore := float64(len(before)) / 10
		perSecAfter := float64(len(after)) / 2
		if perSecAfter > 0.7*perSecBefore || perSecAfter < 0.4*perSecBefore {
			t.Errorf("%.1f calls/s after the pause, want about half of %.1f", perSecAfter, perSecBefore)
		}
		time.Sleep(12 * time.Second)
		if got, ceil := b.Rate(actions[0]), b.Ceiling(actions[0]); got != ceil {
			t.Errorf("rate 12s after the answer = %v, want back at the ceiling %v", got, ceil)
		}
		again := drive(t, b, actions[0], 10*time.Second)
		if d := len(again) - len(before); d < -1 || d > 1 {
			t.Errorf("%d calls in 10s after recovering, want %d as before", len(again), len(before))
		}
	})
}

// A pod that owned every partition used the window on its own, with
// bursts at light load. When a second pod joins, the first moves to its
// slots at once, and neither its own earlier calls nor the newcomer's
// bring any second over the limit.
func TestSlotsFromAloneToShared(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGroup(t, 20, skews(2, maxSkew), 13)
		g.pods[0].budget.SetShare(seq(24), 24)
		g.pods[1].budget.SetShare(nil, 24)
		start, done := g.goFor(30 * time.Second)
		time.Sleep(10 * time.Second)
		if got := g.pods[0].budget.Share(actions[0]); got != 1 {
			t.Errorf("share of the only pod = %v, want 1", got)
		}
		g.pods[0].budget.SetShare(seq(12), 24)
		g.pods[1].budget.SetShare(seq(24)[12:], 24)
		<-done
		all := g.check("a pod joins")
		if steady := rate(all, start.Add(15*time.Second), start.Add(30*time.Second)); steady < 19.5 {
			t.Errorf("%.2f calls/s with two pods, want at least 19.5", steady)
		}
	})
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// A request written late (a slow connection set-up, a busy process) holds
// its slot's next request back until a window and the margin after the
// write, not after the grant; a request written on time does not.
func TestSlotsSentHoldsTheSlotsNextCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBudget(t, retry.BudgetConfig{RPS: 20, ShareByPartitions: true})
		b.SetShare([]int{0}, 2) // one partition of two: 10 slots a round
		time.Sleep(3 * time.Second)
		for range 10 { // a round of calls at full load, written on time
			g, err := b.Wait(t.Context(), actions[0])
			if err != nil {
				t.Fatal(err)
			}
			b.Sent(g, g.At)
		}
		late, err := b.Wait(t.Context(), actions[0])
		if err != nil {
			t.Fatal(err)
		}
		const writeDelay = 30 * time.Millisecond
		b.Sent(late, late.At.Add(writeDelay))
		var next []time.Time
		for range 10 {
			g, err := b.Wait(t.Context(), actions[0])
			if err != nil {
				t.Fatal(err)
			}
			b.Sent(g, g.At)
			next = append(next, g.At)
		}
		// The pod owns ten neighbouring slots: the tenth call after the late
		// one is the next in its slot, a round later, held until a second
		// and a margin after the write. The nine before are not held.
		if d := next[9].Sub(late.At); d < time.Second+writeDelay+10*time.Millisecond {
			t.Errorf("the late call's slot was used again %v after its grant, %v after its write: the server may see both in one second", d, d-writeDelay)
		}
		if d := next[8].Sub(late.At); d > time.Second {
			t.Errorf("the call before, in another slot, came %v after the late one: held back by another slot's write", d)
		}
	})
}
