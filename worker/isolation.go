package worker

// Keys failing alone. Lock contract: isolation and every keyState are
// guarded by w.mu; every method here requires it held. The events it
// collects are taken under w.mu (takeEvents) and told to the Observer
// after w.mu is released.

import (
	"fmt"
	"time"

	"github.com/receiptd/receiptd/receipt"
)

// A key fails alone when its calls keep failing with transient answers
// (busy, 5xx, timeouts) while calls for other keys of its action succeed:
// the trouble is that key's, not ZIM's. Left alone it would retry forever,
// and its records would fill the pending bound until fetching stopped for
// every partition. So:
//
//   - It counts as failing alone once its failures have lasted a tenth of
//     Config.IsolatedFailureMaxAge (the grace: a brief hiccup never costs a
//     record) and another key of its action succeeded within half that.
//   - Keys failing alone hold at most half of Config.MaxPendingRecords
//     between them. A new record for such a key beyond that share is
//     dead-lettered at once, and its waiting batches are at its next failed
//     attempt (the probe of its hold, see holds). Half, because the other keys then always keep at least half
//     of the bound, far more than they need to keep the rate budget busy and
//     their calls full, while a key that fails for a minute or two in a
//     backlog is not cut short before its age.
//   - Once it has failed alone for IsolatedFailureMaxAge, its batches are
//     dead-lettered at its next failed attempt; a new record gets one call.
//   - When no key of the action succeeds (a ZIM outage), no key fails
//     alone: every failure then restarts the key's clock, so nothing is
//     dead-lettered however long the outage lasts, and the bound fills and
//     fetching pauses until ZIM answers again.
//
// Dead letters carry class exhausted, the key's last code, message and
// RequestId, so they can be replayed. A key with no record pending starts
// afresh.

// keyState is the Worker's account of one key with records pending.
type keyState struct {
	records int // live items of the key
	// failingSince starts the key's current run of transient failures;
	// zero when its last answer was not one.
	failingSince time.Time
	last         receipt.Result // the last failed answer, for dead letters
	alone        bool           // counted in isolation.records
	// told and toldDead say whether the observer heard of this run of
	// failures, and of its dead letters.
	told, toldDead bool
}

// isolation is the Worker's bookkeeping of keys failing alone. w.mu guards
// it.
type isolation struct {
	keys        map[receipt.Key]*keyState
	lastSuccess [len(receipt.Actions) + 1]time.Time
	records     int // records of keys failing alone
	aloneKeys   int

	maxAge  time.Duration
	grace   time.Duration // failures shorter than this are a hiccup
	healthy time.Duration // an action succeeded within this: it is not an outage
	share   int           // the records keys failing alone may hold together

	events []FailingAloneEvent // for the observer, taken by the Worker after unlocking
}

func newIsolation(maxAge time.Duration, maxPending int) isolation {
	return isolation{
		keys:    make(map[receipt.Key]*keyState),
		maxAge:  maxAge,
		grace:   maxAge / 10,
		healthy: maxAge / 20,
		share:   max(1, maxPending/2),
	}
}

// track counts a new record of k and returns its key's state.
func (is *isolation) track(k receipt.Key) *keyState {
	ks := is.keys[k]
	if ks == nil {
		ks = &keyState{}
		is.keys[k] = ks
	}
	ks.records++
	if ks.alone {
		is.records++
	}
	return ks
}

// untrack forgets a finished record of k.
func (is *isolation) untrack(k receipt.Key, ks *keyState) {
	ks.records--
	if ks.alone {
		is.records--
	}
	if ks.records == 0 {
		is.setAlone(ks, false)
		delete(is.keys, k)
	}
}

func (is *isolation) setAlone(ks *keyState, alone bool) {
	if ks.alone == alone {
		return
	}
	ks.alone = alone
	if alone {
		is.records += ks.records
		is.aloneKeys++
	} else {
		is.records -= ks.records
		is.aloneKeys--
	}
}

