package retry

// The bucket registry: which pacing state an action draws from. The table
// and the list are built by NewBudget and only read after, so lookups need
// no lock; a bucket's fields are guarded by Budget.mu.

import (
	"fmt"
	"time"

	"golang.org/x/time/rate"

	"github.com/receiptd/receiptd/receipt"
)

// bucket is one action's pacing state, or every action's when shared.
type bucket struct {
	action receipt.Action // the first action it paces

	win   windowState
	slots slotState

	level       float64 // adaptive rate as a fraction of the ceiling, (0, 1]
	base        float64 // level right after the last decrease
	decreasedAt time.Time
	epoch       uint64 // bumped at every decrease
}

// buckets maps each action to its bucket; with Shared, every action to
// one. An action the budget was not given has none.
type buckets struct {
	byAction [len(receipt.Actions) + 1]*bucket // indexed by receipt.Action
	all      []*bucket                         // each bucket once
}

// newBuckets returns a bucket per distinct valid action, or one for all of
// them when shared, each with its slots in sched.
func newBuckets(actions []receipt.Action, shared bool, sched schedule) buckets {
	var bs buckets
	var one *bucket
	for _, a := range actions {
		if !a.Valid() || bs.byAction[a] != nil {
			continue
		}
		bk := one
		if bk == nil {
			// A burst of two lets the token bucket make up for a late
			// wake-up; the window is the cap.
			bk = &bucket{action: a, level: 1, win: windowState{lim: rate.NewLimiter(0, 2)}, slots: newSlotState(sched)}
			bs.all = append(bs.all, bk)
			if shared {
				one = bk
			}
		}
		bs.byAction[a] = bk
	}
	return bs
}

// lookup returns the bucket of action a, or ErrUnknownBucket.
func (bs *buckets) lookup(a receipt.Action) (*bucket, error) {
	if int(a) >= len(bs.byAction) || bs.byAction[a] == nil {
		return nil, fmt.Errorf("%w: action %d (%q)", ErrUnknownBucket, a, a.String())
	}
	return bs.byAction[a], nil
}
