package worker_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/receiptd/receiptd/deadletter"
	"github.com/receiptd/receiptd/receipt"
	"github.com/receiptd/receiptd/retry"
	"github.com/receiptd/receiptd/worker"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var fastRetries = worker.Config{
	Linger:          0,
	Backoff:         retry.Policy{Initial: 100 * time.Millisecond, Max: time.Second},
	SystemicBackoff: retry.Policy{Initial: time.Second, Max: 10 * time.Second},
}

// outcomeCase is one row of TestOutcomes: a record of seqs 1 to 4 is
// answered with answers in turn, then with success.
type outcomeCase struct {
	name      string
	answers   []receipt.Class
	wantCalls [][]uint64
	wantDLQ   worker.FailureClass // "" when the record must succeed
	wantCode  int64
}

// acceptedAfter is the row of a record answered n times with c and then
// accepted: the same four seqs sent n+1 times, nothing dead-lettered.
func acceptedAfter(name string, c receipt.Class, n int) outcomeCase {
	return outcomeCase{name: name, answers: slices.Repeat([]receipt.Class{c}, n), wantCalls: sentTimes(n + 1)}
}

// sentTimes is n calls, each with the record's four seqs.
func sentTimes(n int) [][]uint64 { return slices.Repeat([][]uint64{{1, 2, 3, 4}}, n) }

// TestOutcomes covers what the worker does with each outcome class, and
// invariant 3: rate limits, transient and systemic errors never
// dead-letter anything.
func TestOutcomes(t *testing.T) {
	tests := []outcomeCase{
		{name: "success", wantCalls: sentTimes(1)},
		acceptedAfter("rate limited retries without a cap", receipt.ClassRateLimited, 12),
		acceptedAfter("group rate limited retries without a cap", receipt.ClassGroupRateLimited, 12),
		acceptedAfter("transient retries without a cap", receipt.ClassTransient, 12),
		acceptedAfter("systemic pauses, probes and then delivers", receipt.ClassSystemic, 4),
		acceptedAfter("resign retries once at once", receipt.ClassResign, 1),
		{
			name:      "resign twice is systemic, never dead-lettered",
			answers:   []receipt.Class{receipt.ClassResign, receipt.ClassResign, receipt.ClassSystemic},
			wantCalls: sentTimes(4),
		},
		{
			name:      "too many seqs splits the batch",
			answers:   []receipt.Class{receipt.ClassTooMany},
			wantCalls: [][]uint64{{1, 2, 3, 4}, {1, 2}, {3, 4}},
		},
		{
			name:      "dead letter code dead-letters at once",
			answers:   []receipt.Class{receipt.ClassDeadLetter},
			wantCalls: sentTimes(1),
			wantDLQ:   worker.FailRejected,
			wantCode:  660400103,
		},
		{
			name:      "unknown retries a bounded number of times, then dead-letters",
			answers:   slices.Repeat([]receipt.Class{receipt.ClassUnknown}, 10),
			wantCalls: sentTimes(5),
			wantDLQ:   worker.FailExhausted,
			wantCode:  424242,
		},
		acceptedAfter("unknown then success", receipt.ClassUnknown, 2),
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := start(t, fastRetries, &fakeSender{respond: results(tt.answers...)}, nil)
				r := record(receipt.GroupRead, "alice", "team", 1, 2, 3, 4)
				h.submit(r)
				h.waitFor("the record to finish", time.Hour, func() bool { return h.done.isDone(r) })

				var got [][]uint64
				for _, c := range h.sender.sent() {
					got = append(got, c.req.Seqs)
				}
				// Halves of a split leave concurrently: compare calls as a multiset.
				slices.SortStableFunc(got, func(a, b []uint64) int {
					if len(a) != len(b) {
						return len(b) - len(a)
					}
					return int(a[0]) - int(b[0])
				})
				if !slices.EqualFunc(got, tt.wantCalls, slices.Equal) {
					t.Errorf("calls = %v, want %v", got, tt.wantCalls)
				}
				letters := h.dlq.Letters()
				if tt.wantDLQ == "" {
					if len(letters) != 0 {
						t.Fatalf("dead-lettered %+v; a %v outcome must never dead-letter", letters[0].Failure, tt.answers)
					}
					return
				}
				if len(letters) != 1 {
					t.Fatalf("%d dead letters, want 1", len(letters))
				}
				f := letters[0].Failure
				if letters[0].Record != r || f.Class != tt.wantDLQ || f.Code != tt.wantCode ||
					!slices.Equal(f.FailedSeqs, []uint64{1, 2, 3, 4}) || f.Attempts != len(tt.wantCalls) ||
					f.RequestID == "" || f.Message == "" || f.FirstAttemptAt.IsZero() || f.FailedAt.Before(f.FirstAttemptAt) {
					t.Errorf("dead letter = %+v; want class %s, code %d, seqs 1-4, %d attempts, request id, message and times",
						f, tt.wantDLQ, tt.wantCode, len(tt.wantCalls))
				}
			})
		})
	}
}

