package worker

// The outcome policy: what follows each answer, by class (done, retry,
// split, hold, pause or dead-letter), and the bookkeeping that finishes a
// record once every batch carrying its seqs has ended.
//
// Lock contract: every function here requires w.mu held; they run on the
// caller goroutine that got the answer (act, through handle) or on whoever
// holds w.mu while a record ends (partDone). They never block and never
// call the Observer; a record that failed goes to the DeadLetterer, whose
// DeadLetter never blocks (records.go, handOff).

import (
	"github.com/receiptd/receiptd/receipt"
	"time"

	"github.com/receiptd/receiptd/retry"
)

// act decides what follows the outcome res of sending b. w.mu held.
func (w *Worker) act(b *batch, g retry.Grant, probe bool, res receipt.Result) (CallEvent, *SystemicEvent) {
	now := time.Now()
	n := len(b.seqs)
	w.stats.inFlight--
	w.stats.calls++
	w.stats.seqsSent += uint64(n)
	if res.Class.Known() == res.Class {
		w.stats.byClass[res.Class]++
	}
	ev := CallEvent{Key: b.key, Seqs: n, Records: len(b.parts), Attempt: b.attempts, Result: res}

	class := res.Class.Known()
	switch {
	case class == receipt.ClassResign && b.resigned:
		class = receipt.ClassSystemic // a fresh signature expired too: the clock is off
	case class == receipt.ClassTooMany && n <= 1:
		class = receipt.ClassUnknown // cannot split further
	}
	// "Twice in a row": any other answer in between starts the count anew.
	b.resigned = res.Class == receipt.ClassResign
	if w.pacer != nil {
		w.pacer.Sent(g, res.Sent)
		// Only the app's limits slow the action; a group's limit is the
		// group's business (holds).
		switch class {
		case receipt.ClassRateLimited:
			ev.RateLimitPause = w.pacer.RateLimited(g)
		case receipt.ClassSuccess:
			w.pacer.Succeeded(g)
		}
	}
	switch class {
	case receipt.ClassRateLimited:
		w.stats.rateLimited++
	case receipt.ClassGroupRateLimited:
		w.stats.groupRateLimited++
	}
	sys := w.updateSystemic(class, probe, now, res)
	var deadReason string // the key failed alone: its records go to the DLQ
	switch class {
	case receipt.ClassSuccess:
		w.iso.succeeded(b.key, now)
	case receipt.ClassDeadLetter, receipt.ClassTooMany:
		w.iso.settled(b.key)
	case receipt.ClassTransient:
		if b.gen == w.gen {
			deadReason = w.iso.failed(b.key, res, now)
		}
	}
	retryAt := w.updateHolds(b, class, res, deadReason, now)

	if b.gen != w.gen {
		ev.Next = NextDropped
		return ev, sys
	}
	switch class {
	case receipt.ClassSuccess:
		w.stats.seqsAcked += uint64(n)
		ev.Next = NextDone
		for _, it := range b.parts {
			if it.remaining == 1 && it.failure == nil && !it.abandoned && !it.rec.ReadAt.IsZero() {
				ev.ReadToReceipt = append(ev.ReadToReceipt, max(now.Sub(it.rec.ReadAt), 0))
			}
			w.partDone(it)
		}
	case receipt.ClassRateLimited:
		// The pacer's pause holds every dispatcher; retry at its end.
		ev.Next, ev.RetryIn = NextRetry, ev.RateLimitPause
		w.requeue(b, now)
	case receipt.ClassGroupRateLimited:
		if retryAt.IsZero() {
			retryAt = now.Add(w.backoff(b)) // a c2c key has no group: it alone backs off
		}
		ev.Next, ev.RetryIn = NextRetry, retryAt.Sub(now)
		w.requeue(b, retryAt)
	case receipt.ClassTransient:
		if deadReason != "" {
			ev.Next, ev.Reason = NextDeadLetter, deadReason
			w.fail(b, FailExhausted, exhausted(res, deadReason), now)
			break
		}
		ev.Next, ev.RetryIn = NextRetry, retryAt.Sub(now)
		w.requeue(b, retryAt)
	case receipt.ClassResign:
		b.resigned = true
		ev.Next = NextRetry
		w.requeue(b, now)
	case receipt.ClassTooMany:
		ev.Next = NextSplit
		w.split(b, now)
	case receipt.ClassDeadLetter:
		ev.Next = NextDeadLetter
		w.fail(b, FailRejected, res, now)
	case receipt.ClassSystemic:
		ev.Next, ev.RetryIn = NextPause, w.sys.probeAt.Sub(now)
		w.requeue(b, now)
	default: // ClassUnknown
		b.unknowns++
		if b.unknowns >= w.cfg.UnknownMaxAttempts {
			ev.Next = NextDeadLetter
			w.fail(b, FailExhausted, res, now)
		} else {
			ev.Next, ev.RetryIn = NextRetry, w.backoff(b)
			w.requeue(b, now.Add(ev.RetryIn))
		}
	}
	return ev, sys
}

