package consumer

// A generation's work runs on one goroutine (runGeneration, started by
// kafka-go's Generation) plus one fetcher per partition. The member's carried
// work (Consumer.carried) is read when a generation starts and written when
// it ends; kafka-go never runs two generations at once. c.mu guards carried
// and trackers (keepCarried, takeCarried, setTrackers); nothing else here
// takes it.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// committer commits offsets, with their metadata, in one generation.
type committer interface {
	commit(commits []kafka.OffsetCommit) error
}

// runGeneration owns one generation's work: it commits the done work an
// earlier generation left for its partitions, runs the fetchers and the
// commit ticker until the generation ends, then drains and commits the done
// prefix before returning, which is what lets the member rejoin (kafka-go's
// Generation waits for every started function).
func (c *Consumer) runGeneration(runCtx, genCtx context.Context, gen *kafka.Generation) {
	assigned := slices.Clone(gen.Assignments[c.cfg.Topic])
	slices.SortFunc(assigned, func(a, b kafka.PartitionAssignment) int { return a.ID - b.ID })
	partitions := make([]int, len(assigned))
	for i, pa := range assigned {
		partitions[i] = pa.ID
	}
	total := c.partitionCount(genCtx, len(assigned))
	c.stages.SetShare(partitions, total)

	trackers, starts, carried := c.newTrackers(genCtx, assigned)
	c.setTrackers(trackers)
	c.ready.Store(true)
	c.obs.Joined(Joined{GenerationID: gen.ID, MemberID: gen.MemberID, Topic: c.cfg.Topic, Partitions: partitions, Total: total})
	cm := &generationCommitter{client: c.client, group: c.cfg.GroupID, generation: gen.ID,
		member: gen.MemberID, topic: c.cfg.Topic, timeout: c.cfg.DialTimeout}
	if len(carried.Resumed)+len(carried.Dropped) > 0 {
		carried.GenerationID, carried.Topic = gen.ID, c.cfg.Topic
		c.obs.CarriedOver(carried)
	}
	if len(carried.Resumed) > 0 {
		// Before fetching, so that the group's offsets move on even if this
		// generation is short; a failure is retried at every tick. Nothing
		// is committed where the group is ahead already.
		c.commit(gen.ID, cm, trackers, CommitRetryTick)
	}

	fetchCtx, stopFetching := context.WithCancel(genCtx)
	var wg sync.WaitGroup
	for _, pa := range assigned {
		t, start := trackers[pa.ID], starts[pa.ID]
		wg.Go(func() { c.fetch(fetchCtx, t, start) })
	}

	ticker := time.NewTicker(c.cfg.CommitInterval)
loop:
	for {
		select {
		case <-genCtx.Done():
			break loop
		case <-ticker.C:
			c.commit(gen.ID, cm, trackers, CommitRetryTick)
			c.obs.Lag(Lag{Topic: c.cfg.Topic, Partitions: lagOf(trackers)})
		}
	}
	ticker.Stop()
	stopFetching()
	wg.Wait()
	c.endGeneration(runCtx, gen.ID, cm, partitions, trackers)
	c.setTrackers(nil) // nothing is owned until the next generation
}

// newTrackers makes the tracker of every assigned partition and returns
// where each fetcher starts. A partition for which the member carries done
// work from an earlier generation resumes after it, unless the group has
// committed further meanwhile; carried work of partitions not assigned any
// more is dropped, never committed. A partition the group never committed
// starts per StartOffset, and that start is committed at the first tick, so
// that records produced before the first fetch are not skipped after a
// restart with StartLatest.
func (c *Consumer) newTrackers(ctx context.Context, assigned []kafka.PartitionAssignment) (map[int]*tracker, map[int]int64, CarriedOver) {
	carried := c.takeCarried()
	listed := c.committedDone(ctx, assigned)
	report := CarriedOver{Resumed: map[int]int64{}, Dropped: map[int]int64{}}
	trackers := make(map[int]*tracker, len(assigned))
	starts := make(map[int]int64, len(assigned))
	var unstarted []int
	for _, pa := range assigned {
		t := newTracker(c.cfg.Topic, pa.ID, pa.Offset)
		starts[pa.ID] = pa.Offset
		cr, kept := carried[pa.ID]
		delete(carried, pa.ID)
		if l, ok := listed[pa.ID]; ok {
			cr, kept = mergeCarry(cr, l), true
		}
		if kept {
			start, skipped := t.carryOver(cr)
			if start > pa.Offset || skipped > 0 {
				starts[pa.ID] = start
				report.Resumed[pa.ID] = start
				report.Skipped += skipped
			}
		}
		if starts[pa.ID] < 0 {
			unstarted = append(unstarted, pa.ID)
		}
		trackers[pa.ID] = t
	}
	for p, cr := range carried {
		report.Dropped[p] = cr.prefix
	}
	for p, s := range c.resolveStarts(ctx, unstarted) {
		trackers[p].setStart(s)
		starts[p] = s
	}
	return trackers, starts, report
}

