package consumer

// How far each owned partition is behind, for metrics and the summary line.
// The log end offsets come from a poller that runs beside the fetchers, so
// that lag keeps growing while fetching is paused at the pending bound,
// which is when the backlog grows; a fetch raises them in between polls.
//
// Goroutine contract: pollLogEnds runs on one goroutine that Run owns; the
// log end of a tracker is an atomic, raised by the poller and the fetcher;
// the trackers' other figures are read under their own lock. Progress and
// Lag may be called from any goroutine.

import (
	"context"
	"slices"
	"time"
)

// PartitionProgress is where one owned partition stands.
type PartitionProgress struct {
	Partition int
	// Lag is the records between the group's committed offset and the log
	// end (the last stable offset); -1 until the log end is known.
	Lag int64
	// Pending is the records fetched and not yet done.
	Pending int64
	// OldestPending is when the oldest record not yet done was fetched;
	// zero when nothing is pending.
	OldestPending time.Time
}

// Progress returns the progress of every partition owned in the current
// generation, in partition order; it is empty between generations. It is
// safe to call from any goroutine and never waits for the network.
func (c *Consumer) Progress() []PartitionProgress {
	ts := c.currentTrackers()
	out := make([]PartitionProgress, 0, len(ts))
	for _, t := range ts {
		lag, ok := t.lagRecords()
		if !ok {
			lag = -1
		}
		out = append(out, PartitionProgress{Partition: t.partition, Lag: lag,
			Pending: t.outstanding.Load(), OldestPending: t.oldestPending()})
	}
	return out
}

// pollLogEnds reads the log end offsets of the owned partitions every
// Config.LagPollInterval, and at once for partitions whose log end is not
// known yet (a new generation), until ctx ends.
func (c *Consumer) pollLogEnds(ctx context.Context) {
	tick := time.NewTicker(min(c.cfg.LagPollInterval, time.Second))
	defer tick.Stop()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		ts := c.currentTrackers()
		due := c.now().Sub(last) >= c.cfg.LagPollInterval
		for _, t := range ts {
			due = due || t.logEnd.Load() < 0
		}
		if len(ts) == 0 || !due {
			continue
		}
		last = c.now()
		c.pollOnce(ctx, ts)
	}
}

// pollOnce reads the log end offsets of ts's partitions. A failure is
// reported; the previous figures stay until the next poll succeeds.
func (c *Consumer) pollOnce(ctx context.Context, ts []*tracker) {
	partitions := make([]int, len(ts))
	for i, t := range ts {
		partitions[i] = t.partition
	}
	lctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	offs, err := c.listOffsets(lctx, partitions)
	if err != nil {
		if ctx.Err() == nil {
			c.obs.LagPollFailed(LagPollFailed{Topic: c.cfg.Topic, Partitions: partitions, Err: err})
		}
		return
	}
	for _, t := range ts {
		t.raiseLogEnd(offs[t.partition].LastOffset)
	}
}

// currentTrackers returns the current generation's trackers in partition
// order.
func (c *Consumer) currentTrackers() []*tracker {
	c.mu.Lock()
	ts := make([]*tracker, 0, len(c.trackers))
	for _, t := range c.trackers {
		ts = append(ts, t)
	}
	c.mu.Unlock()
	slices.SortFunc(ts, func(a, b *tracker) int { return a.partition - b.partition })
	return ts
}

// raiseLogEnd records end as the partition's log end if it is past the one
// known. Only an offset reset (rebase) moves it back.
func (t *tracker) raiseLogEnd(end int64) {
	for {
		cur := t.logEnd.Load()
		if end <= cur || t.logEnd.CompareAndSwap(cur, end) {
			return
		}
	}
}

// lagRecords returns the records between the committed offset and the log
// end; false while the log end is unknown. Before the partition's first
// commit it counts from where consumption started.
func (t *tracker) lagRecords() (int64, bool) {
	end := t.logEnd.Load()
	if end < 0 {
		return 0, false
	}
	t.mu.Lock()
	from := t.committed
	if from < 0 {
		var ok bool
		if from, ok = t.commitPointLocked(); !ok {
			from = end
		}
	}
	t.mu.Unlock()
	return max(end-from, 0), true
}

// oldestPending returns when the lowest record not yet done was fetched, or
// the zero time when every record fetched is done. Records are fetched in
// offset order, so the lowest one not done is also the oldest.
func (t *tracker) oldestPending() time.Time {
	if t.outstanding.Load() == 0 {
		return time.Time{}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.queue[t.head:] {
		if !s.done.Load() {
			return s.fetched
		}
	}
	return time.Time{}
}
