package deadletter_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/receiptd/receiptd/deadletter"
	"github.com/receiptd/receiptd/deadletter/deadlettertest"
	"github.com/receiptd/receiptd/receipt"
	"github.com/receiptd/receiptd/retry"
	"github.com/receiptd/receiptd/worker"
)

// stageHarness runs a Stage that writes to a deadlettertest.Writer.
type stageHarness struct {
	t     *testing.T
	stage *deadletter.Stage
	dlq   *deadlettertest.Writer
	done  *doneLog
	obs   *deadlettertest.Events
}

// startStage runs a Stage until the test ends. Call it inside a synctest
// bubble.
func startStage(t *testing.T, backoff retry.Policy) *stageHarness {
	t.Helper()
	return startStageWith(t, backoff, worker.NewSlots(100))
}

// startStageWith is startStage with the bound shared with the worker.
func startStageWith(t *testing.T, backoff retry.Policy, slots *worker.Slots) *stageHarness {
	t.Helper()
	h := &stageHarness{t: t, dlq: &deadlettertest.Writer{}, done: &doneLog{t: t}, obs: &deadlettertest.Events{}}
	s, err := deadletter.NewStage(deadletter.StageConfig{Slots: slots, Backoff: backoff}, h.dlq, h.done, h.obs)
	if err != nil {
		t.Fatal(err)
	}
	h.stage = s
	ctx, cancel := context.WithCancel(context.Background())
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		_ = s.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-ended })
	return h
}

// reject hands recs to the stage as invalid records.
func (h *stageHarness) reject(recs ...*worker.Record) {
	h.t.Helper()
	for _, r := range recs {
		if err := h.stage.Reject(context.Background(), r, worker.Failure{Class: worker.FailInvalidEvent, Message: "bad"}); err != nil {
			h.t.Fatalf("Reject: %v", err)
		}
	}
}

// waitFor polls cond; inside a synctest bubble the waiting costs no real
// time.
func (h *stageHarness) waitFor(what string, limit time.Duration, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out after %v waiting for %s; stats %+v", limit, what, h.stage.Stats())
		}
		time.Sleep(time.Millisecond)
	}
}

func record(user string, seq uint64) *worker.Record {
	return &worker.Record{Key: receipt.Key{Action: receipt.GroupRead, UserID: user, ConvID: "g"}, Seqs: []uint64{seq}}
}

// doneLog records every Done call and fails the test on a second one for
// the same record.
type doneLog struct {
	t     *testing.T
	mu    sync.Mutex
	count map[*worker.Record]int
}

func (d *doneLog) Done(r *worker.Record) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.count == nil {
		d.count = make(map[*worker.Record]int)
	}
	if d.count[r]++; d.count[r] > 1 {
		d.t.Errorf("record %v reported done %d times", r.Key, d.count[r])
	}
}

func (d *doneLog) isDone(r *worker.Record) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.count[r] > 0
}

// A letter the dead-letter topic refuses for good never holds back the
// letters written with it or after it: the refused write is split and each
// letter settled alone. The one letter refused even alone pauses dead-letter
// writes loudly (Pause, Stats, the observer) and is retried with
// backoff until the topic takes it; then writes resume.
func TestRefusedDeadLetterIsSettledAlone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startStage(t, retry.Policy{Initial: time.Second, Max: 4 * time.Second})
		before := record("a", 1)
		poison := record("p", 2)
		after := record("b", 3)
		h.dlq.SetRefuse(func(l deadletter.Letter) bool { return l.Record == poison })
		block := make(chan struct{})
		h.dlq.SetBlock(block) // the three letters queue up and leave in one write
		h.reject(before, poison, after)
		synctest.Wait()
		h.dlq.SetBlock(nil)
		close(block)

		h.waitFor("the letters beside the refused one", time.Minute, func() bool {
			return h.done.isDone(before) && h.done.isDone(after)
		})
		h.waitFor("dead-letter writes to pause", time.Minute, func() bool { return h.stage.Pause() != nil })
		if err := h.stage.Pause(); !errors.Is(err, deadletter.ErrRefused) {
			t.Errorf("DeadLetterPause = %v, want the refusal", err)
		}
		if !h.stage.Stats().Paused {
			t.Error("Stats().DeadLetterPaused is false while paused")
		}
		errs, pauses := h.obs.Errors(), h.obs.Pauses()
		if len(pauses) != 1 || !pauses[0].Paused || !errors.Is(pauses[0].Err, deadletter.ErrRefused) {
			t.Errorf("pause events %+v, want one that pauses with the refusal", pauses)
		}
		if len(errs) == 0 || errs[0].Next != deadletter.NextSplit || errs[0].Letters < 2 {
			t.Errorf("dead-letter errors %+v, want first the write with the refused letter split", errs)
		}
		sizes := h.dlq.Sizes()
		if split := slices.IndexFunc(sizes, func(n int) bool { return n > 1 }); split < 0 || slices.Max(sizes[split+1:]) != 1 {
			t.Errorf("letters per write %v, want one at a time after the refused write", sizes)
		}

		// While paused, later letters wait: nothing is lost or skipped.
		late := record("c", 4)
		h.reject(late)
		time.Sleep(10 * time.Second)
		if h.done.isDone(poison) || h.done.isDone(late) {
			t.Fatal("a letter was done while its write was refused")
		}
		probes := h.stage.Stats().WriteErrors
		if probes < 3 {
			t.Errorf("%d failed writes in 10s of pause, want the refused letter retried with backoff", probes)
		}

		h.dlq.SetRefuse(nil) // the operator fixed the topic
		h.waitFor("the refused and the later letters", time.Minute, func() bool {
			return h.done.isDone(poison) && h.done.isDone(late)
		})
		if err := h.stage.Pause(); err != nil || h.stage.Stats().Paused {
			t.Errorf("DeadLetterPause = %v after the topic took the letter, want nil", err)
		}
		pauses = h.obs.Pauses()
		if len(pauses) != 2 || pauses[1].Paused {
			t.Errorf("pause events %+v, want a pause then a resume", pauses)
		}
		if n := len(h.dlq.Letters()); n != 4 {
			t.Errorf("%d letters written, want 4", n)
		}
	})
}

