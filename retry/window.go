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

// windowState is a sliding window over a bucket's last grants: in the
// slot schedule, a pod's count of its recent grants; with FloorShares, the
// former pacing (a strict window and a token bucket at the pod's share).
// Guarded by Budget.mu.
type windowState struct {
	lim    *rate.Limiter
	rate   float64 // the limiter's rate, requests/s
	grants grantLog
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
	// delay it more than the next one. (Only the shortened windows of
	// benchmark rates are too short for the whole margin.)
	until := now.Add(window + min(ownJitter, window/200))
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
		until = now.Add(window + window/burstMarginDivisor)
	case !w.lim.AllowN(now, 1):
		// Near the ceiling: evenly spaced requests.
		missing := 1 - w.lim.TokensAt(now)
		delay = time.Duration(missing / float64(w.lim.Limit()) * float64(time.Second))
	}
	if count >= limit || delay != 0 {
		return max(delay, time.Microsecond), false // a positive wait: never spin
	}
	w.grants.add(until)
	return 0, true
}

// grantLog holds, for each recent grant, the time it leaves the window,
// earliest first.
type grantLog struct {
	until []time.Time
	head  int // until[head:] are live
}

// add records a grant leaving the window at until. Grants mostly arrive in
// order; one made at light load leaves a little later than those after it,
// so it is moved back past them.
func (g *grantLog) add(until time.Time) {
	g.until = append(g.until, until)
	for i := len(g.until) - 1; i > g.head && g.until[i].Before(g.until[i-1]); i-- {
		g.until[i], g.until[i-1] = g.until[i-1], g.until[i]
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
		g.head = 0
	}
	return len(g.until) - g.head
}

// nth returns when the i-th live grant, oldest first, leaves the window.
func (g *grantLog) nth(i int) time.Time { return g.until[g.head+i] }
