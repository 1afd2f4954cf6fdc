package worker

import (
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/receiptd/receiptd/retry"
)

// groupHolds keeps back the keys of groups that ZIM answered "too fast for
// this group" (660300006): every reader's key of the group, in both group
// actions, waits until the group's hold ends, while other groups and the
// action's rate budget go on untouched. When a hold ends, one batch of the
// group goes alone as a probe, and the others wait for its answer: a
// success releases them all, another 660300006 holds the group again.
//
// A group's holds form one episode with one BackOff of its own: each
// 660300006 that arrives after the hold ended extends it by the next,
// longer delay; answers to calls that were already under way when the hold
// began join it. The episode ends with the first other answer for the
// group after its hold. It is not safe for concurrent use; the Worker
// guards it with its lock. A nil *groupHolds holds nothing.
type groupHolds struct {
	policy retry.Policy
	groups map[string]*groupHold
}

// groupHold is one group's episode.
type groupHold struct {
	bo        *backoff.ExponentialBackOff // this episode's alone
	until     time.Time                   // end of the current hold
	probe     *batch                      // sent after the hold, not yet answered
	probeSent time.Time
	waiting   []*batch // held for the probe's answer; see batch.waitingOn
}

const (
	// probeTimeout bounds how long a group's batches wait for its probe's
	// answer: far longer than any call takes, it only guards against an
	// answer that never comes.
	probeTimeout = time.Minute
	// maxIdleHolds is how many episodes are kept before those of groups
	// long out of their hold are pruned.
	maxIdleHolds = 256
)

func newGroupHolds(policy retry.Policy) *groupHolds {
	return &groupHolds{policy: policy, groups: make(map[string]*groupHold)}
}

// groupOf returns the group a key addresses; c2c keys have none.
func groupOf(k Key) (string, bool) {
	if k.Action.IsGroup() {
		return k.ConvID, true
	}
	return "", false
}

// episode returns k's group's episode, or nil.
func (h *groupHolds) episode(k Key) *groupHold {
	if h == nil || len(h.groups) == 0 {
		return nil
	}
	group, ok := groupOf(k)
	if !ok {
		return nil
	}
	return h.groups[group]
}

// wait reports whether b must wait at now, and until when it is due to be
// looked at again. A batch that waits for the probe's answer joins the
// episode's waiting list; the answer releases it.
func (h *groupHolds) wait(b *batch, now time.Time) (time.Time, *groupHold, bool) {
	g := h.episode(b.key)
	switch {
	case g == nil:
		return time.Time{}, nil, false
	case now.Before(g.until):
		return g.until, nil, true
	case g.probe != nil && g.probe != b && now.Sub(g.probeSent) < probeTimeout:
		return g.probeSent.Add(probeTimeout), g, true
	}
	return time.Time{}, nil, false
}

// sending records that b leaves at now: after a hold, it is its group's
// probe.
func (h *groupHolds) sending(b *batch, now time.Time) {
	if g := h.episode(b.key); g != nil && g.probe == nil {
		g.probe, g.probeSent = b, now
	}
}

// answered records the answer of class to b's call at now and returns the
// episode whose waiting batches are due at the returned time, if any. A
// 660300006 holds the group (see limited); another answer after the hold
// ends the episode and releases every batch at once.
func (h *groupHolds) answered(b *batch, class Class, now time.Time) (*groupHold, time.Time) {
	if _, ok := groupOf(b.key); !ok {
		return nil, time.Time{}
	}
	if class == ClassGroupRateLimited {
		g, until := h.limited(b, now)
		return g, until
	}
	g := h.episode(b.key)
	if g == nil || now.Before(g.until) {
		return nil, time.Time{}
	}
	group, _ := groupOf(b.key)
	delete(h.groups, group)
	return g, now
}

// limited records a 660300006 answer to b's call at now and returns the
// group's episode and the end of its hold.
func (h *groupHolds) limited(b *batch, now time.Time) (*groupHold, time.Time) {
	group, _ := groupOf(b.key)
	g := h.groups[group]
	if g == nil {
		if len(h.groups) >= maxIdleHolds {
			h.prune(now)
		}
		g = &groupHold{bo: h.policy.New()}
		h.groups[group] = g
	}
	if g.probe == b {
		g.probe = nil
	}
	if now.Before(g.until) {
		return g, g.until // a call sent before the hold began: the same hold
	}
	g.until = now.Add(g.bo.NextBackOff())
	return g, g.until
}

// held returns how many groups are held at now, waiting for a probe's
// answer included.
func (h *groupHolds) held(now time.Time) int {
	n := 0
	for _, g := range h.groups {
		if now.Before(g.until) || g.probe != nil {
			n++
		}
	}
	return n
}

// forgetBatches drops every reference to batches: Drain abandoned them. A
// probe's answer still counts when it comes.
func (h *groupHolds) forgetBatches() {
	for _, g := range h.groups {
		g.probe, g.waiting = nil, nil
	}
}

// prune forgets the episodes of groups whose hold ended long ago and that
// wait for nothing.
func (h *groupHolds) prune(now time.Time) {
	for group, g := range h.groups {
		if g.probe == nil && len(g.waiting) == 0 && now.Sub(g.until) > probeTimeout {
			delete(h.groups, group)
		}
	}
}
