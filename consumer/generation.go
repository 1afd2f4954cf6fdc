package consumer

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// committer is the part of a kafka.Generation the commit path uses.
type committer interface {
	CommitOffsets(offsets map[string]map[int]int64) error
}

// runGeneration owns one generation's work: it runs the fetchers and the
// commit ticker until the generation ends, then drains and commits the done
// prefix before returning, which is what lets the member rejoin (kafka-go's
// Generation waits for every started function).
func (c *Consumer) runGeneration(runCtx, genCtx context.Context, gen *kafka.Generation) {
	assigned := slices.Clone(gen.Assignments[c.cfg.Topic])
	slices.SortFunc(assigned, func(a, b kafka.PartitionAssignment) int { return a.ID - b.ID })
	partitions := make([]int, len(assigned))
	var unstarted []int
	for i, pa := range assigned {
		partitions[i] = pa.ID
		if pa.Offset < 0 {
			unstarted = append(unstarted, pa.ID)
		}
	}
	total := c.partitionCount(genCtx, len(assigned))
	c.pipe.SetShare(len(assigned), total)

	// A partition the group never committed starts per StartOffset; its
	// start is committed at once, so that records produced before the first
	// fetch are not skipped after a restart with StartLatest.
	starts := c.resolveStarts(genCtx, unstarted)
	trackers := make(map[int]*tracker, len(assigned))
	for _, pa := range assigned {
		t := newTracker(c.cfg.Topic, pa.ID, pa.Offset)
		if s, ok := starts[pa.ID]; ok {
			t.setStart(s)
		}
		trackers[pa.ID] = t
	}
	c.setTrackers(trackers)
	c.ready.Store(true)
	c.obs.Joined(Joined{GenerationID: gen.ID, MemberID: gen.MemberID, Topic: c.cfg.Topic, Partitions: partitions, Total: total})

	fetchCtx, stopFetching := context.WithCancel(genCtx)
	var wg sync.WaitGroup
	for _, pa := range assigned {
		t := trackers[pa.ID]
		start := pa.Offset
		if s, ok := starts[pa.ID]; ok {
			start = s
		}
		wg.Go(func() { c.fetch(fetchCtx, t, start) })
	}

	ticker := time.NewTicker(c.cfg.CommitInterval)
loop:
	for {
		select {
		case <-genCtx.Done():
			break loop
		case <-ticker.C:
			c.commit(gen.ID, gen, trackers)
			c.obs.Lag(Lag{Topic: c.cfg.Topic, Partitions: lagOf(trackers)})
		}
	}
	ticker.Stop()
	stopFetching()
	wg.Wait()
	c.endGeneration(runCtx, gen.ID, gen, partitions, trackers)
	c.setTrackers(nil) // nothing is owned until the next generation
}

// endGeneration drains the revoked work and commits its done prefix, or,
// with ErrAbandon, does neither.
func (c *Consumer) endGeneration(runCtx context.Context, genID int32, cm committer, partitions []int, trackers map[int]*tracker) {
	reason, timeout := RevokeRebalance, c.cfg.RebalanceDrainTimeout
	if runCtx.Err() != nil {
		reason, timeout = RevokeShutdown, c.cfg.DrainTimeout
	}
	if abandoned(runCtx) {
		reason = RevokeAbandon
	}
	before := outstanding(trackers)
	c.obs.Revoked(Revoked{GenerationID: genID, Partitions: partitions, Reason: reason, Outstanding: before})
	if reason == RevokeAbandon {
		return
	}

	// The drain outlives the generation (and, at shutdown, Run's context),
	// but an abandon cuts it short.
	drainCtx, cancel := context.WithTimeout(context.WithoutCancel(runCtx), timeout)
	defer cancel()
	stop := context.AfterFunc(runCtx, func() {
		if abandoned(runCtx) {
			cancel()
		}
	})
	defer stop()
	began := c.now()
	left := c.pipe.Drain(drainCtx)
	c.obs.Drained(Drained{GenerationID: genID, Reason: reason, Done: max(before-len(left), 0),
		Abandoned: len(left), Duration: c.now().Sub(began)})
	if abandoned(runCtx) {
		return
	}
	c.commit(genID, cm, trackers)
}

func abandoned(ctx context.Context) bool {
	return errors.Is(context.Cause(ctx), ErrAbandon)
}

func outstanding(trackers map[int]*tracker) int {
	n := 0
	for _, t := range trackers {
		n += int(t.outstanding.Load())
	}
	return n
}

// commit commits, for every partition whose done prefix grew, the offset of
// its lowest record not done. Commits never move backwards and never carry a
// sentinel; a failed commit is reported and retried at the next call.
func (c *Consumer) commit(genID int32, cm committer, trackers map[int]*tracker) {
	offsets := make(map[int]int64)
	epochs := make(map[int]int)
	for p, t := range trackers {
		if off, epoch, ok := t.toCommit(); ok {
			offsets[p], epochs[p] = off, epoch
		}
	}
	if len(offsets) == 0 {
		return
	}
	if err := cm.CommitOffsets(map[string]map[int]int64{c.cfg.Topic: offsets}); err != nil {
		c.obs.CommitFailed(CommitFailed{GenerationID: genID, Topic: c.cfg.Topic, Offsets: offsets, Err: err})
		return
	}
	for p, off := range offsets {
		trackers[p].committedAt(off, epochs[p])
	}
	c.obs.Committed(Committed{GenerationID: genID, Topic: c.cfg.Topic, Offsets: offsets})
}
