package retry

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"golang.org/x/time/rate"
)

// maxWindowGrants bounds the grants remembered per bucket for the window.
const maxWindowGrants = 4096

// burstMarginDivisor sets how much longer than the window a grant made
// without pacing counts: a twentieth, 50ms of a one-second window.
const burstMarginDivisor = 20

// ErrUnknownBucket is returned by Wait for a bucket name the Budget was not
// built with.
var ErrUnknownBucket = errors.New("unknown rate bucket")

// BudgetConfig configures a Budget.
type BudgetConfig struct {
	// RPS is the rate the API grants per bucket, in requests per second.
	// Required.
	RPS float64
	// Buckets names the buckets (one per API action). Required.
	Buckets []string
	// Shared makes all buckets draw from one budget, for an API that counts
	// every action against one limit.
	Shared bool
	// ShareByPartitions scales every bucket by the share set with SetShare,
	// so that pods of one consumer group together stay within RPS. When
	// false, SetShare has no effect and this pod uses all of RPS.
	ShareByPartitions bool
	// RecoveryPerSecond is how much of the ceiling, as a fraction, the rate
	// regains per second after a rate-limit answer halved it; overriding the
	// default of 0.05 (from half to full in ten seconds).
	RecoveryPerSecond float64
	// Pause spaces the global pauses that follow rate-limit answers;
	// overriding the default of 1s initial, 30s max.
	Pause Policy
}

// Budget paces requests so that no bucket ever exceeds its ceiling in any
// window of one second, however the server counts: a sliding window over
// the last grants is the hard cap, and once the window is half full a
// token bucket spreads requests evenly. Below half, requests leave at once,
// so that at light load no request waits behind another. The ceiling is RPS times this pod's share of the partitions, rounded
// down to whole requests per second, so the sum over pods never exceeds RPS.
//
// A rate-limit answer halves the bucket's rate and pauses every bucket for a
// backoff interval; the rate then climbs back additively.
//
// A Budget is safe for concurrent use.
type Budget struct {
	cfg     BudgetConfig
	buckets map[string]*bucket
	all     []*bucket

	mu         sync.Mutex
	share      float64
	raiseTo    float64   // a larger share waiting for raiseAt
	raiseAt    time.Time // zero when no raise is pending
	pauseUntil time.Time
	pauses     *backoff.ExponentialBackOff // one episode of rate-limit pauses, guarded by mu
	changed    chan struct{}               // closed and replaced when share or pause changes
}

type bucket struct {
	name    string
	lim     *rate.Limiter
	ceiling float64 // requests/s allowed by the share; 0 stops the bucket
	n       int     // at most n grants within any window
	window  time.Duration
	grants  grantLog

	current     float64 // adaptive rate, <= ceiling
	base        float64 // rate right after the last decrease
	decreasedAt time.Time
	epoch       uint64 // bumped at every decrease
}

// Grant is a permission to send one request, returned by Wait. Pass it back
// to RateLimited or Succeeded with the request's answer.
type Grant struct {
	b     *bucket
	epoch uint64
	At    time.Time
}