// TestRecordDoneAfterAllParts: a record spanning three requests is done
// only when all three ended, and dead-lettered once, with exactly the seqs
// that failed.
func TestRecordDoneAfterAllParts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		sender := &fakeSender{respond: func(req receipt.Request, call int) receipt.Result {
			switch req.Seqs[0] {
			case 11:
				return receipt.Result{Class: receipt.ClassDeadLetter, Code: 660400103, Message: "not a member", RequestID: "r11"}
			case 21:
				<-release // the last part is slow
			}
			return receipt.Result{Class: receipt.ClassSuccess}
		}}
		h := start(t, fastRetries, sender, nil)
		r := record(receipt.GroupRead, "alice", "team", seqRange(1, 25)...)
		h.submit(r)
		h.waitFor("two parts to be answered", time.Minute, func() bool { return len(h.obs.calls.All()) == 2 })
		synctest.Wait()
		if h.done.isDone(r) || len(h.dlq.Letters()) != 0 {
			t.Fatal("the record finished before its last part was answered")
		}
		close(release)
		h.waitFor("the record to finish", time.Minute, func() bool { return h.done.isDone(r) })
		letters := h.dlq.Letters()
		if len(letters) != 1 || !slices.Equal(letters[0].Failure.FailedSeqs, seqRange(11, 20)) {
			t.Fatalf("dead letters = %+v, want one with seqs 11-20", letters)
		}
	})
}

// TestDoneOnlyAfterDurableDeadLetter is the worker's half of invariant 1:
// a dead-lettered record is done only once the dead-letter write returned
// nil; failed writes are retried, never dropped.
func TestDoneOnlyAfterDurableDeadLetter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startStaged(t, fastRetries, deadletter.StageConfig{Backoff: retry.Policy{Initial: time.Second, Max: time.Second}},
			&fakeSender{respond: results(receipt.ClassDeadLetter)}, nil)
		h.dlq.FailNext(3)
		r := record(receipt.GroupRead, "alice", "team", 1)
		h.submit(r)
		h.waitFor("three failed writes", time.Hour, func() bool { return h.stage.Stats().WriteErrors == 3 })
		if h.done.isDone(r) {
			t.Fatal("the record was done while its dead-letter write kept failing")
		}
		h.waitFor("the record to finish", time.Hour, func() bool { return h.done.isDone(r) })
		if got := h.dlq.Letters(); len(got) != 1 || got[0].Record != r {
			t.Errorf("durable letters = %d, want exactly the record", len(got))
		}
		if n := len(h.obs.Errors()); n != 3 {
			t.Errorf("observer saw %d dead-letter errors, want 3", n)
		}
	})
}

// TestRejectedRecords: invalid records go straight to the dead-letter
// writer and never stop or slow valid ones (invariant 10).
func TestRejectedRecords(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, fastRetries, nil, nil)
		block := make(chan struct{})
		h.dlq.SetBlock(block) // the DLQ is slow
		bad := record(receipt.GroupRead, "", "", 0)
		if err := h.stage.Reject(context.Background(), bad, worker.Failure{Class: worker.FailInvalidEvent, Message: "user_id: missing"}); err != nil {
			t.Fatal(err)
		}
		good := record(receipt.GroupRead, "alice", "team", 7)
		h.submit(good)
		h.waitFor("the valid record", time.Minute, func() bool { return h.done.isDone(good) })
		if h.done.isDone(bad) {
			t.Fatal("the invalid record was done before its dead-letter write")
		}
		close(block)
		h.waitFor("the invalid record", time.Minute, func() bool { return h.done.isDone(bad) })
		got := h.dlq.Letters()
		if len(got) != 1 || got[0].Failure.Class != worker.FailInvalidEvent || got[0].Failure.Message != "user_id: missing" || got[0].Failure.FailedAt.IsZero() {
			t.Errorf("dead letters = %+v", got)
		}
		if s, d := h.w.Stats(), h.stage.Stats(); d.DeadLettered[worker.FailInvalidEvent] != 1 || s.RecordsDone != 1 || d.Rejected != 1 {
			t.Errorf("stats = %+v, dead-letter stats = %+v", s, d)
		}
	})
}

