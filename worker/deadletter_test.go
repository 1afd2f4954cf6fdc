package worker_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/receiptd/receiptd/retry"
	"github.com/receiptd/receiptd/worker"
)

// reject hands rec to the worker as an invalid record.
func (h *harness) reject(recs ...*worker.Record) {
	h.t.Helper()
	for _, r := range recs {
		if err := h.w.Reject(context.Background(), r, worker.Failure{Class: worker.FailInvalidEvent, Message: "bad"}); err != nil {
			h.t.Fatalf("Reject: %v", err)
		}
	}
}

// A letter the dead-letter topic refuses for good never holds back the
// letters written with it or after it: the refused write is split and each
// letter settled alone. The one letter refused even alone pauses dead-letter
// writes loudly (DeadLetterPause, Stats, the observer) and is retried with
// backoff until the topic takes it; then writes resume.
func TestRefusedDeadLetterIsSettledAlone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := fastRetries
		cfg.DeadLetterBackoff = retry.Policy{Initial: time.Second, Max: 4 * time.Second}
		h := start(t, cfg, nil, nil)
		before := record(worker.GroupRead, "a", "g", 1)
		poison := record(worker.GroupRead, "p", "g", 2)
		after := record(worker.GroupRead, "b", "g", 3)
		h.dlq.setRefuse(func(l worker.DeadLetter) bool { return l.Record == poison })
		block := make(chan struct{})
		h.dlq.mu.Lock()
		h.dlq.block = block // the three letters queue up and leave in one write
		h.dlq.mu.Unlock()
		h.reject(before, poison, after)
		synctest.Wait()
		h.dlq.mu.Lock()
		h.dlq.block = nil
		h.dlq.mu.Unlock()
		close(block)

		h.waitFor("the letters beside the refused one", time.Minute, func() bool {
			return h.done.isDone(before) && h.done.isDone(after)
		})
		h.waitFor("dead-letter writes to pause", time.Minute, func() bool { return h.w.DeadLetterPause() != nil })
		if err := h.w.DeadLetterPause(); !errors.Is(err, worker.ErrDeadLetterRefused) {
			t.Errorf("DeadLetterPause = %v, want the refusal", err)
		}
		if !h.w.Stats().DeadLetterPaused {
			t.Error("Stats().DeadLetterPaused is false while paused")
		}
		errs, pauses := h.obs.snapshotDLQ()
		if len(pauses) != 1 || !pauses[0].Paused || !errors.Is(pauses[0].Err, worker.ErrDeadLetterRefused) {
			t.Errorf("pause events %+v, want one that pauses with the refusal", pauses)
		}
		if len(errs) == 0 || errs[0].Next != worker.NextSplit || errs[0].Letters < 2 {
			t.Errorf("dead-letter errors %+v, want first the write with the refused letter split", errs)
		}
		h.dlq.mu.Lock()
		sizes := slices.Clone(h.dlq.sizes)
		h.dlq.mu.Unlock()
		if split := slices.IndexFunc(sizes, func(n int) bool { return n > 1 }); split < 0 || slices.Max(sizes[split+1:]) != 1 {
			t.Errorf("letters per write %v, want one at a time after the refused write", sizes)
		}

		// While paused, later letters wait: nothing is lost or skipped.
		late := record(worker.GroupRead, "c", "g", 4)
		h.reject(late)
		time.Sleep(10 * time.Second)
		if h.done.isDone(poison) || h.done.isDone(late) {
			t.Fatal("a letter was done while its write was refused")
		}
		probes := h.w.Stats().DeadLetterErrors
		if probes < 3 {
			t.Errorf("%d failed writes in 10s of pause, want the refused letter retried with backoff", probes)
		}

		h.dlq.setRefuse(nil) // the operator fixed the topic
		h.waitFor("the refused and the later letters", time.Minute, func() bool {
			return h.done.isDone(poison) && h.done.isDone(late)
		})
		if err := h.w.DeadLetterPause(); err != nil || h.w.Stats().DeadLetterPaused {
			t.Errorf("DeadLetterPause = %v after the topic took the letter, want nil", err)
		}
		_, pauses = h.obs.snapshotDLQ()
		if len(pauses) != 2 || pauses[1].Paused {
			t.Errorf("pause events %+v, want a pause then a resume", pauses)
		}
		if n := len(h.dlq.got()); n != 4 {
			t.Errorf("%d letters written, want 4", n)
		}
	})
}

// A drain abandons the refused letter: its record stays unfinished (and
// uncommitted), the pause ends with nothing left to write, and new letters
// are written.
func TestDrainEndsADeadLetterPause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := fastRetries
		cfg.DeadLetterBackoff = retry.Policy{Initial: time.Second, Max: time.Second}
		h := start(t, cfg, nil, nil)
		poison := record(worker.GroupRead, "p", "g", 2)
		h.dlq.setRefuse(func(l worker.DeadLetter) bool { return l.Record == poison })
		h.reject(poison)
		h.waitFor("dead-letter writes to pause", time.Minute, func() bool { return h.w.DeadLetterPause() != nil })

		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		left := h.w.Drain(ctx)
		cancel()
		if len(left) != 1 || left[0] != poison {
			t.Fatalf("Drain left %v, want the refused record", left)
		}
		next := record(worker.GroupRead, "n", "g", 3)
		h.reject(next)
		h.waitFor("the next letter", time.Minute, func() bool { return h.done.isDone(next) })
		if h.done.isDone(poison) {
			t.Error("the abandoned record was reported done")
		}
		if err := h.w.DeadLetterPause(); err != nil {
			t.Errorf("DeadLetterPause = %v with the refused letter abandoned and the next one written", err)
		}
	})
}
