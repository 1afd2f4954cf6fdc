package worker_test

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/receiptd/receiptd/receipt"
	"github.com/receiptd/receiptd/retry"
	"github.com/receiptd/receiptd/worker"
)

// groupLimited answers 660300006 for group until the bubble's clock passes
// end, and success otherwise.
func groupLimited(group string, end time.Time) func(receipt.Request, int) receipt.Result {
	return func(req receipt.Request, call int) receipt.Result {
		if req.Key.ConvID == group && req.Key.Action.IsGroup() && time.Now().Before(end) {
			return receipt.Result{Class: receipt.ClassGroupRateLimited, Code: 660300006, Message: "group rate limit", RequestID: fmt.Sprint("req-", call)}
		}
		return receipt.Result{Class: receipt.ClassSuccess, RequestID: fmt.Sprint("req-", call)}
	}
}

// TestGroupRateLimitBacksOffThatGroupAlone: a group answered 660300006 for
// 30 s is backed off alone. The action's rate is never lowered nor paused,
// other groups' records finish as fast as without it, the limited group's
// records are neither dead-lettered nor lost, and the group is not called
// more often than its backoff allows, however many of its readers wait.
func TestGroupRateLimitBacksOffThatGroupAlone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		budget, err := retry.NewBudget(retry.BudgetConfig{RPS: 20, Actions: receipt.Actions[:]})
		if err != nil {
			t.Fatal(err)
		}
		const limitFor = 30 * time.Second
		began := time.Now()
		cfg := fastRetries
		cfg.Linger = 200 * time.Millisecond
		cfg.Backoff = retry.Policy{Initial: 250 * time.Millisecond, Max: 10 * time.Second}
		h := start(t, cfg, &fakeSender{respond: groupLimited("hot", began.Add(limitFor))}, budget)

		var hot []*worker.Record
		submitted := make(map[*worker.Record]time.Time)
		for i := range 60 {
			for _, a := range []receipt.Action{receipt.GroupRead, receipt.GroupDelivered} {
				r := record(a, fmt.Sprint("reader", i%6), "hot", uint64(i+1))
				hot = append(hot, r)
				h.submit(r)
			}
			for g := range 4 {
				r := record(receipt.Actions[g], fmt.Sprint("u", i%3), fmt.Sprint("other", g), uint64(i+1))
				submitted[r] = time.Now()
				h.submit(r)
			}
			time.Sleep(500 * time.Millisecond)
		}
		h.waitFor("every record", 5*time.Minute, func() bool { return h.done.n() == len(hot)+len(submitted) })

		var slowest time.Duration
		for r, at := range submitted {
			d := h.done.doneAt(r).Sub(at)
			slowest = max(slowest, d)
		}
		// Without the limited group, a record waits its linger and one call.
		if slowest > time.Second {
			t.Errorf("the slowest record of another group took %v; a group's rate limit must not slow other groups", slowest)
		}
		for _, a := range receipt.Actions {
			if r, ceil := budget.Rate(a), budget.Ceiling(a); r != ceil {
				t.Errorf("%s's rate is %v after a group's rate limit, want its ceiling %v: only app-level limits slow the action", a, r, ceil)
			}
		}
		hotCalls, limited, after := 0, 0, 0
		for _, c := range h.sender.sent() {
			switch {
			case c.req.Key.ConvID != "hot":
			case c.at.Before(began.Add(limitFor)):
				hotCalls++
			default:
				after++
			}
		}
		for _, ev := range h.obs.calls.All() {
			if ev.Result.Class != receipt.ClassGroupRateLimited {
				continue
			}
			limited++
			if ev.Next != worker.NextRetry || ev.RetryIn <= 0 || ev.RateLimitPause != 0 {
				t.Errorf("660300006 answered: next %s, retry in %v, pause %v; want a retry after the group's backoff and no pause", ev.Next, ev.RetryIn, ev.RateLimitPause)
			}
		}
		// 12 keys of the group, each backing off on its own, would make
		// about 12 times as many calls as one backoff for the group.
		if hotCalls > 15 || limited == 0 {
			t.Errorf("%d calls for the limited group during its %v limit (%d answered 660300006), want a handful: one backoff for the whole group",
				hotCalls, limitFor, limited)
		}
		if n := len(h.dlq.Letters()); n != 0 {
			t.Errorf("%d records dead-lettered; a rate limit never dead-letters", n)
		}
		if s := h.w.Stats(); s.RateLimited != 0 || s.GroupRateLimited != uint64(limited) {
			t.Errorf("stats count %d rate-limited and %d group-rate-limited answers, want 0 and %d", s.RateLimited, s.GroupRateLimited, limited)
		}
		// Held batches keep absorbing their keys' seqs: once the limit
		// lifts, each of the 12 keys' 10 seqs leave in one call, besides
		// the few batches that were sent before a hold (they no longer
		// absorb). Without coalescing it would be some 120 calls.
		if after > 16 {
			t.Errorf("%d calls for the limited group after its limit, want about 12: held batches must keep coalescing", after)
		}
		t.Logf("%d calls for the limited group in %v, %d answered 660300006, %d after; slowest other record %v", hotCalls, limitFor, limited, after, slowest)
	})
}

