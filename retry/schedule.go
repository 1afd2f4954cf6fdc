package retry

// The slot schedule, a pure function of the limit and the wall clock that
// every pod computes alike: schedule is an immutable value, safe to share
// between goroutines without a lock.

import (
	"math"
	"slices"
	"time"
)

// The slot schedule lets the pods of one consumer group share one rate
// limit exactly, with no rounding and without talking to each other.
//
// Time is cut into rounds of the limit's window plus a short stretch,
// numbered from the Unix epoch, and every round into the same slots, so
// that every pod computes the same ones from its own clock. Each slot of
// each round belongs to one partition, and a pod calls only in slots of the
// partitions it owns, each call within its slot's time. A round's slots
// hold exactly the limit's calls, so the pods together use the whole limit
// per round, however the partitions are spread over them, and a pod that
// owns nothing sends nothing. (A pod that owns every partition has no one
// to share with: at light load its calls leave at once, see Budget.)
//
// Why no window of the server ever holds more than the limit: a slot holds
// its calls once per round, so a window with more calls than the limit
// would hold calls of one slot from two rounds, the later no further in
// the round than the earlier. They are never that close:
//
//   - A slot stays with one partition for rotationRounds rounds, so the two
//     calls mostly come from one pod, which starts a slot's call a window
//     plus ownJitter after its previous call in the slot was written (see
//     Budget.Sent), more after a pause. The stretch gives it room to do so
//     although it woke up late, or wrote late, the first time.
//   - Where a slot passes to another partition, the new owner's pod skips
//     it for a round unless it owned the previous partition too: calls of
//     two pods in one slot are then two rounds apart, a window apart even if
//     the pods' clocks differ by half a second.
//   - A pod that gains a partition at a rebalance waits a round plus the
//     guard, on its own clock, before it uses the partition's slots. The
//     previous owner made its last calls before the rebalance, so they are
//     more than a window before the new owner's first if they reached the
//     server within the guard of leaving.
//
// Calls in different slots never meet in this argument: pods' clocks need
// to agree within half a second, not within a slot.
//
// The rotation gives every partition the same number of calls over
// partitions × rotationRounds rounds, so a pod's long-run share is exactly
// its partitions over all partitions. What the schedule costs is the
// stretch (1.5 % of a one-second window) and, where slots change hands
// between pods, one slot in rotationRounds (0.25 %).
const (
	// stretch lengthens each round beyond the window: the room a pod has
	// to keep its own two calls in one slot a window apart although it
	// woke up late for the first.
	stretch = 15 * time.Millisecond
	// ownJitter is how much longer one of a pod's calls may take from its
	// write to the server than its next call in the same slot (measured
	// on a busy two-core machine: over 5ms for one call in a hundred).
	ownJitter = 10 * time.Millisecond
	// minSlot is the shortest slot: timers cannot keep shorter ones.
	minSlot = 20 * time.Millisecond
	// rotationRounds is how many rounds a slot stays with one partition.
	rotationRounds = 400
)

// DefaultGuard is the default of BudgetConfig.Guard: a call reaches the
// API within 100ms of leaving the pod.
const DefaultGuard = 100 * time.Millisecond

// MaxGuard is the largest BudgetConfig.Guard: half a window. Calls slower
// than that to reach the API put more than the limit in one of its seconds
// whatever the pods do.
const MaxGuard = 500 * time.Millisecond

// schedule is the slot plan of one bucket. Its zero value is not usable;
// see newSchedule.
type schedule struct {
	limit  int   // calls per window
	window int64 // the limit's window, ns
	round  int64 // window + stretch, ns
	slots  int   // per round
}

// newSchedule returns the schedule for limit calls per window: a slot per
// call, or slots of at least minSlot holding several calls each.
func newSchedule(limit int, window time.Duration) schedule {
	s := schedule{limit: limit, window: int64(window), round: int64(window + stretch)}
	s.slots = int(max(1, min(int64(limit), s.round/int64(minSlot))))
	return s
}

