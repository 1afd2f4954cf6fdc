package worker

// The live records: Submit takes a record in, complete hands it to the
// Completer once all its parts ended, handOff to the DeadLetterer if one
// failed, and Drain hands back, and forgets, the records still unfinished.
//
// Lock and goroutine contract: each record takes one w.slots token, taken
// in Submit without w.mu (it may block) and given back in untrack, or
// handed with the record to the DeadLetterer. item, the live list and
// w.pending are guarded by w.mu; track, unlink, untrack, complete and
// handOff require it held. Submit may be called from any goroutine; Drain
// from one at a time (the consumer's generation loop). Completer.Done and
// DeadLetterer.DeadLetter are called with w.mu held, as their contracts
// allow.

import (
	"context"
	"time"
)

// item is the Worker's state for one submitted record.
type item struct {
	rec       *Record
	remaining int      // batches that still carry some of its seqs
	failure   *Failure // set when a part failed; the record goes to the DeadLetterer once all parts ended
	abandoned bool     // handed back by Drain: never reported done
	gen       uint64
	ks        *keyState // its key's, for submitted records

	prev, next *item // the Worker's list of live items
}

// Submit adds rec's seqs to the batches. It blocks while MaxPendingRecords
// records are pending, and returns ctx's error if ctx ends first.
func (w *Worker) Submit(ctx context.Context, rec *Record) error {
	if rec == nil || !rec.Key.Action.Valid() || len(rec.Seqs) == 0 {
		return ErrInvalidRecord
	}
	if err := w.slots.Acquire(ctx); err != nil {
		return err
	}
	w.mu.Lock()
	now := time.Now()
	it := w.track(rec)
	it.ks = w.iso.track(rec.Key)
	if reason := w.iso.overShare(rec.Key, it.ks, now); reason != "" {
		// Its key fails alone and such keys hold their share already.
		res := exhausted(it.ks.last, reason)
		it.failure = &Failure{Class: FailExhausted, Code: res.Code, Message: res.Message, RequestID: res.RequestID,
			FailedSeqs: rec.Seqs, FailedAt: now}
		w.handOff(it)
		events := w.iso.takeEvents()
		w.mu.Unlock()
		w.reportFailingAlone(events)
		return nil
	}
	changed := w.b.add(it, w.gen, now)
	events := w.iso.takeEvents()
	w.mu.Unlock()
	if changed {
		signal(w.wake[rec.Key.Action])
	}
	w.reportFailingAlone(events)
	return nil
}

// reportFailingAlone tells the observer of keys failing alone, if it

// track registers a new live item for rec. w.mu held.
func (w *Worker) track(rec *Record) *item {
	it := &item{rec: rec, gen: w.gen}
	it.prev, it.next = w.live.prev, &w.live
	w.live.prev.next = it
	w.live.prev = it
	w.pending++
	w.stats.recordsIn++
	return it
}

// untrack removes a live item and frees its slot. w.mu held.
func (w *Worker) untrack(it *item) {
	w.unlink(it)
	w.slots.Release()
}

// unlink removes a live item, leaving its slot taken. w.mu held.
func (w *Worker) unlink(it *item) {
	it.prev.next = it.next
	it.next.prev = it.prev
	it.prev, it.next = nil, nil
	if it.ks != nil {
		w.iso.untrack(it.rec.Key, it.ks)
		it.ks = nil
	}
	w.pending--
	if w.pending == 0 && w.idle != nil {
		close(w.idle)
		w.idle = nil
	}
}

// complete reports a finished item done. w.mu held.
func (w *Worker) complete(it *item) {
	if it.abandoned {
		return
	}
	w.untrack(it)
	w.stats.recordsDone++
	w.done.Done(it.rec)
}

// handOff gives a failed item, with its slot, to the DeadLetterer. w.mu
// held.
func (w *Worker) handOff(it *item) {
	w.unlink(it)
	w.stats.recordsFailed++
	w.dlq.DeadLetter(it.rec, *it.failure)
}

// Drain makes every open batch ready at once and waits until no record is
// pending or ctx ends. It returns the records still unfinished and forgets
// them: Done is never called for them, later answers to their calls are
// ignored, and the Worker is empty and ready for new records.
func (w *Worker) Drain(ctx context.Context) []*Record {
	w.mu.Lock()
	var idle chan struct{}
	if w.pending > 0 {
		idle = make(chan struct{})
		w.idle = idle
		w.b.flush = true
	}
	w.mu.Unlock()
	if idle != nil {
		for _, ch := range w.wake {
			signal(ch)
		}
		select {
		case <-idle:
		case <-ctx.Done():
		}
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.flush = false
	w.idle = nil
	var unfinished []*Record
	for it := w.live.next; it != &w.live; {
		next := it.next
		it.abandoned = true
		unfinished = append(unfinished, it.rec)
		w.untrack(it)
		it = next
	}
	w.stats.abandoned += uint64(len(unfinished))
	if len(unfinished) > 0 {
		w.gen++
		w.b.reset()
	}
	return unfinished
}
