package worker_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/receiptd/receiptd/receipt"
	"github.com/receiptd/receiptd/retry"
	"github.com/receiptd/receiptd/worker"
)

// busyFor answers "busy" (code 1) for every call that sick says is sick
// at the bubble's current time, and success otherwise.
func busyFor(sick func(receipt.Key) bool) func(receipt.Request, int) receipt.Result {
	return func(req receipt.Request, call int) receipt.Result {
		if sick(req.Key) {
			return receipt.Result{Class: receipt.ClassTransient, Code: 1, Message: "server busy", RequestID: fmt.Sprint("req-", call)}
		}
		return receipt.Result{Class: receipt.ClassSuccess, RequestID: fmt.Sprint("req-", call)}
	}
}

var isolationConfig = worker.Config{
	Linger:                200 * time.Millisecond,
	Backoff:               retry.Policy{Initial: 250 * time.Millisecond, Max: 30 * time.Second},
	SystemicBackoff:       retry.Policy{Initial: time.Second, Max: 10 * time.Second},
	IsolatedFailureMaxAge: 10 * time.Minute,
}

// submitWithin submits r, failing t if Submit blocks for more than a
// second: a full pending bound.
func submitWithin(t *testing.T, h *harness, r *worker.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := h.w.Submit(ctx, r); err != nil {
		t.Fatalf("Submit of %v: %v (pending %d): the pending bound is full", r.Key, err, h.w.Stats().Pending)
	}
}

// TestKeyFailingAloneIsDeadLetteredAfterMaxAge: a key answered "busy" for
// good while other keys of its action succeed keeps its records for
// IsolatedFailureMaxAge, then they are dead-lettered as exhausted with the
// last code, and the other keys never notice.
func TestKeyFailingAloneIsDeadLetteredAfterMaxAge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, isolationConfig, &fakeSender{respond: busyFor(func(k receipt.Key) bool { return k.UserID == "sick" })}, nil)
		began := time.Now()
		var sick []*worker.Record
		healthy := 0
		// The other keys keep succeeding until every record of the sick
		// key has gone: without them, its failures would be an outage.
		for i := 0; i < 15*60 || h.done.n() < healthy+len(sick); i++ {
			if i == 30*60 {
				t.Fatalf("after 30 minutes, %d of %d records done", h.done.n(), healthy+len(sick))
			}
			if i%10 == 0 && i < 15*60 {
				r := record(receipt.GroupRead, "sick", "team", uint64(i+1))
				sick = append(sick, r)
				submitWithin(t, h, r)
			}
			submitWithin(t, h, record(receipt.GroupRead, fmt.Sprint("well", i%7), "team", uint64(i+1)))
			healthy++
			time.Sleep(time.Second)
		}

		var first time.Time
		for _, l := range h.dlq.Letters() {
			f := l.Failure
			if l.Record.Key.UserID != "sick" {
				t.Fatalf("a record of a healthy key was dead-lettered: %+v", f)
			}
			if f.Class != worker.FailExhausted || f.Code != 1 || !strings.Contains(f.Message, "server busy") || len(f.FailedSeqs) == 0 {
				t.Errorf("dead letter %+v; want class exhausted with the last code 1 and its message", f)
			}
			if first.IsZero() || f.FailedAt.Before(first) {
				first = f.FailedAt
			}
		}
		if first.IsZero() {
			t.Fatalf("no record of the key failing alone for 15 minutes was dead-lettered (max age %v)", isolationConfig.IsolatedFailureMaxAge)
		}
		if age := first.Sub(began); age < isolationConfig.IsolatedFailureMaxAge || age > isolationConfig.IsolatedFailureMaxAge+time.Minute {
			t.Errorf("the first dead letter came %v after the key began failing, want just after the max age %v", age, isolationConfig.IsolatedFailureMaxAge)
		}
		if n := len(h.dlq.Letters()); n != len(sick) {
			t.Errorf("%d of the %d records of the failing key dead-lettered", n, len(sick))
		}
	})
}

