package retry

// The adaptive rate: a rate-limit answer halves a bucket's level, a
// fraction of the ceiling its share allows, and the level then climbs back
// additively. Every function here requires that Budget.mu is held.

import (
	"math"
	"time"
)

// minLevel is the lowest fraction of the ceiling that rate-limit answers
// bring a bucket's rate down to.
const minLevel = 1.0 / 32

// recover lets bk's rate climb back towards its ceiling, by perSecond of
// the ceiling per second since the last decrease.
func (bk *bucket) recover(now time.Time, perSecond float64) {
	if bk.level >= 1 {
		return
	}
	bk.level = math.Min(1, bk.base+perSecond*now.Sub(bk.decreasedAt).Seconds())
}

// decrease halves bk's rate after a rate-limit answer to a request granted
// at epoch, and reports whether it did: answers to requests granted before
// the last decrease were already in flight then, and count as part of the
// same episode.
func (bk *bucket) decrease(now time.Time, epoch uint64, perSecond float64) bool {
	if epoch != bk.epoch {
		return false
	}
	bk.recover(now, perSecond)
	bk.epoch++
	bk.level = math.Max(minLevel, bk.level/2)
	bk.base = bk.level
	bk.decreasedAt = now
	return true
}