// TestGroupHoldCoversEveryKeyOfTheGroup: once a call for a group is answered
// 660300006, no call for any reader of that group, in either group action,
// leaves before the delay the answer's event reports; other groups keep
// going meanwhile; the delays grow.
func TestGroupHoldCoversEveryKeyOfTheGroup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		began := time.Now()
		cfg := fastRetries
		cfg.MaxInFlight = 1 // one call at a time: call i is answered by event i
		cfg.Backoff = retry.Policy{Initial: time.Second, Max: 8 * time.Second, Jitter: 0.2}
		h := start(t, cfg, &fakeSender{respond: groupLimited("hot", began.Add(20*time.Second))}, nil)
		var lastCold time.Time
		for i := range 40 {
			a := receipt.GroupRead
			if i%2 == 1 {
				a = receipt.GroupDelivered
			}
			h.submit(record(a, fmt.Sprint("reader", i%5), "hot", uint64(i+1)))
			h.submit(record(receipt.GroupRead, "u", "cold", uint64(i+1)))
			lastCold = time.Now()
			time.Sleep(500 * time.Millisecond)
		}
		h.waitFor("every record", 5*time.Minute, func() bool { return h.done.n() == 80 })

		calls, events := h.sender.sent(), h.obs.calls.All()
		if len(calls) != len(events) {
			t.Fatalf("%d calls, %d events", len(calls), len(events))
		}
		var prev time.Duration
		grew := 0
		for i, ev := range events {
			if ev.Result.Class != receipt.ClassGroupRateLimited {
				continue
			}
			if ev.RetryIn > prev {
				grew++
			}
			prev = ev.RetryIn
			free := calls[i].at.Add(ev.RetryIn)
			for _, c := range calls[i+1:] {
				if c.req.Key.ConvID == "hot" && c.at.Before(free) {
					t.Fatalf("call %d for %v answered 660300006 with a retry in %v; %v later %v was sent for the same group",
						i, ev.Key, ev.RetryIn, c.at.Sub(calls[i].at), c.req.Key)
				}
			}
			coldDuringHold := false
			for _, c := range calls[i+1:] {
				if c.req.Key.ConvID == "cold" && c.at.Before(free) {
					coldDuringHold = true
				}
			}
			// Only a hold that began before the last record of the other
			// group was submitted has one to send.
			if ev.RetryIn > 2*time.Second && calls[i].at.Before(lastCold) && !coldDuringHold {
				t.Errorf("no call for another group during a %v hold of the limited group from %v", ev.RetryIn, calls[i].at.Sub(began))
			}
		}
		if grew < 3 {
			t.Errorf("the group's backoff grew %d times in 20 s of 660300006 answers, want exponential growth", grew)
		}
	})
}

// TestResignCountResetsOnOtherAnswers: "re-sign twice in a row is
// systemic" counts consecutive answers; another answer between two
// re-signs resets it.
func TestResignCountResetsOnOtherAnswers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		answers := []receipt.Class{receipt.ClassResign, receipt.ClassTransient, receipt.ClassResign, receipt.ClassRateLimited, receipt.ClassResign}
		h := start(t, fastRetries, &fakeSender{respond: results(answers...)}, nil)
		r := record(receipt.GroupRead, "alice", "team", 1)
		h.submit(r)
		h.waitFor("the record", time.Hour, func() bool { return h.done.isDone(r) })
		if got := h.obs.systemic.All(); len(got) != 0 {
			t.Errorf("systemic events %+v for re-signs that never came twice in a row", got)
		}
		if n := len(h.sender.sent()); n != len(answers)+1 {
			t.Errorf("%d calls, want %d", n, len(answers)+1)
		}
	})
}