// NewBudget returns a Budget. Its share is 1, or 0 until SetShare with
// ShareByPartitions.
func NewBudget(cfg BudgetConfig) (*Budget, error) {
	var errs []error
	if !(cfg.RPS > 0) || math.IsInf(cfg.RPS, 0) {
		errs = append(errs, fmt.Errorf("rate budget: RPS must be a positive number, got %v", cfg.RPS))
	}
	if len(cfg.Buckets) == 0 {
		errs = append(errs, errors.New("rate budget: no buckets"))
	}
	if cfg.RecoveryPerSecond < 0 {
		errs = append(errs, fmt.Errorf("rate budget: RecoveryPerSecond must not be negative, got %v", cfg.RecoveryPerSecond))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.RecoveryPerSecond == 0 {
		cfg.RecoveryPerSecond = 0.05
	}
	if cfg.Pause.Initial == 0 {
		cfg.Pause.Initial = time.Second
	}
	// Shared by partitions, a pod owns nothing until it joins its group; its
	// first share then counts as a raise and waits one window, like any
	// pod gaining partitions at a rebalance.
	share := 1.0
	if cfg.ShareByPartitions {
		share = 0
	}
	b := &Budget{
		cfg:     cfg,
		buckets: make(map[string]*bucket, len(cfg.Buckets)),
		share:   share,
		pauses:  cfg.Pause.New(),
		changed: make(chan struct{}),
	}
	var shared *bucket
	for _, name := range cfg.Buckets {
		if _, dup := b.buckets[name]; dup {
			continue
		}
		bk := shared
		if bk == nil {
			bk = &bucket{name: name, lim: rate.NewLimiter(0, 1)}
			b.all = append(b.all, bk)
			if cfg.Shared {
				shared = bk
			}
		}
		b.buckets[name] = bk
	}
	now := time.Now()
	for _, bk := range b.all {
		b.setCeiling(bk, now)
	}
	return b, nil
}

// SetShare sets this pod's share of the budget to owned/total, typically
// the partitions it owns out of the topic's total. It has no effect unless
// the Budget was built with ShareByPartitions. A share of zero stops all
// sending until a larger share is set.
//
// A smaller share applies at once, counting the grants already made in
// the current window. A larger one applies only one window later: at a
// rebalance the other pods may still have sent at their old, larger shares
// during the last second, and the server counts those too.
func (b *Budget) SetShare(owned, total int) {
	if !b.cfg.ShareByPartitions {
		return
	}
	share := 1.0
	if total > 0 {
		share = math.Max(0, math.Min(1, float64(owned)/float64(total)))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	switch {
	case share > b.share:
		b.raiseTo, b.raiseAt = share, now.Add(b.longestWindow())
		b.notify()
	case share < b.share:
		b.raiseAt = time.Time{}
		b.applyShare(share, now)
	default:
		b.raiseAt = time.Time{}
	}
}

// limit is how many grants bk's window may hold at its current, possibly
// lowered, rate.
func (bk *bucket) limit() int {
	return max(1, min(bk.n, int(bk.current*bk.window.Seconds()+1e-9)))
}

// applyShare makes share the current share. b.mu held.
func (b *Budget) applyShare(share float64, now time.Time) {
	b.share = share
	for _, bk := range b.all {
		b.setCeiling(bk, now)
	}
	b.notify()
}

// applyPendingRaise applies a larger share whose delay has passed. b.mu held.
func (b *Budget) applyPendingRaise(now time.Time) {
	if !b.raiseAt.IsZero() && !now.Before(b.raiseAt) {
		b.raiseAt = time.Time{}
		b.applyShare(b.raiseTo, now)
	}
}

// longestWindow is the longest window of any bucket, at least one second. b.mu held.
func (b *Budget) longestWindow() time.Duration {
	w := time.Second
	for _, bk := range b.all {
		w = max(w, bk.window)
	}
	return w
}

// setCeiling recomputes bk's ceiling and window from the share. b.mu held.
func (b *Budget) setCeiling(bk *bucket, now time.Time) {
	r := b.cfg.RPS * b.share
	perSecond := math.Floor(r + 1e-9)
	n, window := int(perSecond), time.Second
	switch {
	case perSecond < 1 && r > 0:
		// Below one request per second: one request per 1/rate seconds.
		n, window = 1, time.Duration(float64(time.Second)/r)
	case n > maxWindowGrants:
		// Far above any API limit (benchmarks): a shorter window keeps the
		// ring small and the same cap per second.
		n, window = maxWindowGrants, time.Duration(float64(time.Second)*maxWindowGrants/perSecond)
	}
	bk.n, bk.window = n, window
	bk.ceiling = 0
	if n > 0 {
		bk.ceiling = float64(n) / window.Seconds()
	}
	if bk.current == 0 || bk.current > bk.ceiling || bk.decreasedAt.IsZero() {
		bk.current = bk.ceiling
	}
	if bk.base > bk.ceiling {
		bk.base = bk.ceiling
	}
	bk.lim.SetLimitAt(now, rate.Limit(bk.current))
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

// Wait blocks until one request from bucket name may be sent, and returns
// its Grant. It returns ctx's error if ctx ends first, and ErrUnknownBucket
// for a name the Budget does not know.
func (b *Budget) Wait(ctx context.Context, name string) (Grant, error) {
	bk, ok := b.buckets[name]
	if !ok {
		return Grant{}, fmt.Errorf("%w %q", ErrUnknownBucket, name)
	}
	for {
		if err := ctx.Err(); err != nil {
			return Grant{}, err
		}
		b.mu.Lock()
		now := time.Now()
		b.applyPendingRaise(now)
		wake := b.changed
		var delay time.Duration
		switch {
		case now.Before(b.pauseUntil):
			delay = b.pauseUntil.Sub(now)
		case bk.ceiling == 0 && !b.raiseAt.IsZero():
			delay = b.raiseAt.Sub(now) // a share is on its way
		case bk.ceiling == 0:
			delay = -1 // until the share changes
		default:
			b.recover(bk, now)
			limit := bk.limit()
			count := bk.grants.live(now)
			until := now.Add(bk.window)
			switch {
			case count >= limit:
				// Wait until enough grants leave the window for one more.
				delay = bk.grants.nth(count - limit).Sub(now)
			case count < limit/2:
				// Light load: the window has room, so requests that became
				// ready together leave together instead of queueing behind
				// the token bucket. Such a grant holds its place in the
				// window a little longer, so that a request sent when it
				// leaves cannot reach the server within the same second
				// because the network delayed one and not the other.
				bk.lim.AllowN(now, 1)
				until = until.Add(bk.window / burstMarginDivisor)
			case !bk.lim.AllowN(now, 1):
				// Near the ceiling: evenly spaced requests.
				missing := 1 - bk.lim.TokensAt(now)
				delay = time.Duration(missing / float64(bk.lim.Limit()) * float64(time.Second))
			}
			if count >= limit || delay != 0 {
				delay = max(delay, time.Microsecond) // a positive wait: never spin
			}
			if delay == 0 {
				bk.grants.add(until)
				g := Grant{b: bk, epoch: bk.epoch, At: now}
				b.mu.Unlock()
				return g, nil
			}
		}
		b.mu.Unlock()
		if err := sleep(ctx, delay, wake); err != nil {
			return Grant{}, err
		}
	}
}

// recover lets bk's rate climb back towards its ceiling. b.mu held.
func (b *Budget) recover(bk *bucket, now time.Time) {
	if bk.current >= bk.ceiling {
		return
	}
	step := b.cfg.RecoveryPerSecond * bk.ceiling * now.Sub(bk.decreasedAt).Seconds()
	r := math.Min(bk.ceiling, bk.base+step)
	if r > bk.current {
		bk.current = r
		bk.lim.SetLimitAt(now, rate.Limit(r))
	}
}

// RateLimited reports that the request sent under g was answered "too
// fast". The first such answer for requests granted since the last decrease
// halves the bucket's rate and pauses every bucket for the next backoff
// interval; later answers for requests that were already in flight are
// counted as part of the same episode. It returns the pause started, or 0.
func (b *Budget) RateLimited(g Grant) time.Duration {
	if g.b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	bk := g.b
	if g.epoch != bk.epoch {
		return 0
	}
	now := time.Now()
	b.recover(bk, now)
	bk.epoch++
	floor := math.Max(bk.ceiling/32, 0.05)
	bk.current = math.Max(floor, bk.current/2)
	bk.base = bk.current
	bk.decreasedAt = now
	bk.lim.SetLimitAt(now, rate.Limit(bk.current))
	pause := b.pauses.NextBackOff()
	if until := now.Add(pause); until.After(b.pauseUntil) {
		b.pauseUntil = until
	}
	b.notify()
	return pause
}

// Succeeded reports that the request sent under g was accepted. A success
// granted after the last pause ended closes the rate-limit episode, so the
// next one starts again from the initial pause.
func (b *Budget) Succeeded(g Grant) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.pauseUntil.IsZero() && g.At.After(b.pauseUntil) {
		b.pauses.Reset()
		b.pauseUntil = time.Time{}
	}
}

// Rate returns the current rate of bucket name in requests per second.
func (b *Budget) Rate(name string) float64 {
	bk, ok := b.buckets[name]
	if !ok {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	b.applyPendingRaise(now)
	b.recover(bk, now)
	return bk.current
}

// Ceiling returns the highest rate bucket name may reach with this pod's
// current share, in requests per second.
func (b *Budget) Ceiling(name string) float64 {
	bk, ok := b.buckets[name]
	if !ok {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.applyPendingRaise(time.Now())
	return bk.ceiling
}

// PausedUntil returns the end of the current rate-limit pause, or the zero
// time when none is running.
func (b *Budget) PausedUntil() time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	if time.Now().Before(b.pauseUntil) {
		return b.pauseUntil
	}
	return time.Time{}
}

// notify wakes every waiter. b.mu held.
func (b *Budget) notify() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// sleep waits for d (forever when d < 0), for wake, or for ctx.
func sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) error {
	var timeout <-chan time.Time
	if d >= 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timeout:
	case <-wake:
	}
	return nil
}
