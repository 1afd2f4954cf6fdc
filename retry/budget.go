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
	// ShareByPartitions shares RPS between the pods of one consumer group
	// by the partitions each owns (see SetShare), through the slot
	// schedule. When false, SetShare has no effect and this pod uses all
	// of RPS alone.
	ShareByPartitions bool
	// Guard is how long a request may take to reach the API after it
	// leaves: a pod that gains a partition at a rebalance waits a round
	// (the window and a little more) plus Guard before it uses the
	// partition's slots, so that the previous owner's last requests cannot
	// meet its first. Overriding the default of DefaultGuard; at most
	// MaxGuard. Pods of one group must use the same RPS.
	Guard time.Duration
	// ClockOffset shifts this pod's reading of the wall clock. Only for
	// tests and benchmarks that simulate pods whose clocks disagree.
	ClockOffset time.Duration
	// FloorShares selects the former partition share: RPS times the share
	// of partitions, rounded down to whole requests per second, in a
	// window of its own. Only for the benchmark's baseline.
	FloorShares bool
	// RecoveryPerSecond is how much of the ceiling, as a fraction, the rate
	// regains per second after a rate-limit answer halved it; overriding the
	// default of 0.05 (from half to full in ten seconds).
	RecoveryPerSecond float64
	// Pause spaces the global pauses that follow rate-limit answers;
	// overriding the default of 1s initial, 30s max.
	Pause Policy
}

// Budget paces requests so that no bucket ever exceeds RPS in any window
// of one second, however the server counts, retries included.
//
// Requests leave in the slots of the slot schedule (see schedule.go), each
// in a slot of a partition the pod owns. Pods that share the rate by
// partitions together use the whole limit, less about 2 %, for any number
// of pods, and never more, as long as their clocks agree within half a
// second. A pod that uses the whole rate (alone, or owning every
// partition) lets requests leave at once while fewer than half of the last
// window's places are taken, so that at light load no request waits behind
// another, and uses its slots from there.
//
// Every grant also holds its place in a sliding window of the pod's own,
// the hard cap on its calls in any window of the server.
//
// A rate-limit answer halves the bucket's rate on this pod and pauses
// every bucket for a backoff interval; the rate then climbs back
// additively.
//
// A Budget is safe for concurrent use.
type Budget struct {
	cfg     BudgetConfig
	sched   schedule
	holdoff int64 // ns a newly owned partition waits before its slots are used
	buckets map[string]*bucket
	all     []*bucket

	mu         sync.Mutex
	own        ownership
	pauseUntil time.Time
	pauses     *backoff.ExponentialBackOff // one episode of rate-limit pauses, guarded by mu
	changed    chan struct{}               // closed and replaced when share or pause changes
}

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

// Grant is a permission to send one request, returned by Wait. Pass it back
// to Sent, and to RateLimited or Succeeded, with the request's answer.
type Grant struct {
	b       *bucket
	epoch   uint64
	place   place         // in the slot schedule, if slotted
	margin  time.Duration // beyond a window, how long it holds its place
	slotted bool
	logged  uint64 // its entry in the bucket's window
	At      time.Time
}

// NewBudget returns a Budget. Shared by partitions, it sends nothing until
// SetShare gives it partitions.
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
	if cfg.Guard < 0 || cfg.Guard > MaxGuard {
		errs = append(errs, fmt.Errorf("rate budget: Guard must be between 0 and %v, got %v", MaxGuard, cfg.Guard))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Guard == 0 {
		cfg.Guard = DefaultGuard
	}
	if cfg.RecoveryPerSecond == 0 {
		cfg.RecoveryPerSecond = 0.05
	}
	if cfg.Pause.Initial == 0 {
		cfg.Pause.Initial = time.Second
	}
	sched := newSchedule(limitFor(cfg.RPS))
	b := &Budget{
		cfg:     cfg,
		sched:   sched,
		holdoff: sched.round + int64(cfg.Guard),
		buckets: make(map[string]*bucket, len(cfg.Buckets)),
		pauses:  cfg.Pause.New(),
		changed: make(chan struct{}),
	}
	if !cfg.ShareByPartitions {
		// Alone by configuration: the only partition, owned since ever.
		b.own.set([]int{0}, 1, math.MinInt64, 0)
	}
	var shared *bucket
	for _, name := range cfg.Buckets {
		if _, dup := b.buckets[name]; dup {
			continue
		}
		bk := shared
		if bk == nil {
			// A burst of two lets the token bucket make up for a late
			// wake-up; the window is the cap.
			bk = &bucket{name: name, level: 1, win: windowState{lim: rate.NewLimiter(0, 2)}, slots: newSlotState(sched)}
			b.all = append(b.all, bk)
			if cfg.Shared {
				shared = bk
			}
		}
		b.buckets[name] = bk
	}
	return b, nil
}

