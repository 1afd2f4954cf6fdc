package retry

// The partitions a pod owns, from one rebalance to the next, and since
// when each one's slots are usable. ownership has no lock of its own: it
// is guarded by Budget.mu; an assignment is not changed after set builds
// it.

import (
	"slices"
)

// assignment is the set of partitions a pod was given at one rebalance,
// and from when it may use each one's slots. Times are Unix nanoseconds of
// the pod's (possibly offset) wall clock.
type assignment struct {
	from   int64 // when it took effect
	total  int   // partitions of the topic
	owned  []int // sorted
	usable map[int]int64
}

// usableAt reports whether the pod could use partition p's slots at t.
func (a *assignment) usableAt(p int, t int64) bool {
	u, ok := a.usable[p]
	return ok && u <= t
}

// usableNow returns the partitions usable at t, sorted, and the earliest
// time after t at which another one becomes usable (0 if none will).
func (a *assignment) usableNow(t int64) ([]int, int64) {
	var out []int
	var pending int64
	for _, p := range a.owned {
		u := a.usable[p]
		if u <= t {
			out = append(out, p)
		} else if pending == 0 || u < pending {
			pending = u
		}
	}
	return out, pending
}

// ownership is a pod's recent assignments, oldest first: the schedule asks
// who owned a slot one round ago.
type ownership struct {
	hist []*assignment
}

// set records the partitions owned from now on, out of total. A partition
// the pod already owned (with the same total) stays usable; any other
// becomes usable after holdoff, the time it takes the partition's previous
// owner's last calls to stop mattering.
func (o *ownership) set(partitions []int, total int, now, holdoff int64) {
	a := &assignment{from: now, total: total, usable: make(map[int]int64, len(partitions))}
	cur := o.current()
	for _, p := range partitions {
		if p < 0 || p >= total {
			continue
		}
		if _, dup := a.usable[p]; dup {
			continue
		}
		a.owned = append(a.owned, p)
		if cur != nil && cur.total == total {
			if u, ok := cur.usable[p]; ok {
				a.usable[p] = u
				continue
			}
		}
		a.usable[p] = now + holdoff
	}
	slices.Sort(a.owned)
	o.hist = append(o.hist, a)
}

// current returns the assignment in force, nil before the first.
func (o *ownership) current() *assignment {
	if len(o.hist) == 0 {
		return nil
	}
	return o.hist[len(o.hist)-1]
}

// at returns the assignment in force at t, nil if none was.
func (o *ownership) at(t int64) *assignment {
	for i := len(o.hist) - 1; i >= 0; i-- {
		if o.hist[i].from <= t {
			return o.hist[i]
		}
	}
	return nil
}

// forget drops the assignments that ended before t.
func (o *ownership) forget(t int64) {
	i := 0
	for i+1 < len(o.hist) && o.hist[i+1].from <= t {
		i++
	}
	o.hist = o.hist[i:]
}

// mayFollow reports whether a pod that owns partition p at slot j of round
// r may use that slot: whoever called in the same slot one round before
// must have been this pod, or nobody. That holds when the slot belonged to
// p then too (another pod that owned p stopped more than a round before p
// became usable here), or when the pod could use that round's owner itself.
func (o *ownership) mayFollow(s schedule, r int64, j, p, total int) bool {
	t := s.start(r-1, j)
	prev := o.at(t)
	if prev == nil {
		return false // forgotten, or before the first assignment: unknown
	}
	q := s.owner(r-1, j, prev.total)
	if prev.total == total && q == p {
		return true
	}
	return prev.usableAt(q, t)
}
