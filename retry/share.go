package retry

// This pod's share of the limit: the partitions it owns, each usable only
// after its holdoff (the delayed raise), and the view of them that pacing
// takes at one moment. SetShare takes Budget.mu itself; every other
// function here requires that it is held.

import (
	"math"
	"time"
)

// SetShare sets the partitions this pod owns, out of total, at a
// rebalance. It has no effect unless the Budget was built with
// ShareByPartitions. With no partitions the pod sends nothing.
//
// Partitions the pod keeps stay in use. Slots of a partition it loses are
// not used from now on; those of a partition it gains are used only after
// a round plus the Guard (a second and a little more): the previous owner
// may have called in them during the last second, and the server counts
// those calls too. A change of total starts every partition anew.
func (b *Budget) SetShare(partitions []int, total int) {
	if !b.cfg.ShareByPartitions {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.wall(time.Now())
	b.own.set(partitions, max(total, 1), now, b.holdoff)
	b.own.forget(now - 2*b.sched.round)
	b.notify()
}

// ownAlone makes own the only partition, owned since ever: a Budget that
// does not share by partitions.
func ownAlone(own *ownership) { own.set([]int{0}, 1, math.MinInt64, 0) }

// wall returns t as Unix nanoseconds of this pod's wall clock.
func (b *Budget) wall(t time.Time) int64 { return t.Add(b.cfg.ClockOffset).UnixNano() }

// view is what this pod may send at one moment.
type view struct {
	share float64 // of the limit: usable partitions / all partitions
	// alone: the pod uses every partition, so no other pod calls; it may
	// then burst at light load.
	alone bool
	grows time.Time // when a partition waiting out its holdoff joins; zero if none
}

// view returns this pod's view at now.
func (b *Budget) view(now time.Time) view {
	wall := b.wall(now)
	a := b.own.current()
	if a == nil {
		return view{}
	}
	usable, pending := a.usableNow(wall)
	v := view{share: float64(len(usable)) / float64(a.total), alone: len(usable) == a.total}
	if pending != 0 {
		v.grows = now.Add(time.Duration(pending - wall))
	}
	return v
}

// sooner returns how long a waiter at now should sleep, given the delay
// pacing asked for (-1: until the share changes): no later than when a
// partition coming out of its holdoff changes the picture.
func (v view) sooner(now time.Time, delay time.Duration) time.Duration {
	if !v.grows.IsZero() && (delay < 0 || v.grows.Sub(now) < delay) {
		return max(v.grows.Sub(now), time.Microsecond)
	}
	return delay
}

// ceiling returns the highest rate, in requests per second, this pod may
// reach with its share.
func (b *Budget) ceiling(v view) float64 {
	share := v.share
	switch {
	case v.alone && !b.cfg.FloorShares:
		share = 1
	case !b.cfg.FloorShares:
		return b.sched.ceiling(v.share)
	}
	n, window := windowFor(b.cfg.RPS, share)
	if n == 0 {
		return 0
	}
	return float64(n) / window.Seconds()
}