// TestSystemicPauseEndsOnlyWhenTheSignatureIsAccepted: during a systemic
// pause, a probe answered with something that proves nothing about the
// signature (rate limits of either kind, busy, re-sign, an unknown code)
// leaves dispatch paused; an answer only an authenticated request gets
// (success, a rejected receipt, too many seqs) ends the pause.
func TestSystemicPauseEndsOnlyWhenTheSignatureIsAccepted(t *testing.T) {
	tests := []struct {
		probe   receipt.Class
		resumes bool
	}{
		{receipt.ClassRateLimited, false},
		{receipt.ClassGroupRateLimited, false},
		{receipt.ClassTransient, false},
		{receipt.ClassResign, false},
		{receipt.ClassUnknown, false},
		{receipt.ClassSystemic, false},
		{receipt.ClassSuccess, true},
		{receipt.ClassDeadLetter, true},
		{receipt.ClassTooMany, true},
	}
	for _, tt := range tests {
		t.Run(tt.probe.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				probe := receipt.Result{Class: tt.probe, Code: codeOf[tt.probe], Message: "probe answer"}
				sender := &fakeSender{respond: func(_ receipt.Request, call int) receipt.Result {
					switch call {
					case 0:
						return receipt.Result{Class: receipt.ClassSystemic, Code: 100000005, Message: "signature wrong"}
					case 1:
						return probe
					}
					return receipt.Result{Class: receipt.ClassSuccess}
				}}
				cfg := fastRetries
				cfg.SystemicBackoff = retry.Policy{Initial: 10 * time.Second, Max: 10 * time.Second, Jitter: 0.01}
				h := start(t, cfg, sender, nil)
				h.submit(record(receipt.GroupRead, "a", "g", 1, 2))
				h.waitFor("the probe's answer", time.Minute, func() bool { return len(h.obs.calls.All()) >= 2 })
				synctest.Wait()
				if h.w.Ready() != tt.resumes {
					t.Errorf("after a probe answered %s: ready = %v, want %v", tt.probe, h.w.Ready(), tt.resumes)
				}
			})
		})
	}
}

// TestKeyBatchesShareOneBackoff: the batches of a key answered "busy" wait
// out one backoff together, behind one probe, instead of each retrying on
// its own; once the key answers again they all go, and other keys never
// wait for it.
func TestKeyBatchesShareOneBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		began := time.Now()
		sick := func(k receipt.Key) bool { return k.UserID == "sick" && time.Since(began) < time.Minute }
		cfg := fastRetries
		cfg.Backoff = retry.Policy{Initial: 250 * time.Millisecond, Max: 10 * time.Second}
		h := start(t, cfg, &fakeSender{respond: busyFor(sick)}, nil)
		r := record(receipt.GroupRead, "sick", "team", seqRange(1, 50)...) // five batches
		h.submit(r)
		for i := range 60 {
			h.submit(record(receipt.GroupRead, "well", "team", uint64(i+1)))
			time.Sleep(time.Second)
		}
		h.waitFor("every record", time.Hour, func() bool { return h.done.n() == 61 })
		during := 0
		for _, c := range h.sender.sent() {
			if c.req.Key.UserID == "sick" && c.at.Before(began.Add(time.Minute)) {
				during++
			}
		}
		// One backoff from 250ms to 10s covers a minute in about 12 tries;
		// five batches each on its own would make five times as many.
		if during > 20 {
			t.Errorf("%d calls for the busy key in its busy minute, want one backoff's worth for its five batches", during)
		}
		if n := len(h.dlq.Letters()); n != 0 {
			t.Errorf("%d dead letters for a key busy for a minute (max age %v)", n, isolationConfig.IsolatedFailureMaxAge)
		}
		t.Logf("%d calls for the busy key in its busy minute", during)
	})
}