// committedDone returns, per assigned partition, the done records that the
// group's last commit lists above its committed offset (donemeta.go). Should
// the brokers not answer, it returns none: those records are sent again.
func (c *Consumer) committedDone(ctx context.Context, assigned []kafka.PartitionAssignment) map[int]carry {
	committed := make(map[int]int64, len(assigned))
	partitions := make([]int, 0, len(assigned))
	for _, pa := range assigned {
		if pa.Offset >= 0 {
			committed[pa.ID] = pa.Offset
			partitions = append(partitions, pa.ID)
		}
	}
	if len(partitions) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	res, err := c.client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: c.cfg.GroupID,
		Topics: map[string][]int{c.cfg.Topic: partitions}})
	if err != nil || res.Error != nil {
		return nil
	}
	out := make(map[int]carry)
	for _, p := range res.Topics[c.cfg.Topic] {
		// Only the metadata of the commit this generation starts from.
		if off, ok := committed[p.Partition]; ok && p.Error == nil && p.CommittedOffset == off {
			if done := decodeDone(off, p.Metadata); len(done) > 0 {
				out[p.Partition] = carry{prefix: off, done: done}
			}
		}
	}
	return out
}

// mergeCarry returns what a and b tell together: the higher prefix and every
// done offset of either.
func mergeCarry(a, b carry) carry {
	done := append(slices.Clone(a.done), b.done...)
	slices.Sort(done)
	return carry{prefix: max(a.prefix, b.prefix), done: slices.Compact(done)}
}

// endGeneration drains the revoked work and commits its done prefix, or,
// with ErrAbandon, does neither. At a rebalance, the done work the commit
// could not cover is kept for the next generation.
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
	left := c.stages.Drain(drainCtx)
	c.obs.Drained(Drained{GenerationID: genID, Reason: reason, Done: max(before-len(left), 0),
		Abandoned: len(left), Duration: c.now().Sub(began)})
	if abandoned(runCtx) {
		return
	}
	if reason == RevokeShutdown {
		c.commit(genID, cm, trackers, CommitAbandon)
		return
	}
	c.commit(genID, cm, trackers, CommitCarry)
	c.keepCarried(trackers)
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

// commit commits, for every partition whose done prefix grew or whose done
// records above it changed, the offset of its lowest record not done, with
// those done records in the metadata (donemeta.go). Commits never move
// backwards and never carry a sentinel; a failed commit is reported with
// next, which says what becomes of it.
func (c *Consumer) commit(genID int32, cm committer, trackers map[int]*tracker, next CommitNext) {
	var commits []kafka.OffsetCommit
	offsets := make(map[int]int64)
	dones := make(map[int]int)
	epochs := make(map[int]int)
	for p, t := range trackers {
		if off, meta, done, epoch, ok := t.toCommit(); ok {
			commits = append(commits, kafka.OffsetCommit{Partition: p, Offset: off, Metadata: meta})
			offsets[p], dones[p], epochs[p] = off, done, epoch
		}
	}
	if len(commits) == 0 {
		return
	}
	if err := cm.commit(commits); err != nil {
		f := CommitFailed{GenerationID: genID, Topic: c.cfg.Topic, Offsets: offsets, Err: err, Next: next}
		if next == CommitRetryTick {
			f.RetryIn = c.cfg.CommitInterval
		}
		c.obs.CommitFailed(f)
		return
	}
	for p, off := range offsets {
		trackers[p].committedAt(off, dones[p], epochs[p])
	}
	c.obs.Committed(Committed{GenerationID: genID, Topic: c.cfg.Topic, Offsets: offsets})
}

// keepCarried keeps, for the next generation, the done work of trackers that
// is not committed.
func (c *Consumer) keepCarried(trackers map[int]*tracker) {
	kept := make(map[int]carry)
	for p, t := range trackers {
		if cr, ok := t.leftover(); ok {
			kept[p] = cr
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.carried = kept
}

// takeCarried returns the done work kept by the last generation and forgets
// it: the next generation either takes it over or drops it.
func (c *Consumer) takeCarried() map[int]carry {
	c.mu.Lock()
	defer c.mu.Unlock()
	kept := c.carried
	c.carried = nil
	return kept
}

// generationCommitter commits offsets in one generation of the group.
//
// It sends OffsetCommit itself rather than through kafka-go's Generation,
// whose CommitOffsets carries no metadata and uses the generation's
// coordinator connection, which kafka-go closes at its first network error
// (a timeout included) and never opens again: every later commit of the
// generation would fail, even where the coordinator still holds the
// generation, as after a broker pause shorter than the session timeout.
// The request is the one the generation would send, with its generation id
// and member id: the coordinator accepts it only from a current member of
// the current generation, so it can never rewind what the owner of a later
// generation committed.
type generationCommitter struct {
	client     *kafka.Client
	group      string
	generation int32
	member     string
	topic      string
	timeout    time.Duration
}

func (g *generationCommitter) commit(commits []kafka.OffsetCommit) error {
	ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
	defer cancel()
	res, err := g.client.OffsetCommit(ctx, &kafka.OffsetCommitRequest{GroupID: g.group, GenerationID: int(g.generation),
		MemberID: g.member, Topics: map[string][]kafka.OffsetCommit{g.topic: commits}})
	if err != nil {
		return err
	}
	for _, parts := range res.Topics {
		for _, p := range parts {
			if p.Error != nil {
				return fmt.Errorf("partition %d: %w", p.Partition, p.Error)
			}
		}
	}
	return nil
}
