package worker

// Lock contract: the batcher is not safe for concurrent use. The Worker
// guards it, and every batch and item in it, with w.mu; every method here
// requires w.mu held. A batch taken out by pop belongs to the caller that
// sends it until the answer is acted on, again under w.mu.

import (
	"container/heap"
	"slices"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/receiptd/receiptd/receipt"
)

type batchState uint8

const (
	stateOpen     batchState = iota // absorbing seqs for its key
	stateFull                       // at the seq cap, waiting for its turn
	stateRetry                      // failed, waiting for its backoff to pass
	stateHeld                       // never sent, waiting for its group's hold to end; still absorbing seqs
	stateInFlight                   // being sent
)

// batch is one future API request: up to maxSeqs seqs for one key, and the
// items whose seqs it carries.
type batch struct {
	key     receipt.Key
	seqs    []uint64 // sorted, distinct
	parts   []*item  // each item at most once
	created time.Time
	id      uint64 // creation order, to break ties
	gen     uint64
	state   batchState

	attempts     int // sends so far
	unknowns     int // answers of class unknown so far
	firstAttempt time.Time
	notBefore    time.Time
	resigned     bool
	bo           *backoff.ExponentialBackOff
	waitingOn    *hold // the episode whose probe it waits for

	heapIdx    int
	prev, next *batch // the open list
}

// batcher holds every batch not yet sent or waiting to be sent again, and
// picks the next one per action. It is not safe for concurrent use; the
// Worker guards it with its lock.
type batcher struct {
	maxSeqs int
	linger  time.Duration
	flush   bool // every open batch is ready at once (Drain)
	lastID  uint64
	holds   *holds // groups and keys whose batches must wait

	keys   map[receipt.Key][]*batch // unsent fresh batches per key, oldest first; only the last may absorb
	queues [len(receipt.Actions) + 1]queue
}

// queue holds one action's batches by readiness.
type queue struct {
	openHead, openTail *batch    // open batches, oldest first
	full               batchHeap // full batches, oldest first
	retry              batchHeap // batches waiting to be sent (again), earliest due first
}

func newBatcher(maxSeqs int, linger time.Duration, holds *holds) *batcher {
	bt := &batcher{maxSeqs: maxSeqs, linger: linger, holds: holds}
	bt.reset()
	return bt
}

// add spreads the item's seqs over its key's batches: a seq already waiting in one
// of them is not sent twice; the rest fill the open batch and then new ones.
// It reports whether a batch was created or became full, which may make the
// action's next batch ready sooner.
func (bt *batcher) add(it *item, gen uint64, now time.Time) (changed bool) {
	key := it.rec.Key
	batches := bt.keys[key]
	var touched [4]*batch
	used := touched[:0]
	for _, seq := range it.rec.Seqs {
		b := findSeq(batches, seq)
		if b == nil {
			if n := len(batches); n > 0 && bt.absorbs(batches[n-1]) {
				b = batches[n-1]
			} else {
				b = bt.newBatch(key, gen, now)
				batches = append(batches, b)
				changed = true
			}
			b.insert(seq)
			if len(b.seqs) >= bt.maxSeqs && b.state == stateOpen {
				bt.markFull(b)
				changed = true
			}
		}
		if !slices.Contains(used, b) {
			used = append(used, b)
		}
	}
	bt.keys[key] = batches
	for _, b := range used {
		b.parts = append(b.parts, it)
		it.remaining++
	}
	return changed
}

// absorbs reports whether fresh batch b takes more seqs: an open one, or
// a held one that is not full.
func (bt *batcher) absorbs(b *batch) bool {
	return b.state == stateOpen || (b.state == stateHeld && len(b.seqs) < bt.maxSeqs)
}

// findSeq returns the batch among batches that already holds seq.
func findSeq(batches []*batch, seq uint64) *batch {
	for i := len(batches) - 1; i >= 0; i-- {
		b := batches[i]
		if seq < b.seqs[0] || seq > b.seqs[len(b.seqs)-1] {
			continue
		}
		if _, ok := slices.BinarySearch(b.seqs, seq); ok {
			return b
		}
	}
	return nil
}

func (b *batch) insert(seq uint64) {
	i, _ := slices.BinarySearch(b.seqs, seq)
	b.seqs = slices.Insert(b.seqs, i, seq)
}

func (bt *batcher) newBatch(key receipt.Key, gen uint64, now time.Time) *batch {
	bt.lastID++
	b := &batch{key: key, created: now, id: bt.lastID, gen: gen, state: stateOpen,
		seqs: make([]uint64, 0, bt.maxSeqs)}
	q := &bt.queues[key.Action]
	b.prev = q.openTail
	if q.openTail != nil {
		q.openTail.next = b
	} else {
		q.openHead = b
	}
	q.openTail = b
	return b
}

func (bt *batcher) markFull(b *batch) {
	q := &bt.queues[b.key.Action]
	q.unlinkOpen(b)
	b.state = stateFull
	heap.Push(&q.full, b)
}

func (q *queue) unlinkOpen(b *batch) {
	if b.prev != nil {
		b.prev.next = b.next
	} else {
		q.openHead = b.next
	}
	if b.next != nil {
		b.next.prev = b.prev
	} else {
		q.openTail = b.prev
	}
	b.prev, b.next = nil, nil
}

