// Package worker turns receipt records into the fewest ZIM calls the rate
// budget allows and decides what happens to every outcome: it batches seqs
// per (action, reader, conversation), sends the oldest ready batch first,
// retries, splits or dead-letters by outcome class, and reports each record
// done exactly once, after all its parts have finished.
//
// The Worker knows neither Kafka nor HTTP: it talks to the rest of receiptd
// through the Sender, DeadLetterer, Completer and Pacer interfaces.
package worker

// Lock and goroutine contract. w.mu guards every field below it in Worker:
// the batcher, the holds, the isolation state, the systemic pause, the
// live records and the counters. It is
// held only for bookkeeping, never across a call, a dead-letter write, an
// Observer call or a wait. The fields above it are set by New and never
// change; the channels they hold are safe for concurrent use.
//
// Run owns every goroutine of the Worker: one dispatcher per action
// (dispatch.go) and MaxInFlight callers (callers.go); it returns after all
// of them have. Submit, Drain and the accessors are called from other
// goroutines (the consumer's fetchers, its generation loop, metrics). The
// DeadLetterer and the Completer are called with w.mu held; their
// contracts keep them quick and out of the Worker.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/receiptd/receiptd/receipt"
	"github.com/receiptd/receiptd/retry"
)

// ErrInvalidRecord is returned by Submit for a record without a valid
// action or without seqs: a bug in the caller, never a data problem, since
// the caller validates events.
var ErrInvalidRecord = errors.New("invalid record")

// Pacer decides when a request may leave. *retry.Budget implements it.
type Pacer interface {
	// Wait blocks until one request for bucket may be sent.
	Wait(ctx context.Context, a receipt.Action) (retry.Grant, error)
	// RateLimited reports a rate-limit answer to a request sent under g and
	// returns the global pause it started, if any.
	RateLimited(g retry.Grant) time.Duration
	// Succeeded reports a successful answer to a request sent under g.
	Succeeded(g retry.Grant)
	// Sent reports when the request made under g was written, after its
	// answer; zero if it never was.
	Sent(g retry.Grant, at time.Time)
	// SetShare sets the partitions this pod owns, out of total: its share
	// of the rate.
	SetShare(partitions []int, total int)
}

// Worker batches records, sends them through a Sender within a Pacer's
// budget, and reports each record to a Completer. Its methods are safe for
// concurrent use. Run must be running for records to make progress.
type Worker struct {
	cfg    Config
	sender Sender
	dlq    DeadLetterer
	done   Completer
	pacer  Pacer // nil: no pacing
	obs    Observer

	slots    *Slots        // one per pending record: the memory bound
	inflight chan struct{} // one per request under way
	calls    chan call     // dispatchers hand batches to the callers; unbuffered
	wake     [len(receipt.Actions) + 1]chan struct{}

	mu      sync.Mutex
	b       *batcher
	gen     uint64 // bumped by Drain: older batches and items are abandoned
	live    item   // sentinel of the list of live items
	pending int
	idle    chan struct{} // closed when pending reaches zero during Drain
	sys     systemic
	holds   *holds
	iso     isolation
	stats   counters
}

// New returns a Worker sending through sender, dead-lettering through dlq
// and reporting done records to done; opts add a Pacer (WithPacer) and an
// Observer (WithObserver).
func New(cfg Config, sender Sender, dlq DeadLetterer, done Completer, opts ...Option) (*Worker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("worker config: %w", err)
	}
	if sender == nil || dlq == nil || done == nil {
		return nil, errors.New("worker: sender, dead-letterer and completer are required")
	}
	cfg.setDefaults()
	w := &Worker{
		cfg: cfg, sender: sender, dlq: dlq, done: done, obs: NopObserver{},
		slots:    cfg.Slots,
		inflight: make(chan struct{}, cfg.MaxInFlight),
		calls:    make(chan call),
		holds:    newHolds(cfg.Backoff),
	}
	if w.slots == nil {
		w.slots = NewSlots(cfg.MaxPendingRecords)
	}
	w.b = newBatcher(cfg.MaxSeqsPerCall, cfg.Linger, w.holds)
	for i := range w.wake {
		w.wake[i] = make(chan struct{}, 1)
	}
	w.live.next, w.live.prev = &w.live, &w.live
	w.sys.bo = cfg.SystemicBackoff.New()
	w.iso = newIsolation(cfg.IsolatedFailureMaxAge, cfg.MaxPendingRecords)
	for _, o := range opts {
		o.apply(w)
	}
	return w, nil
}

// Run dispatches batches until ctx ends, then
// waits for its goroutines and returns nil. Calls under way are cancelled;
// their records stay unfinished.
func (w *Worker) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, a := range receipt.Actions {
		wg.Go(func() { w.dispatch(ctx, a) })
	}
	// One caller per in-flight slot, for the Worker's life: a goroutine
	// started per call would grow its stack anew through the HTTP client
	// on every call.
	for range w.cfg.MaxInFlight {
		wg.Go(func() { w.caller(ctx) })
	}
	wg.Wait()
	return nil
}

// SetShare sets the partitions this pod owns, out of total: its share of
// the rate budget.
func (w *Worker) SetShare(partitions []int, total int) {
	if w.pacer != nil {
		w.pacer.SetShare(partitions, total)
	}
}

// Ready reports whether dispatch is running, that is, not paused for a
// systemic outcome.
func (w *Worker) Ready() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return !w.sys.paused
}

// signal wakes the goroutine waiting on ch, if it is not already woken.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
