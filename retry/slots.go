package retry

// A bucket's use of the slot schedule: the slots it called in, when each
// token is free again, and the credit that thins slots out at a lowered
// rate. slotState has no lock of its own: every function here requires
// that Budget.mu is held, and none starts a goroutine.

import (
	"math"
	"time"
)

// burstMargin is how much longer than a window a call that leaves with a
// burst holds its place: requests sent together may reach the server
// further apart than requests sent one by one.
const burstMargin = time.Second / burstMarginDivisor

// coldMargin is how much longer than a window a token stays out of use
// after the first call in its slot after a pause, so that the slot's next
// call is at most 10ms late; how late the request was written is known
// from Sent.
const coldMargin = stretch + ownJitter

// slotState is what a bucket remembers of the slots it used: per slot, how
// many calls it made in which round, and when each of the slot's calls
// frees its token for the slot's next round (a window plus a margin after
// the call). A window never holds more calls than the limit as long as no
// token is used again before it is free: more would take two calls of one
// token. Also the credit that thins slots out after a rate-limit answer.
// Guarded by Budget.mu.
type slotState struct {
	round []int64       // per slot, the round of used
	used  []int         // per slot, calls in that round
	free  [][]time.Time // per slot and call, when its token may be used again

	credit     float64       // slots earned at the lowered rate; up to 1
	creditedAt place         // the last place that earned credit
	granted    place         // the place of the latest grant
	grantedBy  time.Duration // and its margin
}

// place is one call's spot in the schedule: the i-th call in slot j of
// round r.
type place struct {
	r    int64
	j, i int
}

func newSlotState(s schedule) slotState {
	st := slotState{round: make([]int64, s.slots), used: make([]int, s.slots), free: make([][]time.Time, s.slots),
		creditedAt: place{r: math.MinInt64}}
	for j := range s.slots {
		st.round[j] = math.MinInt64
		st.free[j] = make([]time.Time, s.capacity(j))
	}
	return st
}

// calls returns how many calls slot j made in round r.
func (st *slotState) calls(r int64, j int) int {
	if st.round[j] == r {
		return st.used[j]
	}
	return 0
}

// record counts a call in slot j of round r, its token free again at free.
func (st *slotState) record(r int64, j int, free time.Time) {
	if st.round[j] != r {
		st.round[j], st.used[j] = r, 0
	}
	st.free[j][st.used[j]] = free
	st.used[j]++
}

// takeSlot grants bk one request now if this pod's next slot is open, or
// returns how long to wait for it (-1: until the partitions change).
func (b *Budget) takeSlot(bk *bucket, now time.Time, v view) (time.Duration, bool) {
	a := b.own.current()
	if a == nil || v.share == 0 {
		return -1, false
	}
	s, st := b.sched, &bk.slots
	wall := b.wall(now)
	usable, _ := a.usableNow(wall)
	r, j := s.at(wall)
	from := place{r: r, j: j}
	for range s.maxSlotSteps() {
		r, j, p, ok := s.next(from.r, from.j, a.total, usable)
		if !ok {
			return -1, false
		}
		from = place{r: r, j: j + 1}
		if j+1 == s.slots {
			from = place{r: r + 1}
		}
		i := st.calls(r, j)
		if wall >= s.end(r, j) || i >= s.capacity(j) || !b.own.mayFollow(s, r, j, p, a.total) {
			continue
		}
		if start := s.start(r, j); wall < start {
			return time.Duration(start - wall), false
		}
		pl := place{r: r, j: j, i: i}
		if !st.earn(pl, bk.level) {
			continue
		}
		// The token's previous call must be a window and a margin behind,
		// and the pod within its own window: it may have called in a
		// window of its own just before, owning every partition.
		ready := later(now, st.free[j][i])
		if count := bk.win.grants.live(now); count >= s.limit {
			ready = later(ready, bk.win.grants.nth(count-s.limit))
		}
		if ready.After(now) {
			if wall+int64(ready.Sub(now)) >= s.end(r, j) {
				continue // it would start after its slot: the next one
			}
			return ready.Sub(now), false
		}
		margin := st.margin(r, j)
		if now.Sub(bk.win.lastBurst) < time.Millisecond {
			// Leaving with a burst of a pod alone: it may arrive as late.
			margin = burstMargin
		}
		b.grant(bk, now, pl, margin)
		return 0, true
	}
	// Every slot looked at was closed or skipped: wait for the next one.
	r, j, _, ok := s.next(from.r, from.j, a.total, usable)
	if !ok {
		return -1, false
	}
	return max(time.Duration(s.start(r, j)-wall), time.Microsecond), false
}

// margin returns how much longer than a window the token of a call in slot
// j of round r stays out of use. A slot the pod did not call in last round
// starts cold, at start-up or after a rebalance: such a call may reach the
// server late (the server's first request on a new connection, a busy
// process), so its token waits longer.
func (st *slotState) margin(r int64, j int) time.Duration {
	if st.round[j] < r-1 {
		return coldMargin
	}
	return ownJitter
}

// grant records a call at pl, its token free again a window and margin
// later.
func (b *Budget) grant(bk *bucket, now time.Time, pl place, margin time.Duration) {
	st := &bk.slots
	st.spend(pl, bk.level)
	st.record(pl.r, pl.j, now.Add(time.Duration(b.sched.window)+margin))
	st.granted, st.grantedBy = pl, margin
	bk.win.granted = bk.win.grants.add(now.Add(time.Duration(b.sched.window) + margin))
}

// earn adds pl's credit at level, once per place, and reports whether the
// bucket has a whole slot's credit to spend on it. At the full level every
// place has.
func (s *slotState) earn(pl place, level float64) bool {
	if level >= 1 {
		return true
	}
	if s.creditedAt != pl {
		s.creditedAt = pl
		s.credit = math.Min(1, s.credit+level)
	}
	return s.credit >= 1-1e-9
}

// spend uses the credit earn found.
func (s *slotState) spend(pl place, level float64) {
	if level < 1 {
		s.credit--
	}
	s.credit = max(s.credit, 0)
	s.creditedAt = pl
}

// hold makes the token of the call at pl free again no earlier than until,
// unless the slot's next call already used it.
func (st *slotState) hold(pl place, until time.Time) {
	if st.round[pl.j] != pl.r || pl.i >= st.used[pl.j] {
		return
	}
	st.free[pl.j][pl.i] = later(st.free[pl.j][pl.i], until)
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