// TestOutageDeadLettersNothing: when every key fails (a ZIM outage), nothing
// is dead-lettered, however long it lasts; after it, a key that fails once
// more is not taken for a key failing alone.
func TestOutageDeadLettersNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		outage := true
		afterOutage := map[string]int{}
		sender := &fakeSender{respond: busyFor(func(k receipt.Key) bool {
			mu.Lock()
			defer mu.Unlock()
			if outage {
				return true
			}
			afterOutage[k.UserID]++
			return k.UserID == "unlucky" && afterOutage[k.UserID] == 1 // one more busy after the outage
		})}
		h := start(t, isolationConfig, sender, nil)
		var submitted int
		for i := range 40 {
			h.submit(record(receipt.C2CRead, fmt.Sprint("u", i%4), "peer", uint64(i+1)))
			h.submit(record(receipt.C2CRead, "unlucky", "peer", uint64(i+1)))
			submitted += 2
			time.Sleep(time.Second)
		}
		time.Sleep(2 * time.Hour) // far past the max age
		if n := len(h.dlq.Letters()); n != 0 || h.done.n() != 0 {
			t.Fatalf("during a 2 h outage: %d records dead-lettered, %d done; want none of either", n, h.done.n())
		}
		mu.Lock()
		outage = false
		mu.Unlock()
		h.waitFor("every record", time.Hour, func() bool { return h.done.n() == submitted })
		if n := len(h.dlq.Letters()); n != 0 {
			t.Errorf("%d records dead-lettered after an outage; a key failing with everyone never is", n)
		}
	})
}

// TestKeyFailingAloneHoldsBoundedShare: a key failing alone may hold at
// most half of MaxPendingRecords; records beyond are dead-lettered at once
// as exhausted, so the bound never fills and the other keys keep flowing.
func TestKeyFailingAloneHoldsBoundedShare(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := isolationConfig
		cfg.MaxPendingRecords = 200 // the failing keys reach half of it after their grace of a minute
		h := start(t, cfg, &fakeSender{respond: busyFor(func(k receipt.Key) bool { return k.ConvID == "hot" })}, nil)
		healthy := map[*worker.Record]time.Time{}
		peak := 0
		for i := range 300 {
			for range 2 {
				submitWithin(t, h, record(receipt.GroupRead, fmt.Sprint("reader", i%3), "hot", uint64(i+1)))
			}
			r := record(receipt.GroupRead, "reader", fmt.Sprint("g", i%5), uint64(i+1))
			healthy[r] = time.Now()
			submitWithin(t, h, r)
			peak = max(peak, h.w.Stats().Pending)
			time.Sleep(time.Second)
		}
		synctest.Wait()
		for r, at := range healthy {
			if !h.done.isDone(r) {
				t.Fatalf("a healthy record submitted %v ago is not done", time.Since(at))
			}
			if d := h.done.doneAt(r).Sub(at); d > time.Second {
				t.Errorf("a healthy record took %v", d)
			}
		}
		letters := h.dlq.Letters()
		if len(letters) == 0 {
			t.Fatal("nothing dead-lettered: the failing keys held every record they were given")
		}
		for _, l := range letters {
			if l.Record.Key.ConvID != "hot" || l.Failure.Class != worker.FailExhausted || l.Failure.Code != 1 {
				t.Errorf("dead letter of %v: %+v; want only the failing group's, exhausted with code 1", l.Record.Key, l.Failure)
			}
		}
		s := h.w.Stats()
		// A key whose every record went to the DLQ starts afresh with its
		// next one: some of the 3 may be in their grace at the end, and a
		// key that turns out to fail alone with more than the share keeps
		// the excess until its next failed attempt.
		if s.FailingAloneKeys < 1 || s.FailingAloneKeys > 3 || s.FailingAloneRecords >= cfg.MaxPendingRecords*3/4 {
			t.Errorf("stats: %d keys failing alone with %d records; want 1 to 3 keys holding about half of %d", s.FailingAloneKeys, s.FailingAloneRecords, cfg.MaxPendingRecords)
		}
		if peak >= cfg.MaxPendingRecords {
			t.Errorf("pending reached the bound of %d", cfg.MaxPendingRecords)
		}
		t.Logf("peak pending %d of %d; %d dead-lettered; %d records of keys failing alone", peak, cfg.MaxPendingRecords, len(letters), s.FailingAloneRecords)
	})
}

func TestIsolatedFailureMaxAgeValidated(t *testing.T) {
	err := worker.Config{IsolatedFailureMaxAge: -time.Second}.Validate()
	if err == nil || !strings.Contains(err.Error(), "IsolatedFailureMaxAge") {
		t.Errorf("Validate = %v, want an error naming IsolatedFailureMaxAge", err)
	}
}