// retryAt queues b to be sent again once notBefore has passed.
func (bt *batcher) retryAt(b *batch, notBefore time.Time) {
	b.state = stateRetry
	b.notBefore = notBefore
	heap.Push(&bt.queues[b.key.Action].retry, b)
}

// ready returns the oldest ready batch of action a, or nil. Ready means
// full, open for at least linger (or flushing), or due for a (re)try;
// among ready batches the one created first leaves first. A ready batch
// whose group is held is moved aside until the hold ends.
func (bt *batcher) ready(a receipt.Action, now time.Time) *batch {
	q := &bt.queues[a]
	for {
		var best *batch
		consider := func(b *batch) {
			if b != nil && (best == nil || older(b, best)) {
				best = b
			}
		}
		if r := q.retry.peek(); r != nil && !r.notBefore.After(now) {
			consider(r)
		}
		consider(q.full.peek())
		if h := q.openHead; h != nil && (bt.flush || now.Sub(h.created) >= bt.linger) {
			consider(h)
		}
		if best == nil {
			return nil
		}
		until, g, held := bt.holds.wait(best, now)
		if !held {
			return best
		}
		bt.hold(best, until)
		if g != nil && best.waitingOn != g {
			best.waitingOn = g
			g.waiting = append(g.waiting, best)
		}
	}
}

// hold makes b wait until its group's hold ends. A fresh batch keeps
// absorbing seqs for its key meanwhile, so that the group's receipts leave
// in as few calls as they can once it may be called again.
func (bt *batcher) hold(b *batch, until time.Time) {
	q := &bt.queues[b.key.Action]
	b.notBefore = until
	switch b.state {
	case stateRetry, stateHeld:
		heap.Fix(&q.retry, b.heapIdx)
		return
	case stateFull:
		heap.Remove(&q.full, b.heapIdx)
	case stateOpen:
		q.unlinkOpen(b)
	}
	b.state = stateHeld
	heap.Push(&q.retry, b)
}

// releaseHold makes the batches waiting for g's probe due at: the probe
// was answered. Batches that left the wait meanwhile are skipped.
func (bt *batcher) releaseHold(g *hold, at time.Time) {
	for _, b := range g.waiting {
		if b.waitingOn == g {
			b.waitingOn = nil
			bt.hold(b, at)
		}
	}
	g.waiting = nil
}

// takeHeld removes and returns the batches waiting for g's probe: their
// key's records are being dead-lettered.
func (bt *batcher) takeHeld(g *hold) []*batch {
	var out []*batch
	for _, b := range g.waiting {
		if b.waitingOn != g {
			continue
		}
		b.waitingOn = nil
		heap.Remove(&bt.queues[b.key.Action].retry, b.heapIdx)
		if b.state == stateHeld {
			bt.forget(b)
		}
		b.state = stateInFlight
		out = append(out, b)
	}
	g.waiting = nil
	return out
}

// pop removes and returns the oldest ready batch of action a, or nil; see
// ready.
func (bt *batcher) pop(a receipt.Action, now time.Time) *batch {
	best := bt.ready(a, now)
	if best == nil {
		return nil
	}
	bt.holds.sending(best, now)
	best.waitingOn = nil
	q := &bt.queues[a]
	switch best.state {
	case stateRetry:
		heap.Remove(&q.retry, best.heapIdx)
	case stateHeld:
		heap.Remove(&q.retry, best.heapIdx)
		bt.forget(best)
	case stateFull:
		heap.Remove(&q.full, best.heapIdx)
		bt.forget(best)
	case stateOpen:
		q.unlinkOpen(best)
		bt.forget(best)
	}
	best.state = stateInFlight
	return best
}

// forget removes a fresh batch from its key's list, so it absorbs no more.
func (bt *batcher) forget(b *batch) {
	batches := bt.keys[b.key]
	if i := slices.Index(batches, b); i >= 0 {
		batches = slices.Delete(batches, i, i+1)
	}
	if len(batches) == 0 {
		delete(bt.keys, b.key)
	} else {
		bt.keys[b.key] = batches
	}
}

// next reports when action a's next batch becomes ready: ready now, at a
// later time, or never without a new add (zero time, false).
func (bt *batcher) next(a receipt.Action, now time.Time) (readyNow bool, at time.Time) {
	if bt.ready(a, now) != nil {
		return true, now
	}
	// Nothing is ready: the full heap is empty, the open head (if any)
	// waits for its linger and the retry heap for its first due time.
	q := &bt.queues[a]
	if h := q.openHead; h != nil {
		at = h.created.Add(bt.linger)
	}
	if r := q.retry.peek(); r != nil && (at.IsZero() || r.notBefore.Before(at)) {
		at = r.notBefore
	}
	return false, at
}

// reset drops every batch: Drain abandoned their items.
func (bt *batcher) reset() {
	if bt.holds != nil {
		bt.holds.forgetBatches()
	}
	bt.keys = make(map[receipt.Key][]*batch)
	for i := range bt.queues {
		bt.queues[i] = queue{full: batchHeap{less: older}, retry: batchHeap{less: dueFirst}}
	}
}

// counts returns the number of batches waiting: open, full and retrying.
func (bt *batcher) counts() (open, full, retrying int) {
	for i := range bt.queues {
		q := &bt.queues[i]
		for b := q.openHead; b != nil; b = b.next {
			open++
		}
		full += q.full.Len()
		retrying += q.retry.Len()
	}
	return open, full, retrying
}
