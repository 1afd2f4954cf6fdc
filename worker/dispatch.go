package worker

// The dispatch loop: one goroutine per action (started by Run) picks that
// action's oldest ready batch and hands it to a caller (callers.go).
//
// Lock and goroutine contract: a dispatcher takes w.mu only to read or
// pop the batcher and to count the batch in flight; it waits (for a ready
// batch, the systemic gate, the pacer, a caller) with w.mu released. It
// holds one w.inflight slot from before the pacer's grant until it hands
// the batch over; the caller that takes the batch releases the slot. The
// timer passed around belongs to the one dispatcher that made it.

import (
	"context"
	"time"

	"github.com/receiptd/receiptd/receipt"
	"github.com/receiptd/receiptd/retry"
)

// dispatch sends action a's batches, oldest ready first, until ctx ends.
// It takes the rate budget's grant before it picks the batch, so that the
// batch keeps absorbing seqs for as long as the budget makes it wait.
func (w *Worker) dispatch(ctx context.Context, a receipt.Action) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		if !w.waitReady(ctx, a, timer) {
			return
		}
		select {
		case w.inflight <- struct{}{}:
		case <-ctx.Done():
			return
		}
		probe, ok := w.waitGate(ctx, timer)
		if !ok {
			<-w.inflight
			return
		}
		var g retry.Grant
		if w.pacer != nil {
			var err error
			if g, err = w.pacer.Wait(ctx, a); err != nil {
				w.endProbe(probe)
				<-w.inflight
				if ctx.Err() != nil {
					return
				}
				// A pacer without this action's bucket is a wiring bug; do
				// not spin on it.
				if retry.Sleep(ctx, time.Second) != nil {
					return
				}
				continue
			}
		}
		w.mu.Lock()
		now := time.Now()
		b := w.b.pop(a, now)
		if b == nil {
			// Drain abandoned the batch while this goroutine waited, or its
			// group's hold began meanwhile.
			w.mu.Unlock()
			w.endProbe(probe)
			<-w.inflight
			continue
		}
		b.attempts++
		if b.attempts == 1 {
			b.firstAttempt = now
		}
		w.stats.inFlight++
		w.mu.Unlock()
		select {
		case w.calls <- call{b: b, g: g, probe: probe}:
		case <-ctx.Done():
			// Shutting down: the records stay unfinished and uncommitted.
			w.mu.Lock()
			w.stats.inFlight--
			w.mu.Unlock()
			<-w.inflight
			return
		}
	}
}

// waitReady blocks until action a has a ready batch; false when ctx ended.
func (w *Worker) waitReady(ctx context.Context, a receipt.Action, timer *time.Timer) bool {
	for {
		w.mu.Lock()
		now := time.Now()
		ready, at := w.b.next(a, now)
		w.mu.Unlock()
		if ready {
			return true
		}
		var fire <-chan time.Time
		if !at.IsZero() {
			timer.Reset(at.Sub(now))
			fire = timer.C
		}
		select {
		case <-ctx.Done():
			timer.Stop()
			return false
		case <-w.wake[a]:
		case <-fire:
		}
		timer.Stop()
	}
}
