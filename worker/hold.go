package worker

// Holds after "not now" answers for a group or a key. Lock contract: holds
// and every hold and batch it points to are guarded by w.mu; every method
// here requires it held. They run on the callers (answered, end), the
// dispatchers (wait, sending, through the batcher) and Stats (held).

import (
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/receiptd/receiptd/receipt"
	"github.com/receiptd/receiptd/retry"
)

// holds keep batches back after answers that say "not now" about more
// than the batch that got them:
//
//   - A group's rate limit (660300006) holds every reader's key of the
//     group, in both group actions.
//   - A transient answer (busy, 5xx, timeouts) holds every batch of that
//     key: its batches share one backoff instead of retrying one by one.
//
// Other groups, other keys and the action's rate budget go on untouched.
// When a hold ends, one batch goes alone as a probe and the others wait
// for its answer: another such answer holds them again, for longer; any
// other answer releases them all. Held batches that were never sent keep
// absorbing seqs, so they leave as full as they can.
//
// Each scope's holds form one episode with one BackOff of its own: each
// answer that arrives after the hold ended extends it by the next, longer
// delay; answers to calls that were already under way when the hold began
// join it. The episode ends with the first other answer after its hold.
// holds is not safe for concurrent use; the Worker guards it with its
// lock. A nil *holds holds nothing.
type holds struct {
	policy retry.Policy
	m      map[holdScope]*hold
}

// holdScope is what a hold keeps back: a group's keys, or one key.
type holdScope struct {
	group string      // for a group's hold
	key   receipt.Key // for a key's hold; zero for a group's
}

// hold is one scope's episode.
type hold struct {
	bo        *backoff.ExponentialBackOff // this episode's alone
	until     time.Time                   // end of the current hold
	probe     *batch                      // sent after the hold, not yet answered
	probeSent time.Time
	waiting   []*batch // held for the probe's answer; see batch.waitingOn
}

const (
	// probeTimeout bounds how long batches wait for a probe's answer: far
	// longer than any call takes, it only guards against an answer that
	// never comes.
	probeTimeout = time.Minute
	// maxIdleHolds is how many episodes are kept before those long out of
	// their hold are pruned.
	maxIdleHolds = 1024
)

func newHolds(policy retry.Policy) *holds {
	return &holds{policy: policy, m: make(map[holdScope]*hold)}
}

// groupScope returns the scope of k's group; c2c keys have none.
func groupScope(k receipt.Key) (holdScope, bool) {
	if k.Action.IsGroup() {
		return holdScope{group: k.ConvID}, true
	}
	return holdScope{}, false
}

func keyScope(k receipt.Key) holdScope { return holdScope{key: k} }

// scopes returns the holds that apply to k, its group's first.
func (h *holds) scopes(k receipt.Key) [2]*hold {
	var out [2]*hold
	if h == nil || len(h.m) == 0 {
		return out
	}
	if s, ok := groupScope(k); ok {
		out[0] = h.m[s]
	}
	out[1] = h.m[keyScope(k)]
	return out
}

// wait reports whether b must wait at now, and until when it is due to be
// looked at again. A batch that waits for a probe's answer is returned
// with that hold, whose answer releases it.
func (h *holds) wait(b *batch, now time.Time) (time.Time, *hold, bool) {
	for _, g := range h.scopes(b.key) {
		switch {
		case g == nil:
		case now.Before(g.until):
			return g.until, nil, true
		case g.probe != nil && g.probe != b && now.Sub(g.probeSent) < probeTimeout:
			return g.probeSent.Add(probeTimeout), g, true
		}
	}
	return time.Time{}, nil, false
}

// sending records that b leaves at now: after a hold, it is the probe.
func (h *holds) sending(b *batch, now time.Time) {
	for _, g := range h.scopes(b.key) {
		if g != nil && g.probe == nil {
			g.probe, g.probeSent = b, now
		}
	}
}

// holdRelease is a hold whose waiting batches are due at a time.
type holdRelease struct {
	h  *hold
	at time.Time
}

// answered records the answer of class to b's call at now. It returns the
// time b may be sent again under its holds (zero when none applies) and
// the holds whose waiting batches are due anew.
func (h *holds) answered(b *batch, class receipt.Class, now time.Time) (retryAt time.Time, rel []holdRelease) {
	if s, ok := groupScope(b.key); ok {
		at, r := h.step(s, b, class == receipt.ClassGroupRateLimited, now)
		rel = append(rel, r...)
		if class == receipt.ClassGroupRateLimited {
			retryAt = at
		}
	}
	at, r := h.step(keyScope(b.key), b, class == receipt.ClassTransient, now)
	rel = append(rel, r...)
	if class == receipt.ClassTransient {
		retryAt = at
	}
	return retryAt, rel
}

// step moves scope s's episode on after an answer to b's call: held says
// whether it is the scope's kind of "not now".
func (h *holds) step(s holdScope, b *batch, held bool, now time.Time) (time.Time, []holdRelease) {
	g := h.m[s]
	if !held {
		if g == nil || now.Before(g.until) {
			return time.Time{}, nil
		}
		delete(h.m, s)
		return time.Time{}, []holdRelease{{g, now}}
	}
	if g == nil {
		if len(h.m) >= maxIdleHolds {
			h.prune(now)
		}
		g = &hold{bo: h.policy.New()}
		h.m[s] = g
	}
	if g.probe == b {
		g.probe = nil
	}
	if now.Before(g.until) {
		return g.until, nil // a call sent before the hold began: the same hold
	}
	g.until = now.Add(g.bo.NextBackOff())
	return g.until, []holdRelease{{g, g.until}}
}

// end ends k's own episode, if any, and returns it: its batches are being
// dead-lettered.
func (h *holds) end(k receipt.Key) *hold {
	s := keyScope(k)
	g := h.m[s]
	delete(h.m, s)
	return g
}

// held returns how many scopes of kind group (or key) are held at now,
// waiting for a probe's answer included.
func (h *holds) held(now time.Time) (groups, keys int) {
	for s, g := range h.m {
		if !now.Before(g.until) && g.probe == nil {
			continue
		}
		if s.group != "" {
			groups++
		} else {
			keys++
		}
	}
	return groups, keys
}

// forgetBatches drops every reference to batches: Drain abandoned them. A
// probe's answer still counts when it comes.
func (h *holds) forgetBatches() {
	for _, g := range h.m {
		g.probe, g.waiting = nil, nil
	}
}

// prune forgets the episodes that ended long ago and wait for nothing.
func (h *holds) prune(now time.Time) {
	for s, g := range h.m {
		if g.probe == nil && len(g.waiting) == 0 && now.Sub(g.until) > probeTimeout {
			delete(h.m, s)
		}
	}
}