// capacity returns how many calls slot j holds: the limit spread over the
// slots, the first ones holding one less where it does not divide evenly.
func (s schedule) capacity(j int) int {
	return (j+1)*s.limit/s.slots - j*s.limit/s.slots
}

// start returns when slot j of round r starts, in Unix nanoseconds.
func (s schedule) start(r int64, j int) int64 {
	return r*s.round + int64(j)*s.round/int64(s.slots)
}

// end returns when slot j of round r ends: the next slot's start.
func (s schedule) end(r int64, j int) int64 {
	return r*s.round + int64(j+1)*s.round/int64(s.slots)
}

// at returns the round and slot that contain the instant t, in Unix
// nanoseconds.
func (s schedule) at(t int64) (int64, int) {
	r := floorDiv(t, s.round)
	off := t - r*s.round
	j := int(off * int64(s.slots) / s.round)
	for j+1 < s.slots && s.start(r, j+1) <= t {
		j++
	}
	for j > 0 && s.start(r, j) > t {
		j--
	}
	return r, j
}

// phase is the index, counting partitions from the epoch, of the partition
// that slot j holds in round r: it grows by one every rotationRounds
// rounds, and neighbouring slots are total/slots partitions apart, so that
// every partition owns a slot as often as every other. The owner is phase
// mod total.
func (s schedule) phase(r int64, j, total int) int64 {
	m := int64(s.slots)
	return floorDiv(r*m+int64(j)*int64(total)*rotationRounds, rotationRounds*m)
}

// owner returns the partition, of total, that slot j holds in round r.
func (s schedule) owner(r int64, j, total int) int {
	return int(floorMod(s.phase(r, j, total), int64(total)))
}

// nextRound returns the first round from r on in which slot j belongs to
// one of owned (sorted, each in [0, total)), and that partition; false if
// owned is empty.
func (s schedule) nextRound(r int64, j, total int, owned []int) (int64, int, bool) {
	if len(owned) == 0 {
		return 0, 0, false
	}
	ph := s.phase(r, j, total)
	cur := int(floorMod(ph, int64(total)))
	i, _ := slices.BinarySearch(owned, cur)
	next := 0
	if i < len(owned) {
		next = owned[i]
	} else {
		next = owned[0] + total
	}
	if next == cur {
		return r, cur, true
	}
	// The first round whose phase reaches ph + (next - cur).
	want := ph + int64(next-cur)
	m := int64(s.slots)
	num := want*rotationRounds*m - int64(j)*int64(total)*rotationRounds
	return ceilDiv(num, m), next % total, true
}

// ceiling is the rate, in calls per second, that share of the partitions
// gets in the long run.
func (s schedule) ceiling(share float64) float64 {
	return share * float64(s.limit) / time.Duration(s.round).Seconds()
}

// maxSlotSteps bounds the slots one takeSlot looks at before it sleeps
// until the next: a few rounds' worth, more than the schedule makes it
// skip.
func (s schedule) maxSlotSteps() int { return 4*s.slots + 4 }

// next returns the first slot from slot j of round r on (in time order)
// that belongs to one of owned, and its partition; false if owned is empty.
func (s schedule) next(r int64, j, total int, owned []int) (int64, int, int, bool) {
	bestR, bestJ, bestP, found := int64(0), 0, 0, false
	for k := range s.slots {
		from := r
		if k < j {
			from = r + 1
		}
		kr, p, ok := s.nextRound(from, k, total, owned)
		if !ok {
			return 0, 0, 0, false
		}
		if !found || kr < bestR || (kr == bestR && k < bestJ) {
			bestR, bestJ, bestP, found = kr, k, p, true
		}
	}
	return bestR, bestJ, bestP, found
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func ceilDiv(a, b int64) int64 { return -floorDiv(-a, b) }

func floorMod(a, b int64) int64 { return a - floorDiv(a, b)*b }

// limitFor turns a rate into calls per window, the way the API counts:
// floor(rps) per second, or one per 1/rps seconds below one per second.
func limitFor(rps float64) (int, time.Duration) {
	if rps >= 1 {
		return int(math.Floor(rps + 1e-9)), time.Second
	}
	return 1, time.Duration(float64(time.Second) / rps)
}
