package worker

// The caller pool: MaxInFlight goroutines, started by Run for the Worker's
// life, each making the calls the dispatchers hand it over w.calls.
//
// Lock and goroutine contract: a caller sends with w.mu released, then
// takes w.mu once to act on the answer (outcome.go, pause.go) and reports
// to the Observer after releasing it. It releases the w.inflight slot that
// came with the call only when it is free again, so that a dispatcher
// holding a slot always finds a caller.

import (
	"context"

	"github.com/receiptd/receiptd/receipt"
	"github.com/receiptd/receiptd/retry"
)

// call is one batch handed from a dispatcher to a caller, with the grant
// and the probe it is sent under.
type call struct {
	b     *batch
	g     retry.Grant
	probe bool
}

// caller makes the calls the dispatchers hand it until ctx ends.
func (w *Worker) caller(ctx context.Context) {
	for {
		select {
		case c := <-w.calls:
			w.send(ctx, c.b, c.g, c.probe)
		case <-ctx.Done():
			return
		}
	}
}

// send makes one call and acts on its outcome.
func (w *Worker) send(ctx context.Context, b *batch, g retry.Grant, probe bool) {
	res := w.sender.Send(ctx, receipt.Request{Key: b.key, Seqs: b.seqs})
	// The slot is released when this caller is free again, after acting on
	// the answer, so that a dispatcher holding a slot always finds a caller.
	defer func() { <-w.inflight }()
	if ctx.Err() != nil {
		// Shutting down: the records stay unfinished and uncommitted.
		w.mu.Lock()
		w.stats.inFlight--
		w.mu.Unlock()
		return
	}
	ev, sys, alone := w.handle(b, g, probe, res)
	if sys != nil {
		w.obs.OnSystemic(*sys)
	}
	w.reportFailingAlone(alone)
	w.obs.OnCall(ev)
}

// handle acts on the outcome of sending b and says what it did.
func (w *Worker) handle(b *batch, g retry.Grant, probe bool, res receipt.Result) (CallEvent, *SystemicEvent, []FailingAloneEvent) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ev, sys := w.act(b, g, probe, res)
	return ev, sys, w.iso.takeEvents()
}