// SetShare sets the partitions this pod owns, out of total, at a
// rebalance. It has no effect unless the Budget was built with
// ShareByPartitions. With no partitions the pod sends nothing.
//
// Partitions the pod keeps stay in use. Slots of a partition it loses are
// not used from now on; those of a partition it gains are used only after
// a round plus the Guard (a second and a little more): the previous owner
// may have called in them during the last second, and the server counts
// those calls too. A change of total starts every partition anew.
func (b *Budget) SetShare(partitions []int, total int) {
	if !b.cfg.ShareByPartitions {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.wall(time.Now())
	b.own.set(partitions, max(total, 1), now, b.holdoff)
	b.own.forget(now - 2*b.sched.round)
	b.notify()
}

// wall returns t as Unix nanoseconds of this pod's wall clock.
func (b *Budget) wall(t time.Time) int64 { return t.Add(b.cfg.ClockOffset).UnixNano() }

// view is what this pod may send at one moment.
type view struct {
	share float64 // of the limit: usable partitions / all partitions
	// alone: the pod uses every partition, so no other pod calls; it may
	// then burst at light load.
	alone bool
	grows time.Time // when a partition waiting out its holdoff joins; zero if none
}

// view returns this pod's view at now. b.mu held.
func (b *Budget) view(now time.Time) view {
	wall := b.wall(now)
	a := b.own.current()
	if a == nil {
		return view{}
	}
	usable, pending := a.usableNow(wall)
	v := view{share: float64(len(usable)) / float64(a.total), alone: len(usable) == a.total}
	if pending != 0 {
		v.grows = now.Add(time.Duration(pending - wall))
	}
	return v
}

// ceiling returns the highest rate, in requests per second, this pod may
// reach with its share. b.mu held.
func (b *Budget) ceiling(v view) float64 {
	share := v.share
	switch {
	case v.alone && !b.cfg.FloorShares:
		share = 1
	case !b.cfg.FloorShares:
		return b.sched.ceiling(v.share)
	}
	n, window := windowFor(b.cfg.RPS, share)
	if n == 0 {
		return 0
	}
	return float64(n) / window.Seconds()
}

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
		wake := b.changed
		var delay time.Duration
		if now.Before(b.pauseUntil) {
			delay = b.pauseUntil.Sub(now)
		} else {
			b.recover(bk, now)
			v := b.view(now)
			var granted, slotted bool
			switch {
			case b.cfg.FloorShares:
				delay, granted = b.takeWindow(bk, now, v.share)
			case v.alone && bk.win.grants.live(now) < b.sched.limit/2:
				// Alone at light load: requests leave at once.
				delay, granted = b.takeWindow(bk, now, 1)
			default:
				delay, granted = b.takeSlot(bk, now, v)
				slotted = true
			}
			if granted {
				g := Grant{b: bk, epoch: bk.epoch, At: now, logged: bk.win.granted, margin: bk.win.margin}
				if slotted {
					g.place, g.margin, g.slotted = bk.slots.granted, bk.slots.grantedBy, true
				}
				b.mu.Unlock()
				return g, nil
			}
			// A partition coming out of its holdoff changes the picture.
			if !v.grows.IsZero() && (delay < 0 || v.grows.Sub(now) < delay) {
				delay = max(v.grows.Sub(now), time.Microsecond)
			}
		}
		b.mu.Unlock()
		if err := sleep(ctx, delay, wake); err != nil {
			return Grant{}, err
		}
	}
}

// minLevel is the lowest fraction of the ceiling that rate-limit answers
// bring a bucket's rate down to.
const minLevel = 1.0 / 32

// recover lets bk's rate climb back towards its ceiling. b.mu held.
func (b *Budget) recover(bk *bucket, now time.Time) {
	if bk.level >= 1 {
		return
	}
	bk.level = math.Min(1, bk.base+b.cfg.RecoveryPerSecond*now.Sub(bk.decreasedAt).Seconds())
}

// RateLimited reports that the request sent under g was answered "too
// fast". The first such answer for requests granted since the last decrease
// halves the bucket's rate on this pod and pauses every bucket for the next
// backoff interval; later answers for requests that were already in flight
// are counted as part of the same episode. It returns the pause started,
// or 0.
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
	bk.level = math.Max(minLevel, bk.level/2)
	bk.base = bk.level
	bk.decreasedAt = now
	pause := b.pauses.NextBackOff()
	if until := now.Add(pause); until.After(b.pauseUntil) {
		b.pauseUntil = until
	}
	b.notify()
	return pause
}

// Sent reports when the request made under g was written to the API's
// connection (zero if it never was), once its answer is in. A request
// written late, after a slow connection set-up or while the process was
// busy, reaches the server late too: its slot's next request then waits
// until a window and the grant's margin after the write, not after the
// grant. A slot whose next request already left is not held back.
func (b *Budget) Sent(g Grant, at time.Time) {
	if g.b == nil || !at.After(g.At) {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	window := time.Duration(b.sched.window)
	if b.cfg.FloorShares || !g.slotted {
		_, window = windowFor(b.cfg.RPS, 1)
	}
	g.b.win.grants.extend(g.logged, at.Add(window+g.margin))
	if !g.slotted {
		return
	}
	st, pl := &g.b.slots, g.place
	if st.round[pl.j] != pl.r || pl.i >= st.used[pl.j] {
		return
	}
	st.free[pl.j][pl.i] = later(st.free[pl.j][pl.i], at.Add(window+g.margin))
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

// Rate returns the current rate of bucket name in requests per second: its
// ceiling, lowered after rate-limit answers.
func (b *Budget) Rate(name string) float64 {
	bk, ok := b.buckets[name]
	if !ok {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	b.recover(bk, now)
	return bk.level * b.ceiling(b.view(now))
}

// Ceiling returns the highest rate bucket name may reach with this pod's
// current share, in requests per second. Across the pods of a group the
// ceilings add up to the whole limit, less the schedule's stretch.
func (b *Budget) Ceiling(name string) float64 {
	if _, ok := b.buckets[name]; !ok {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ceiling(b.view(time.Now()))
}

// Share returns this pod's share of the rate limit of bucket name: the
// fraction of the partitions whose slots it uses, or 1 when it does not
// share by partitions. Across the pods of a group the shares add up to 1.
func (b *Budget) Share(name string) float64 {
	if _, ok := b.buckets[name]; !ok {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.view(time.Now()).share
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