// A drain abandons the refused letter: its record stays unfinished (and
// uncommitted), the pause ends with nothing left to write, and new letters
// are written.
func TestDrainEndsADeadLetterPause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startStage(t, retry.Policy{Initial: time.Second, Max: time.Second})
		poison := record("p", 2)
		h.dlq.SetRefuse(func(l deadletter.Letter) bool { return l.Record == poison })
		h.reject(poison)
		h.waitFor("dead-letter writes to pause", time.Minute, func() bool { return h.stage.Pause() != nil })

		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		left := h.stage.Drain(ctx)
		cancel()
		if len(left) != 1 || left[0] != poison {
			t.Fatalf("Drain left %v, want the refused record", left)
		}
		next := record("n", 3)
		h.reject(next)
		h.waitFor("the next letter", time.Minute, func() bool { return h.done.isDone(next) })
		if h.done.isDone(poison) {
			t.Error("the abandoned record was reported done")
		}
		if err := h.stage.Pause(); err != nil {
			t.Errorf("DeadLetterPause = %v with the refused letter abandoned and the next one written", err)
		}
	})
}

// The records waiting for their letter count toward the bound the stage
// shares with the worker: Reject blocks while it is full, a record the
// worker hands over keeps the slot it took, a written letter frees its
// slot, and so does a drain, which hands the unwritten records back.
func TestStageSharesTheWorkersBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		slots := worker.NewSlots(2)
		h := startStageWith(t, retry.Policy{Initial: time.Second, Max: time.Second}, slots)
		block := make(chan struct{})
		h.dlq.SetBlock(block)
		invalid, failed := record("a", 1), record("b", 2)
		h.reject(invalid)
		if err := slots.Acquire(context.Background()); err != nil { // as the worker's Submit does
			t.Fatal(err)
		}
		h.stage.DeadLetter(failed, worker.Failure{Class: worker.FailRejected, Code: 660400103})

		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		late := record("c", 3)
		if err := h.stage.Reject(ctx, late, worker.Failure{Class: worker.FailInvalidEvent}); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Reject with the bound full = %v, want it to wait until ctx ends", err)
		}
		cancel()
		if st := h.stage.Stats(); st.Pending != 2 || st.Rejected != 1 || st.Handed != 1 {
			t.Errorf("stats while the write waits = %+v, want 2 pending: 1 rejected, 1 handed over", st)
		}

		h.dlq.SetBlock(nil)
		close(block)
		h.waitFor("both letters", time.Minute, func() bool { return h.done.isDone(invalid) && h.done.isDone(failed) })
		h.reject(late) // the written letters freed their slots
		h.waitFor("the late letter", time.Minute, func() bool { return h.done.isDone(late) })

		h.dlq.SetRefuse(func(deadletter.Letter) bool { return true })
		stuck := []*worker.Record{record("d", 4), record("e", 5)}
		h.reject(stuck...)
		h.waitFor("writes to pause", time.Minute, func() bool { return h.stage.Pause() != nil })
		dctx, dcancel := context.WithTimeout(context.Background(), 3*time.Second)
		left := h.stage.Drain(dctx)
		dcancel()
		if len(left) != 2 || !slices.Contains(left, stuck[0]) || !slices.Contains(left, stuck[1]) {
			t.Fatalf("Drain left %v, want the two refused records", left)
		}
		for range 2 {
			actx, acancel := context.WithTimeout(context.Background(), time.Second)
			err := slots.Acquire(actx)
			acancel()
			if err != nil {
				t.Fatalf("a slot of a drained record is still taken: %v", err)
			}
		}
		if st := h.stage.Stats(); st.Pending != 0 || st.Abandoned != 2 || st.Done() != 3 {
			t.Errorf("stats after the drain = %+v, want nothing pending, 2 abandoned, 3 written", st)
		}
	})
}
