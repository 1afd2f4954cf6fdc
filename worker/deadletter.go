package worker

// The dead-letter goroutine. Goroutine contract: one goroutine (started by
// Run) takes the failed records from w.dlqQueue under w.mu and writes them
// with w.mu released; the letterWriter, its BackOff and its timer are that
// goroutine's alone. w.dlqPause is guarded by w.mu.

import (
	"context"
	"errors"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// maxLettersPerWrite bounds one dead-letter write, so one write stays well
// under the producer's request size.
const maxLettersPerWrite = 500

// deadLetterLoop writes failed records to the dead-letter topic until ctx
// ends. A record is done only after a write that carried it returned nil;
// a failed write is retried, never dropped. One goroutine runs it, so the
// letterWriter's backoff and timer are its own.
func (w *Worker) deadLetterLoop(ctx context.Context) {
	lw := letterWriter{w: w, bo: w.cfg.DeadLetterBackoff.New(), timer: time.NewTimer(time.Hour)}
	lw.timer.Stop()
	defer lw.timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.dlqWake:
		}
		for {
			items := w.takeLetters()
			if len(items) == 0 {
				break
			}
			if !lw.write(ctx, items) {
				return
			}
		}
	}
}

// letterWriter writes dead letters for deadLetterLoop.
type letterWriter struct {
	w     *Worker
	bo    backoff.BackOff
	timer *time.Timer
}

// write writes items until each one is durable or abandoned by Drain, and
// returns false if ctx ended first.
//
// A transient error retries the same letters with backoff. A write the
// topic refuses (ErrDeadLetterRefused) is split: each of its letters is
// written alone, so that one letter cannot hold back the others. Once the
// others are written, the letters refused even alone pause dead-letter
// writes: each is written again with backoff, the letters queued behind
// them wait, and DeadLetterPause says why, until the topic takes them or a
// drain hands their records back.
func (lw *letterWriter) write(ctx context.Context, items []*item) bool {
	refused, ok := lw.settle(ctx, items)
	if !ok || len(refused) == 0 {
		return ok
	}
	lw.w.pauseLetters(refused[0].err, len(refused))
	written := false
	for i, r := range refused {
		// After a letter was written, try the next one at once.
		if written, ok = lw.probe(ctx, r, i == 0 || !written); !ok {
			return false
		}
	}
	lw.w.resumeLetters(written)
	return true
}

// refusal is a letter the topic refused even alone.
type refusal struct {
	it  *item
	err error
}

// settle writes items, retrying transient errors and splitting refused
// writes, and returns the letters refused alone, unwritten.
func (lw *letterWriter) settle(ctx context.Context, items []*item) ([]refusal, bool) {
	w := lw.w
	for attempt := 1; ; attempt++ {
		err := w.dlq.DeadLetter(ctx, letters(items))
		if err == nil {
			lw.bo.Reset()
			w.lettersWritten(items)
			return nil, true
		}
		if ctx.Err() != nil {
			return nil, false
		}
		w.countLetterError()
		refused := errors.Is(err, ErrDeadLetterRefused)
		if refused && len(items) == 1 {
			return []refusal{{items[0], err}}, true // probe reports it
		}
		if refused {
			w.obs.OnDeadLetterError(DeadLetterErrorEvent{Err: err, Letters: len(items), Attempt: attempt, Next: NextSplit})
			var out []refusal
			for _, it := range items {
				if len(w.stillLive([]*item{it})) == 0 {
					continue
				}
				r, ok := lw.settle(ctx, []*item{it})
				if !ok {
					return nil, false
				}
				out = append(out, r...)
			}
			return out, true
		}
		d := lw.bo.NextBackOff()
		w.obs.OnDeadLetterError(DeadLetterErrorEvent{Err: err, Letters: len(items), Attempt: attempt, Next: NextRetry, RetryIn: d})
		if !sleepCtx(ctx, lw.timer, d) {
			return nil, false
		}
		if items = w.stillLive(items); len(items) == 0 {
			return nil, true
		}
	}
}

// probe writes r's letter again until the topic takes it (written) or Drain
// abandons it, backing off before each attempt (but the first, unless wait
// is set). It returns ok false if ctx ended first.
func (lw *letterWriter) probe(ctx context.Context, r refusal, wait bool) (written, ok bool) {
	w := lw.w
	for attempt := 1; ; attempt++ {
		if wait {
			d := lw.bo.NextBackOff()
			w.obs.OnDeadLetterError(DeadLetterErrorEvent{Err: r.err, Letters: 1, Attempt: attempt, Next: NextPause, RetryIn: d})
			if !sleepCtx(ctx, lw.timer, d) {
				return false, false
			}
		}
		wait = true
		if len(w.stillLive([]*item{r.it})) == 0 {
			return false, true
		}
		err := w.dlq.DeadLetter(ctx, letters([]*item{r.it}))
		if err == nil {
			lw.bo.Reset()
			w.lettersWritten([]*item{r.it})
			return true, true
		}
		if ctx.Err() != nil {
			return false, false
		}
		w.countLetterError()
		w.pauseLetters(err, 1)
		r.err = err
	}
}

func (w *Worker) countLetterError() {
	w.mu.Lock()
	w.stats.dlqErrors++
	w.mu.Unlock()
}

// lettersWritten completes the live items of a successful write.
func (w *Worker) lettersWritten(items []*item) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, it := range items {
		if !it.abandoned {
			w.stats.deadLettered[it.failure.Class]++
			w.complete(it)
		}
	}
}

// pauseLetters pauses dead-letter writes for err, refused letters waiting
// besides the queued ones, telling the observer when the pause begins.
func (w *Worker) pauseLetters(err error, refused int) {
	w.mu.Lock()
	began := w.dlqPause == nil
	w.dlqPause = err
	waiting := refused + len(w.dlqQueue)
	w.mu.Unlock()
	if began {
		w.obs.OnDeadLetterPause(DeadLetterPauseEvent{Paused: true, Err: err, Letters: waiting})
	}
}

// resumeLetters ends the pause; written says whether the last refused
// letter was written or abandoned.
func (w *Worker) resumeLetters(written bool) {
	w.mu.Lock()
	err := w.dlqPause
	w.dlqPause = nil
	w.mu.Unlock()
	if err != nil {
		w.obs.OnDeadLetterPause(DeadLetterPauseEvent{Paused: false, Err: err, Written: written})
	}
}

// takeLetters removes up to maxLettersPerWrite live items from the queue.
func (w *Worker) takeLetters() []*item {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []*item
	n := 0
	for ; n < len(w.dlqQueue) && len(out) < maxLettersPerWrite; n++ {
		if it := w.dlqQueue[n]; !it.abandoned {
			out = append(out, it)
		}
	}
	w.dlqQueue = w.dlqQueue[n:]
	if len(w.dlqQueue) == 0 {
		w.dlqQueue = nil
	}
	return out
}

// stillLive drops the items Drain abandoned while a write was retried.
func (w *Worker) stillLive(items []*item) []*item {
	w.mu.Lock()
	defer w.mu.Unlock()
	live := items[:0]
	for _, it := range items {
		if !it.abandoned {
			live = append(live, it)
		}
	}
	return live
}

func letters(items []*item) []DeadLetter {
	out := make([]DeadLetter, len(items))
	for i, it := range items {
		out[i] = DeadLetter{Record: it.rec, Failure: *it.failure}
	}
	return out
}
