package worker

import (
	"context"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/receiptd/receiptd/retry"
)

// systemic is the state of the pause that a systemic outcome starts.
type systemic struct {
	paused  bool
	probing bool // a probe is under way
	probeAt time.Time
	bo      *backoff.ExponentialBackOff // spaces probes; owned by the pause, guarded by w.mu
	changed chan struct{}               // closed and replaced on every change
}

func (s *systemic) notify() {
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
}

func (s *systemic) wait() <-chan struct{} {
	if s.changed == nil {
		s.changed = make(chan struct{})
	}
	return s.changed
}

// dispatch sends action a's batches, oldest ready first, until ctx ends.
// It takes the rate budget's grant before it picks the batch, so that the
// batch keeps absorbing seqs for as long as the budget makes it wait.
func (w *Worker) dispatch(ctx context.Context, a Action) {
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
			if g, err = w.pacer.Wait(ctx, a.String()); err != nil {
				w.endProbe(probe)
				<-w.inflight
				if ctx.Err() != nil {
					return
				}
				// A pacer without this action's bucket is a wiring bug; do
				// not spin on it.
				if !sleepCtx(ctx, timer, time.Second) {
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

// waitReady blocks until action a has a ready batch; false when ctx ended.
func (w *Worker) waitReady(ctx context.Context, a Action, timer *time.Timer) bool {
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

// waitGate blocks while dispatch is paused for a systemic outcome. When the
// next probe is due, it lets exactly one caller through as the probe.
func (w *Worker) waitGate(ctx context.Context, timer *time.Timer) (probe, ok bool) {
	for {
		w.mu.Lock()
		if !w.sys.paused {
			w.mu.Unlock()
			return false, true
		}
		now := time.Now()
		if !w.sys.probing && !now.Before(w.sys.probeAt) {
			w.sys.probing = true
			w.mu.Unlock()
			return true, true
		}
		changed := w.sys.wait()
		var fire <-chan time.Time
		if !w.sys.probing {
			timer.Reset(w.sys.probeAt.Sub(now))
			fire = timer.C
		}
		w.mu.Unlock()
		select {
		case <-ctx.Done():
			timer.Stop()
			return false, false
		case <-changed:
		case <-fire:
		}
		timer.Stop()
	}
}

// endProbe gives the probe back when no request was sent under it.
func (w *Worker) endProbe(probe bool) {
	if !probe {
		return
	}
	w.mu.Lock()
	w.sys.probing = false
	w.sys.notify()
	w.mu.Unlock()
}

// send makes one call and acts on its outcome.
func (w *Worker) send(ctx context.Context, b *batch, g retry.Grant, probe bool) {
	res := w.sender.Send(ctx, Request{Key: b.key, Seqs: b.seqs})
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
func (w *Worker) handle(b *batch, g retry.Grant, probe bool, res Result) (CallEvent, *SystemicEvent, []FailingAloneEvent) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ev, sys := w.act(b, g, probe, res)
	return ev, sys, w.iso.takeEvents()
}

// act decides what follows the outcome res of sending b. w.mu held.
func (w *Worker) act(b *batch, g retry.Grant, probe bool, res Result) (CallEvent, *SystemicEvent) {
	now := time.Now()
	n := len(b.seqs)
	w.stats.inFlight--
	w.stats.calls++
	w.stats.seqsSent += uint64(n)
	if res.Class < numClasses {
		w.stats.byClass[res.Class]++
	}
	ev := CallEvent{Key: b.key, Seqs: n, Records: len(b.parts), Attempt: b.attempts, Result: res}

	class := res.Class
	switch {
	case class == ClassResign && b.resigned:
		class = ClassSystemic // a fresh signature expired too: the clock is off
	case class == ClassTooMany && n <= 1:
		class = ClassUnknown // cannot split further
	case class >= numClasses:
		class = ClassUnknown
	}
	// "Twice in a row": any other answer in between starts the count anew.
	b.resigned = res.Class == ClassResign
	if w.pacer != nil {
		w.pacer.Sent(g, res.Sent)
		// Only the app's limits slow the action; a group's limit is the
		// group's business (holds).
		switch class {
		case ClassRateLimited:
			ev.RateLimitPause = w.pacer.RateLimited(g)
		case ClassSuccess:
			w.pacer.Succeeded(g)
		}
	}
	switch class {
	case ClassRateLimited:
		w.stats.rateLimited++
	case ClassGroupRateLimited:
		w.stats.groupRateLimited++
	}
	sys := w.updateSystemic(class, probe, now, res)
	var deadReason string // the key failed alone: its records go to the DLQ
	switch class {
	case ClassSuccess:
		w.iso.succeeded(b.key, now)
	case ClassDeadLetter, ClassTooMany:
		w.iso.settled(b.key)
	case ClassTransient:
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
	case ClassSuccess:
		w.stats.seqsAcked += uint64(n)
		ev.Next = NextDone
		for _, it := range b.parts {
			if it.remaining == 1 && it.failure == nil && !it.abandoned && !it.rec.ReadAt.IsZero() {
				ev.ReadToReceipt = append(ev.ReadToReceipt, max(now.Sub(it.rec.ReadAt), 0))
			}
			w.partDone(it)
		}
	case ClassRateLimited:
		// The pacer's pause holds every dispatcher; retry at its end.
		ev.Next, ev.RetryIn = NextRetry, ev.RateLimitPause
		w.requeue(b, now)
	case ClassGroupRateLimited:
		if retryAt.IsZero() {
			retryAt = now.Add(w.backoff(b)) // a c2c key has no group: it alone backs off
		}
		ev.Next, ev.RetryIn = NextRetry, retryAt.Sub(now)
		w.requeue(b, retryAt)
	case ClassTransient:
		if deadReason != "" {
			ev.Next, ev.Reason = NextDeadLetter, deadReason
			w.fail(b, FailExhausted, exhausted(res, deadReason), now)
			break
		}
		ev.Next, ev.RetryIn = NextRetry, retryAt.Sub(now)
		w.requeue(b, retryAt)
	case ClassResign:
		b.resigned = true
		ev.Next = NextRetry
		w.requeue(b, now)
	case ClassTooMany:
		ev.Next = NextSplit
		w.split(b, now)
	case ClassDeadLetter:
		ev.Next = NextDeadLetter
		w.fail(b, FailRejected, res, now)
	case ClassSystemic:
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
func (w *Worker) updateHolds(b *batch, class Class, res Result, deadReason string, now time.Time) time.Time {
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

// updateSystemic moves the systemic pause on after an outcome of class and
// returns the event to report, if any. w.mu held.
func (w *Worker) updateSystemic(class Class, probe bool, now time.Time, res Result) *SystemicEvent {
	s := &w.sys
	if probe {
		s.probing = false
		defer s.notify()
	}
	switch class {
	case ClassSystemic, ClassTransient, ClassResign, ClassUnknown, ClassRateLimited, ClassGroupRateLimited:
		// Systemic starts or prolongs the pause; the others prove nothing
		// about receiptd's credentials (a gateway may answer them before
		// it checks the signature), so a probe answered with them is
		// simply due again later.
		if class == ClassSystemic && !s.paused {
			s.paused = true
			s.probeAt = now.Add(s.bo.NextBackOff())
			s.notify()
			return &SystemicEvent{Paused: true, Result: res, NextProbe: s.probeAt.Sub(now)}
		}
		if probe && s.paused {
			s.probeAt = now.Add(s.bo.NextBackOff())
			return &SystemicEvent{Paused: true, Result: res, NextProbe: s.probeAt.Sub(now)}
		}
	default:
		// Success, a rejected receipt, too many seqs: only a request ZIM
		// authenticated gets these, so whatever paused dispatch is fixed.
		if s.paused {
			s.paused = false
			s.bo.Reset()
			s.notify()
			return &SystemicEvent{Paused: false, Result: res}
		}
	}
	return nil
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
func (w *Worker) fail(b *batch, class FailureClass, res Result, now time.Time) {
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
		w.dlqQueue = append(w.dlqQueue, it)
		signal(w.dlqWake)
		return
	}
	w.complete(it)
}

// sleepCtx waits for d or ctx; false when ctx ended.
func sleepCtx(ctx context.Context, timer *time.Timer, d time.Duration) bool {
	timer.Reset(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// intersects reports whether sorted a and b share an element.
func intersects(a, b []uint64) bool {
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] == b[j]:
			return true
		case a[i] < b[j]:
			i++
		default:
			j++
		}
	}
	return false
}

// intersection returns the elements of sorted a that are in sorted b.
func intersection(a, b []uint64) []uint64 {
	var out []uint64
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] == b[j]:
			out = append(out, a[i])
			i++
			j++
		case a[i] < b[j]:
			i++
		default:
			j++
		}
	}
	return out
}

// union merges sorted, distinct a and b.
func union(a, b []uint64) []uint64 {
	out := make([]uint64, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] == b[j]:
			out = append(out, a[i])
			i++
			j++
		case a[i] < b[j]:
			out = append(out, a[i])
			i++
		default:
			out = append(out, b[j])
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}
