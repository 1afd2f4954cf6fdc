package retry

// The sliding window and token bucket of a pod's own calls: the window is
// the hard cap on the pod's calls in any window of the server, whatever
// else paces them; alone at light load, or with FloorShares, grants come
// from the window and token bucket directly. windowState has no lock of
// its own: every function here requires that Budget.mu is held, and none
// starts a goroutine.

import (
	"math"
	"time"

	"golang.org/x/time/rate"
)

// maxWindowGrants bounds the grants remembered per bucket for the window.
const maxWindowGrants = 4096

// burstMarginDivisor sets how much longer than the window a grant made
// without pacing counts: a twentieth, 50ms of a one-second window.
const burstMarginDivisor = 20

// windowState is a strict window over a bucket's last grants, slot grants
// included, the cap on a pod's own calls in any window of the server, and a
// token bucket. A pod alone at light load takes its grants from the window
// directly; with FloorShares, every grant, at the pod's share rounded down
// (the former pacing). Guarded by Budget.mu.
type windowState struct {
	lim       *rate.Limiter
	rate      float64 // the limiter's rate, requests/s
	grants    grantLog
	last      time.Time // the latest grant
	lastBurst time.Time // the latest grant at light load
	warmFrom  time.Time // grants before are the first after a pause: cold
	granted   uint64    // the log entry of the latest grant
	margin    time.Duration
}

// windowFor returns how many grants a window of what length may hold at
// rps times share, the former share: whole requests per second, or one
// request per 1/rate seconds below one per second.
func windowFor(rps, share float64) (int, time.Duration) {
	r := rps * share
	perSecond := math.Floor(r + 1e-9)
	switch {
	case r <= 0:
		return 0, time.Second
	case perSecond < 1:
		return 1, time.Duration(float64(time.Second) / r)
	case perSecond > maxWindowGrants:
		// Far above any API limit (benchmarks): a shorter window keeps the
		// ring small and the same cap per second.
		return maxWindowGrants, time.Duration(float64(time.Second) * maxWindowGrants / perSecond)
	}
	return int(perSecond), time.Second
}

// takeWindow grants bk one request now if its window and token bucket
// allow it, or returns how long to wait (-1: until the share changes):
// the former pacing, kept as the benchmark's baseline (FloorShares).
func (b *Budget) takeWindow(bk *bucket, now time.Time, share float64) (time.Duration, bool) {
	w := &bk.win
	n, window := windowFor(b.cfg.RPS, share)
	if n == 0 {
		return -1, false
	}
	current := bk.level * float64(n) / window.Seconds()
	if current != w.rate {
		w.rate = current
		w.lim.SetLimitAt(now, rate.Limit(current))
	}
	limit := max(1, min(n, int(current*window.Seconds()+1e-9)))
	count := w.grants.live(now)
	// A grant holds its place a little past the window: the network may
	// delay it more than the next one, and more so the first calls after a
	// pause (cold, see coldMargin). Only the shortened windows of benchmark
	// rates are too short for the whole margin.
	if now.Sub(w.last) > window {
		w.warmFrom = now.Add(window)
	}
	margin := min(ownJitter, window/100)
	if now.Before(w.warmFrom) {
		margin = min(coldMargin, window/40)
	}
	var delay time.Duration
	switch {
	case count >= limit:
		// Wait until enough grants leave the window for one more.
		delay = w.grants.nth(count - limit).Sub(now)
	case count < limit/2:
		// Light load: the window has room, so requests that became ready
		// together leave together instead of queueing behind the token
		// bucket. Such a grant holds its place in the window a little
		// longer, so that a request sent when it leaves cannot reach the
		// server within the same second because the network delayed one
		// and not the other.
		w.lim.AllowN(now, 1)
		margin = window / burstMarginDivisor
		w.lastBurst = now
	case !w.lim.AllowN(now, 1):
		// Near the ceiling: evenly spaced requests.
		missing := 1 - w.lim.TokensAt(now)
		delay = time.Duration(missing / float64(w.lim.Limit()) * float64(time.Second))
	}
	if count >= limit || delay != 0 {
		return max(delay, time.Microsecond), false // a positive wait: never spin
	}
	w.granted, w.margin, w.last = w.grants.add(now.Add(window+margin)), margin, now
	return 0, true
}
