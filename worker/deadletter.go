package worker

import (
	"context"
	"time"
)

// maxLettersPerWrite bounds one dead-letter write, so one write stays well
// under the producer's request size.
const maxLettersPerWrite = 500

// deadLetterLoop writes failed records to the dead-letter topic until ctx
// ends. A record is done only after the write that carried it returned nil;
// a failed write is retried with backoff, never dropped.
func (w *Worker) deadLetterLoop(ctx context.Context) {
	bo := w.cfg.DeadLetterBackoff.New()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
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
			for attempt := 1; ; attempt++ {
				err := w.dlq.DeadLetter(ctx, letters(items))
				if err == nil {
					break
				}
				if ctx.Err() != nil {
					return
				}
				d := bo.NextBackOff()
				w.mu.Lock()
				w.stats.dlqErrors++
				w.mu.Unlock()
				w.obs.OnDeadLetterError(DeadLetterErrorEvent{Err: err, Letters: len(items), Attempt: attempt, RetryIn: d})
				if !sleepCtx(ctx, timer, d) {
					return
				}
				if items = w.stillLive(items); len(items) == 0 {
					break
				}
			}
			bo.Reset()
			w.mu.Lock()
			for _, it := range items {
				if !it.abandoned {
					w.stats.deadLettered[it.failure.Class]++
					w.complete(it)
				}
			}
			w.mu.Unlock()
		}
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
