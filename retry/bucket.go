package retry

// The bucket registry: which pacing state a bucket name draws from. The
// map and the list are built by NewBudget and only read after, so lookups
// need no lock; a bucket's fields are guarded by Budget.mu.

import (
	"fmt"
	"time"

	"golang.org/x/time/rate"
)

// bucket is one action's pacing state, or every action's when shared.
type bucket struct {
	name string

	win   windowState
	slots slotState

	level       float64 // adaptive rate as a fraction of the ceiling, (0, 1]
	base        float64 // level right after the last decrease
	decreasedAt time.Time
	epoch       uint64 // bumped at every decrease
}

// buckets maps each bucket name to its bucket; with Shared, every name to
// one.
type buckets struct {
	byName map[string]*bucket
	all    []*bucket // each bucket once
}

// newBuckets returns a bucket per distinct name, or one for all of them
// when shared, each with its slots in sched.
func newBuckets(names []string, shared bool, sched schedule) buckets {
	bs := buckets{byName: make(map[string]*bucket, len(names))}
	var one *bucket
	for _, name := range names {
		if _, dup := bs.byName[name]; dup {
			continue
		}
		bk := one
		if bk == nil {
			// A burst of two lets the token bucket make up for a late
			// wake-up; the window is the cap.
			bk = &bucket{name: name, level: 1, win: windowState{lim: rate.NewLimiter(0, 2)}, slots: newSlotState(sched)}
			bs.all = append(bs.all, bk)
			if shared {
				one = bk
			}
		}
		bs.byName[name] = bk
	}
	return bs
}

// lookup returns bucket name, or ErrUnknownBucket.
func (bs buckets) lookup(name string) (*bucket, error) {
	bk, ok := bs.byName[name]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownBucket, name)
	}
	return bk, nil
}
