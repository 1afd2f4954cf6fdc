package retry

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
// b.mu held.
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

// grantLog holds, for each recent grant, the time it leaves the window,
// earliest first, with the grant's number.
type grantLog struct {
	until []time.Time
	ids   []uint64
	head  int // until[head:] are live
	next  uint64
}

// add records a grant leaving the window at until and returns its number.
// Grants mostly arrive in order; one made at light load leaves a little
// later than those after it, so it is moved back past them.
func (g *grantLog) add(until time.Time) uint64 {
	g.next++
	g.until, g.ids = append(g.until, until), append(g.ids, g.next)
	g.sink(len(g.until) - 1)
	return g.next
}

// extend makes grant id, if still in the window, leave it no earlier than
// until.
func (g *grantLog) extend(id uint64, until time.Time) {
	for i := len(g.ids) - 1; i >= g.head; i-- {
		if g.ids[i] != id {
			continue
		}
		if until.After(g.until[i]) {
			g.until[i] = until
			for ; i+1 < len(g.until) && g.until[i+1].Before(g.until[i]); i++ {
				g.until[i], g.until[i+1] = g.until[i+1], g.until[i]
				g.ids[i], g.ids[i+1] = g.ids[i+1], g.ids[i]
			}
		}
		return
	}
}

// sink moves entry i back past the later ones before it.
func (g *grantLog) sink(i int) {
	for ; i > g.head && g.until[i].Before(g.until[i-1]); i-- {
		g.until[i], g.until[i-1] = g.until[i-1], g.until[i]
		g.ids[i], g.ids[i-1] = g.ids[i-1], g.ids[i]
	}
}

// live drops the grants that left the window by now and returns how many
// remain.
func (g *grantLog) live(now time.Time) int {
	for g.head < len(g.until) && !g.until[g.head].After(now) {
		g.head++
	}
	if g.head > 1024 && g.head > len(g.until)/2 {
		g.until = append(g.until[:0], g.until[g.head:]...)
		g.ids = append(g.ids[:0], g.ids[g.head:]...)
		g.head = 0
	}
	return len(g.until) - g.head
}

// nth returns when the i-th live grant, oldest first, leaves the window.
func (g *grantLog) nth(i int) time.Time { return g.until[g.head+i] }