// updateHolds moves the holds of b's group and key on after an answer of
// class and returns when b may be sent again under them (zero when no hold
// applies). When b's key is being dead-lettered (deadReason), its hold ends
// and the batches waiting under it are dead-lettered with b. w.mu held.
func (w *Worker) updateHolds(b *batch, class receipt.Class, res receipt.Result, deadReason string, now time.Time) time.Time {
	if deadReason != "" {
		if g := w.holds.end(b.key); g != nil {
			for _, held := range w.b.takeHeld(g) {
				w.fail(held, FailExhausted, exhausted(res, deadReason), now)
			}
		}
		return time.Time{}
	}
	retryAt, released := w.holds.answered(b, class, now)
	for _, r := range released {
		w.b.releaseHold(r.h, r.at)
	}
	if len(released) > 0 {
		for _, ch := range w.wake {
			signal(ch)
		}
	}
	return retryAt
}

func (w *Worker) backoff(b *batch) time.Duration {
	if b.bo == nil {
		b.bo = w.cfg.Backoff.New()
	}
	return b.bo.NextBackOff()
}

// requeue sends b again once notBefore has passed. w.mu held.
func (w *Worker) requeue(b *batch, notBefore time.Time) {
	w.b.retryAt(b, notBefore)
	signal(w.wake[b.key.Action])
}

// split replaces b by its two halves, each sent again at once. w.mu held.
func (w *Worker) split(b *batch, now time.Time) {
	half := len(b.seqs) / 2
	for _, seqs := range [][]uint64{b.seqs[:half], b.seqs[half:]} {
		w.b.lastID++
		nb := &batch{
			key: b.key, seqs: append([]uint64(nil), seqs...), created: b.created,
			id: w.b.lastID, gen: b.gen, attempts: b.attempts, unknowns: b.unknowns,
			firstAttempt: b.firstAttempt, resigned: b.resigned,
		}
		for _, it := range b.parts {
			if intersects(it.rec.Seqs, nb.seqs) {
				nb.parts = append(nb.parts, it)
				it.remaining++
			}
		}
		w.requeue(nb, now)
	}
	for _, it := range b.parts {
		w.partDone(it)
	}
}

// fail marks b's part of every record it carries as failed. w.mu held.
func (w *Worker) fail(b *batch, class FailureClass, res receipt.Result, now time.Time) {
	for _, it := range b.parts {
		seqs := intersection(it.rec.Seqs, b.seqs)
		if it.failure == nil {
			it.failure = &Failure{
				Class: class, Code: res.Code, Message: res.Message, RequestID: res.RequestID,
				FailedSeqs: seqs, Attempts: b.attempts, FirstAttemptAt: b.firstAttempt, FailedAt: now,
			}
			if res.Err != nil && it.failure.Message == "" {
				it.failure.Message = res.Err.Error()
			}
		} else {
			it.failure.FailedSeqs = union(it.failure.FailedSeqs, seqs)
			it.failure.Attempts = max(it.failure.Attempts, b.attempts)
		}
		w.partDone(it)
	}
}

// partDone records that one of it's batches ended; the last one finishes
// it. w.mu held.
func (w *Worker) partDone(it *item) {
	it.remaining--
	if it.remaining > 0 || it.abandoned {
		return
	}
	if it.failure != nil {
		w.handOff(it)
		return
	}
	w.complete(it)
}