// actionHealthy reports whether a key of a succeeded recently.
func (is *isolation) actionHealthy(a receipt.Action, now time.Time) bool {
	last := is.lastSuccess[a]
	return !last.IsZero() && now.Sub(last) <= is.healthy
}

// reassess decides at now whether ks's key fails alone.
func (is *isolation) reassess(k receipt.Key, ks *keyState, now time.Time) bool {
	alone := !ks.failingSince.IsZero() && now.Sub(ks.failingSince) >= is.grace && is.actionHealthy(k.Action, now)
	is.setAlone(ks, alone)
	if alone && !ks.told {
		ks.told = true
		is.events = append(is.events, FailingAloneEvent{Key: k, For: now.Sub(ks.failingSince), Records: ks.records, Result: ks.last})
	}
	return alone
}

// deadLettering tells the observer, once per run of failures, that the
// key's records are being dead-lettered and why.
func (is *isolation) deadLettering(k receipt.Key, ks *keyState, now time.Time, reason string) string {
	if !ks.toldDead {
		ks.toldDead = true
		is.events = append(is.events, FailingAloneEvent{Key: k, For: now.Sub(ks.failingSince), Records: ks.records, Result: ks.last, DeadLettering: reason})
	}
	return reason
}

// takeEvents returns and forgets the events for the observer.
func (is *isolation) takeEvents() []FailingAloneEvent {
	ev := is.events
	is.events = nil
	return ev
}

// succeeded records a success for k at now.
func (is *isolation) succeeded(k receipt.Key, now time.Time) {
	is.lastSuccess[k.Action] = now
	is.settled(k)
}

// settled records an answer that shows ZIM handled k's call (a success, a
// rejected receipt, too many seqs): the key is not failing.
func (is *isolation) settled(k receipt.Key) {
	if ks := is.keys[k]; ks != nil && !ks.failingSince.IsZero() {
		ks.failingSince = time.Time{}
		ks.told, ks.toldDead = false, false
		is.setAlone(ks, false)
	}
}

// failed records a transient answer res for k at now and says what becomes
// of the batch: a non-empty reason means it is dead-lettered.
func (is *isolation) failed(k receipt.Key, res receipt.Result, now time.Time) (reason string) {
	ks := is.keys[k]
	if ks == nil {
		return "" // its records were abandoned by Drain
	}
	ks.last = res
	if ks.failingSince.IsZero() || !is.actionHealthy(k.Action, now) {
		// A new run of failures, or every key fails: the clock restarts.
		ks.failingSince = now
		ks.told, ks.toldDead = false, false
	}
	if !is.reassess(k, ks, now) {
		return ""
	}
	switch age := now.Sub(ks.failingSince); {
	case age >= is.maxAge:
		return is.deadLettering(k, ks, now, fmt.Sprintf("the key failed alone for %s, worker.isolated_failure_max_age", age.Round(time.Second)))
	case is.records > is.share:
		return is.deadLettering(k, ks, now, is.overShareReason(age))
	}
	return ""
}

func (is *isolation) overShareReason(age time.Duration) string {
	return fmt.Sprintf("the key failed alone for %s and keys failing alone hold more than %d records, half of worker.max_pending_records",
		age.Round(time.Second), is.share)
}

// overShare reports whether a new record of ks's key is beyond the share
// of keys failing alone, and why.
func (is *isolation) overShare(k receipt.Key, ks *keyState, now time.Time) (reason string) {
	if ks.failingSince.IsZero() || !is.reassess(k, ks, now) || is.records <= is.share {
		return ""
	}
	return is.deadLettering(k, ks, now, is.overShareReason(now.Sub(ks.failingSince)))
}

// exhausted is the failure of a record dead-lettered for its key failing
// alone: the last answer, with the reason after it.
func exhausted(res receipt.Result, reason string) receipt.Result {
	msg := res.Message
	if msg == "" && res.Err != nil {
		msg = res.Err.Error()
	}
	res.Message = msg + " (" + reason + ")"
	return res
}
