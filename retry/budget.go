package retry

// The Budget composes the other files' parts behind one mutex. Budget.mu
// guards every field below it in Budget and every bucket's state; the
// unexported methods that take "b.mu held" in their doc require it, the
// exported ones take it themselves and never hold it while they sleep.
// The Budget starts no goroutine: callers of Wait sleep on their own
// goroutine, woken by their context, their timer, or changed.

import (
	"context"
	"sync"
	"time"

	"github.com/receiptd/receiptd/receipt"
)

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
	buckets buckets

	mu      sync.Mutex
	own     ownership
	pause   pause
	changed chan struct{} // closed and replaced when share or pause changes
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

// NewBudget returns a Budget, or every problem of cfg. Shared by
// partitions, it sends nothing until SetShare gives it partitions.
func NewBudget(cfg BudgetConfig) (*Budget, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	sched := newSchedule(limitFor(cfg.RPS))
	b := &Budget{
		cfg:     cfg,
		sched:   sched,
		holdoff: sched.round + int64(cfg.Guard),
		buckets: newBuckets(cfg.Actions, cfg.Shared, sched),
		pause:   pause{bo: cfg.Pause.New()},
		changed: make(chan struct{}),
	}
	if !cfg.ShareByPartitions {
		ownAlone(&b.own)
	}
	return b, nil
}

// Wait blocks until one request of action a may be sent, and returns its
// Grant. It returns ctx's error if ctx ends first, and ErrUnknownBucket for
// an action the Budget was not given.
func (b *Budget) Wait(ctx context.Context, a receipt.Action) (Grant, error) {
	bk, err := b.buckets.lookup(a)
	if err != nil {
		return Grant{}, err
	}
	for {
		if err := ctx.Err(); err != nil {
			return Grant{}, err
		}
		b.mu.Lock()
		wake := b.changed
		g, delay, ok := b.try(bk, time.Now())
		b.mu.Unlock()
		if ok {
			return g, nil
		}
		if err := sleep(ctx, delay, wake); err != nil {
			return Grant{}, err
		}
	}
}

// try is one look of Wait: it grants bk a request at now, or returns how
// long to sleep before the next look (-1: until changed is closed). b.mu
// held.
func (b *Budget) try(bk *bucket, now time.Time) (Grant, time.Duration, bool) {
	if d, paused := b.pause.remaining(now); paused {
		return Grant{}, d, false
	}
	bk.recover(now, b.cfg.RecoveryPerSecond)
	v := b.view(now)
	delay, granted, slotted := b.take(bk, now, v)
	if !granted {
		return Grant{}, v.sooner(now, delay), false
	}
	return b.newGrant(bk, now, slotted), 0, true
}

// take asks the pacing that applies at view v for a grant: the former
// floor share's window, the window alone at light load, or else the slots.
// It reports whether the grant came from a slot. b.mu held.
func (b *Budget) take(bk *bucket, now time.Time, v view) (delay time.Duration, granted, slotted bool) {
	switch {
	case b.cfg.FloorShares:
		delay, granted = b.takeWindow(bk, now, v.share)
		return delay, granted, false
	case v.alone && bk.win.grants.live(now) < b.sched.limit/2:
		// Alone at light load: requests leave at once.
		delay, granted = b.takeWindow(bk, now, 1)
		return delay, granted, false
	default:
		delay, granted = b.takeSlot(bk, now, v)
		return delay, granted, true
	}
}

// newGrant returns the Grant of the request take just granted bk. b.mu
// held.
func (b *Budget) newGrant(bk *bucket, now time.Time, slotted bool) Grant {
	g := Grant{b: bk, epoch: bk.epoch, At: now, logged: bk.win.granted, margin: bk.win.margin}
	if slotted {
		g.place, g.margin, g.slotted = bk.slots.granted, bk.slots.grantedBy, true
	}
	return g
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
	now := time.Now()
	if !g.b.decrease(now, g.epoch, b.cfg.RecoveryPerSecond) {
		return 0
	}
	d := b.pause.start(now)
	b.notify()
	return d
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
	until := at.Add(window + g.margin)
	g.b.win.grants.extend(g.logged, until)
	if g.slotted {
		g.b.slots.hold(g.place, until)
	}
}

// Succeeded reports that the request sent under g was accepted. A success
// granted after the last pause ended closes the rate-limit episode, so the
// next one starts again from the initial pause.
func (b *Budget) Succeeded(g Grant) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pause.succeeded(g.At)
}

// Rate returns the current rate of action a in requests per second: its
// ceiling, lowered after rate-limit answers.
func (b *Budget) Rate(a receipt.Action) float64 {
	bk, err := b.buckets.lookup(a)
	if err != nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	bk.recover(now, b.cfg.RecoveryPerSecond)
	return bk.level * b.ceiling(b.view(now))
}

// Ceiling returns the highest rate action a may reach with this pod's
// current share, in requests per second. Across the pods of a group the
// ceilings add up to the whole limit, less the schedule's stretch.
func (b *Budget) Ceiling(a receipt.Action) float64 {
	if _, err := b.buckets.lookup(a); err != nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ceiling(b.view(time.Now()))
}

// Share returns this pod's share of the rate limit of action a: the
// fraction of the partitions whose slots it uses, or 1 when it does not
// share by partitions. Across the pods of a group the shares add up to 1.
func (b *Budget) Share(a receipt.Action) float64 {
	if _, err := b.buckets.lookup(a); err != nil {
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
	return b.pause.runningUntil(time.Now())
}

// notify wakes every waiter. b.mu held.
func (b *Budget) notify() {
	close(b.changed)
	b.changed = make(chan struct{})
}
