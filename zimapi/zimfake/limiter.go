package zimfake

import (
	"math"
	"strconv"
	"sync"
	"time"
)

// limiter enforces the sliding-window rate limit and measures, per bucket,
// the most requests seen in any 1 s span.
type limiter struct {
	mu            sync.Mutex
	n             int           // requests allowed per window; 0 = unlimited
	window        time.Duration // window length
	shared        bool
	countRejected bool
	buckets       map[bucketKey]*bucket
}

type bucketKey struct {
	app    uint32
	action string // "" when the bucket is shared by the four actions
}

type bucket struct {
	counted times // requests counted toward the limit, within the window
	arrived times // every request, within the last second, for the peak
	peak    int
}

func newLimiter(rps float64, shared, countRejected bool) *limiter {
	l := &limiter{shared: shared, countRejected: countRejected, buckets: make(map[bucketKey]*bucket)}
	l.n, l.window = limitFor(rps)
	return l
}

// limitFor turns a rate into a count per window: floor(rps) per second,
// or one per 1/rps seconds below 1/s.
func limitFor(rps float64) (int, time.Duration) {
	switch {
	case !(rps > 0) || math.IsInf(rps, 1):
		return 0, 0
	case rps >= 1:
		return int(min(rps, math.MaxInt32)), time.Second
	default:
		return 1, time.Duration(float64(time.Second) / rps)
	}
}

func (l *limiter) setRPS(rps float64) {
	l.mu.Lock()
	l.n, l.window = limitFor(rps)
	l.mu.Unlock()
}

// admit records a request of (app, action) arriving at now and reports
// whether the limit lets it through.
func (l *limiter) admit(app uint32, action string, now time.Time) bool {
	t := now.UnixNano()
	key := bucketKey{app: app, action: action}
	if l.shared {
		key.action = ""
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		b = &bucket{}
		l.buckets[key] = b
	}
	b.arrived.push(t)
	b.arrived.dropThrough(t - int64(time.Second))
	b.peak = max(b.peak, b.arrived.len())
	if l.n == 0 {
		return true
	}
	b.counted.dropThrough(t - int64(l.window))
	ok := b.counted.len() < l.n
	if ok || l.countRejected {
		b.counted.push(t)
	}
	return ok
}

// peaks returns the most requests seen in any 1 s span, per bucket: labelled
// by action, "shared" for a shared bucket, prefixed with "<AppId>/" for apps
// other than primary.
func (l *limiter) peaks(primary uint32) map[string]int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int64, len(l.buckets))
	for k, b := range l.buckets {
		label := k.action
		if label == "" {
			label = "shared"
		}
		if k.app != primary {
			label = strconv.FormatUint(uint64(k.app), 10) + "/" + label
		}
		out[label] = int64(b.peak)
	}
	return out
}

func (l *limiter) reset() {
	l.mu.Lock()
	clear(l.buckets)
	l.mu.Unlock()
}

// times is a FIFO of Unix-nanosecond instants in arrival order.
type times struct {
	buf  []int64
	head int
}

func (q *times) push(t int64) { q.buf = append(q.buf, t) }

func (q *times) len() int { return len(q.buf) - q.head }

// dropThrough removes the instants at or before cutoff: a window (cutoff,
// now] excludes its left edge. Instants are assumed non-decreasing; an
// injected clock that steps back only makes the window hold more.
func (q *times) dropThrough(cutoff int64) {
	for q.head < len(q.buf) && q.buf[q.head] <= cutoff {
		q.head++
	}
	// Compact once the dead prefix dominates, so memory follows the
	// window's content rather than the total traffic.
	if q.head == len(q.buf) {
		q.buf, q.head = q.buf[:0], 0
	} else if q.head > 64 && q.head*2 > len(q.buf) {
		n := copy(q.buf, q.buf[q.head:])
		q.buf = q.buf[:n]
		q.head = 0
	}
}

// groupLimits holds the per-group limits and busy switches, each for a
// time or for good (zero end).
type groupLimits struct {
	mu     sync.Mutex
	limits map[string]*groupLimit
	busy   map[string]time.Time // group -> end of its busy time; zero: for good
}

type groupLimit struct {
	n       int           // requests allowed per window; 0: none
	window  time.Duration // window length
	end     time.Time     // when the limit lifts; zero: never
	counted times
}

func newGroupLimits() *groupLimits {
	return &groupLimits{limits: make(map[string]*groupLimit), busy: make(map[string]time.Time)}
}

// setLimit limits group to rps from now on, for d (d <= 0: until changed);
// rps < 0 lifts the limit.
func (g *groupLimits) setLimit(group string, rps float64, d time.Duration, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if rps < 0 {
		delete(g.limits, group)
		return
	}
	l := &groupLimit{}
	if rps > 0 {
		l.n, l.window = limitFor(rps)
	}
	if d > 0 {
		l.end = now.Add(d)
	}
	g.limits[group] = l
}

// setBusy makes group busy from now on for d: for good when d == 0, not
// at all when d < 0.
func (g *groupLimits) setBusy(group string, d time.Duration, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case d < 0:
		delete(g.busy, group)
	case d == 0:
		g.busy[group] = time.Time{}
	default:
		g.busy[group] = now.Add(d)
	}
}

// admit records a request for group arriving at now and reports whether
// the group's limit lets it through. Refused requests count toward the
// window when countRejected.
func (g *groupLimits) admit(group string, now time.Time, countRejected bool) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	l := g.limits[group]
	if l == nil {
		return true
	}
	if !l.end.IsZero() && !now.Before(l.end) {
		delete(g.limits, group)
		return true
	}
	if l.n == 0 {
		return false
	}
	t := now.UnixNano()
	l.counted.dropThrough(t - int64(l.window))
	ok := l.counted.len() < l.n
	if ok || countRejected {
		l.counted.push(t)
	}
	return ok
}

// isBusy reports whether group is busy at now.
func (g *groupLimits) isBusy(group string, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	end, ok := g.busy[group]
	if !ok {
		return false
	}
	if !end.IsZero() && !now.Before(end) {
		delete(g.busy, group)
		return false
	}
	return true
}