// TestPendingBound is the worker's half of invariant 8: Submit blocks at
// MaxPendingRecords until a record is done.
func TestPendingBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		sender := &fakeSender{respond: func(receipt.Request, int) receipt.Result {
			<-release
			return receipt.Result{Class: receipt.ClassSuccess}
		}}
		cfg := fastRetries
		cfg.MaxPendingRecords = 5
		h := start(t, cfg, sender, nil)
		for i := range 5 {
			h.submit(record(receipt.GroupRead, "u", "g", uint64(i+1)))
		}
		sixth := make(chan error, 1)
		go func() { sixth <- h.w.Submit(context.Background(), record(receipt.GroupRead, "u", "g", 6)) }()
		synctest.Wait()
		select {
		case err := <-sixth:
			t.Fatalf("the sixth Submit returned (%v) with 5 records pending and a bound of 5", err)
		default:
		}
		if p := h.w.Stats().Pending; p != 5 {
			t.Errorf("pending = %d, want 5", p)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := h.w.Submit(ctx, record(receipt.GroupRead, "u", "g", 7)); err != context.DeadlineExceeded {
			t.Errorf("Submit at the bound with a deadline = %v, want DeadlineExceeded", err)
		}
		close(release)
		if err := <-sixth; err != nil {
			t.Fatalf("the sixth Submit: %v", err)
		}
		h.waitFor("all six", time.Minute, func() bool { return h.done.n() == 6 })
	})
}

// TestBackingOffKeyDoesNotBlockOthers: a key retrying a transient error
// leaves the other keys flowing.
func TestBackingOffKeyDoesNotBlockOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sender := &fakeSender{respond: func(req receipt.Request, _ int) receipt.Result {
			if req.Key.UserID == "sick" {
				return receipt.Result{Class: receipt.ClassTransient, Code: 1}
			}
			return receipt.Result{Class: receipt.ClassSuccess}
		}}
		cfg := fastRetries
		cfg.MaxInFlight = 1
		cfg.Backoff = retry.Policy{Initial: 10 * time.Second, Max: time.Minute}
		h := start(t, cfg, sender, nil)
		h.submit(record(receipt.GroupRead, "sick", "g", 1))
		for i := range 20 {
			h.submit(record(receipt.GroupRead, "well", "g", uint64(i+1)*100))
			time.Sleep(100 * time.Millisecond)
		}
		h.waitFor("the healthy records", 5*time.Second, func() bool { return h.done.n() == 20 })
		if h.w.Stats().RetryBatches != 1 {
			t.Errorf("retrying batches = %d, want the sick key's one", h.w.Stats().RetryBatches)
		}
	})
}

// TestSystemicPausesEverything: a systemic answer stops every key, reports
// not ready, probes with backoff, and resumes on the first good answer.
func TestSystemicPausesEverything(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		broken := true
		sender := &fakeSender{}
		sender.respond = func(receipt.Request, int) receipt.Result {
			sender.mu.Lock()
			defer sender.mu.Unlock()
			if broken {
				return receipt.Result{Class: receipt.ClassSystemic, Code: 100000005, Message: "signature wrong"}
			}
			return receipt.Result{Class: receipt.ClassSuccess}
		}
		cfg := fastRetries
		cfg.SystemicBackoff = retry.Policy{Initial: 10 * time.Second, Max: 10 * time.Second, Jitter: 0.01}
		h := start(t, cfg, sender, nil)
		h.submit(record(receipt.GroupRead, "a", "g", 1))
		h.waitFor("the pause", time.Minute, func() bool { return !h.w.Ready() })
		for i := range 5 {
			h.submit(record(receipt.C2CRead, "b", "peer", uint64(i+1)))
		}
		time.Sleep(35 * time.Second)
		// One call paused everything; since then only one probe per backoff
		// interval, of any action.
		if n := len(sender.sent()); n < 3 || n > 5 {
			t.Errorf("%d calls in 35s of systemic pause with 10s probes, want 1 + about 3 probes", n)
		}
		if h.done.n() != 0 || len(h.dlq.Letters()) != 0 {
			t.Fatal("records finished or were dead-lettered during a systemic pause")
		}
		sender.mu.Lock()
		broken = false
		sender.mu.Unlock()
		h.waitFor("every record", time.Minute, func() bool { return h.done.n() == 6 })
		if !h.w.Ready() {
			t.Error("still not ready after a successful probe")
		}
		if got := h.obs.systemic.All(); len(got) < 2 || !got[0].Paused || got[len(got)-1].Paused {
			t.Errorf("systemic events = %+v, want paused ... resumed", got)
		}
	})
}

// TestRateLimitPausesEverything: with a real Budget, a rate-limit answer
// pauses every action, and nothing is dead-lettered.
func TestRateLimitPausesEverything(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		budget, err := retry.NewBudget(retry.BudgetConfig{RPS: 20, Actions: receipt.Actions[:], Pause: retry.Policy{Initial: 5 * time.Second, Jitter: 0.01}})
		if err != nil {
			t.Fatal(err)
		}
		h := start(t, fastRetries, &fakeSender{respond: results(receipt.ClassRateLimited)}, budget)
		h.submit(record(receipt.GroupRead, "a", "g", 1))
		h.waitFor("the first answer", time.Minute, func() bool { return len(h.sender.sent()) == 1 })
		h.submit(record(receipt.C2CDelivered, "b", "peer", 1))
		time.Sleep(4 * time.Second)
		if n := len(h.sender.sent()); n != 1 {
			t.Fatalf("%d calls during the rate-limit pause, want none after the first", n)
		}
		h.waitFor("both records", time.Minute, func() bool { return h.done.n() == 2 })
		if len(h.dlq.Letters()) != 0 {
			t.Error("a rate limit dead-lettered a record")
		}
		if s := h.w.Stats(); s.RateLimited != 1 || s.CallsByClass[receipt.ClassRateLimited] != 1 {
			t.Errorf("stats = %+v, want one rate-limited call", s)
		}
	})
}

// TestDrainFlushesOpenBatches is the worker's half of invariant 5: Drain
// sends lingering batches at once and returns when all is done.
func TestDrainFlushesOpenBatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := fastRetries
		cfg.Linger = time.Hour
		h := start(t, cfg, nil, nil)
		recs := []*worker.Record{record(receipt.GroupRead, "a", "g", 1), record(receipt.C2CRead, "b", "c", 2)}
		h.submit(recs...)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		start := time.Now()
		if left := h.w.Drain(ctx); len(left) != 0 {
			t.Fatalf("Drain left %d records", len(left))
		}
		if took := time.Since(start); took >= time.Hour {
			t.Errorf("Drain took %v: it waited for the linger", took)
		}
		if h.done.n() != 2 {
			t.Errorf("done = %d, want 2", h.done.n())
		}
		// The worker is usable after a drain, with its linger again.
		h.submit(record(receipt.GroupRead, "a", "g", 3))
		time.Sleep(time.Minute)
		if h.done.n() != 2 {
			t.Error("after Drain, a new batch left before its linger")
		}
	})
}

// TestDrainAbandonsWhatItCannotFinish: at the deadline, Drain returns the
// unfinished records; they are never reported done, even when their calls
// succeed later.
func TestDrainAbandonsWhatItCannotFinish(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		sender := &fakeSender{respond: func(req receipt.Request, _ int) receipt.Result {
			if req.Key.UserID == "slow" {
				<-release
			}
			return receipt.Result{Class: receipt.ClassSuccess}
		}}
		h := start(t, fastRetries, sender, nil)
		slow := record(receipt.GroupRead, "slow", "g", 1)
		fast := record(receipt.GroupRead, "fast", "g", 1)
		h.submit(slow, fast)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		left := h.w.Drain(ctx)
		if len(left) != 1 || left[0] != slow {
			t.Fatalf("Drain returned %v, want only the slow record", left)
		}
		close(release)
		synctest.Wait()
		if h.done.isDone(slow) {
			t.Error("an abandoned record was reported done after Drain returned it")
		}
		if !h.done.isDone(fast) {
			t.Error("the fast record was not reported done")
		}
		if s := h.w.Stats(); s.Pending != 0 || s.RecordsAbandoned != 1 {
			t.Errorf("after Drain: pending %d, abandoned %d; want 0 and 1", s.Pending, s.RecordsAbandoned)
		}
	})
}

func TestSubmitRejectsRecordsWithoutSeqsOrAction(t *testing.T) {
	h := start(t, fastRetries, nil, nil)
	for _, r := range []*worker.Record{nil, {Key: receipt.Key{Action: receipt.GroupRead}}, {Seqs: []uint64{1}}} {
		if err := h.w.Submit(context.Background(), r); err != worker.ErrInvalidRecord {
			t.Errorf("Submit(%+v) = %v, want ErrInvalidRecord", r, err)
		}
	}
}

func TestConfigValidateListsEveryProblem(t *testing.T) {
	err := worker.Config{MaxSeqsPerCall: -1, Linger: -time.Second, MaxInFlight: -1, MaxPendingRecords: -1, UnknownMaxAttempts: -1}.Validate()
	if err == nil {
		t.Fatal("Validate accepted a bad config")
	}
	for _, want := range []string{"MaxSeqsPerCall", "Linger", "MaxInFlight", "MaxPendingRecords", "UnknownMaxAttempts"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}
