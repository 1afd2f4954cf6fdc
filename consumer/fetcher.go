package consumer

// The fetchers: one goroutine per owned partition, started and waited for by
// its generation's goroutine (generation.go). Goroutine contract: a fetcher
// owns its kafka.Reader and its BackOff; it shares only its partition's
// tracker, whose own lock guards it (tracker.go), and blocks in
// Stages.Submit while the pipeline is full, until ctx ends.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/segmentio/kafka-go"

	"github.com/receiptd/receiptd/retry"
	"github.com/receiptd/receiptd/worker"
)

// idlePoll is how often a fetcher that must reset its offset checks whether
// its outstanding records are done; the worker signals nothing per partition.
const idlePoll = 50 * time.Millisecond

// fetch reads one partition from start (an offset or a kafka-go sentinel)
// and hands every record to the pipeline, until ctx ends. It never returns
// early: errors are reported and retried with backoff.
func (c *Consumer) fetch(ctx context.Context, t *tracker, start int64) {
	r := c.newReader(t.partition, start)
	defer func() { _ = r.Close() }()
	expect := start // the first offset expected, to detect skipped records; negative: unknown
	bo := fetchRetry.New()
	for {
		msg, err := r.FetchMessage(ctx)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, kafka.OffsetOutOfRange) {
			to, ok := c.resetOffset(ctx, t, r.Offset())
			if !ok {
				return
			}
			// The reader stops for good after an out-of-range error.
			_ = r.Close()
			r, expect = c.newReader(t.partition, to), to
			continue
		}
		if err != nil {
			wait := bo.NextBackOff()
			c.obs.FetchError(FetchError{Topic: t.topic, Partition: t.partition, Offset: r.Offset(),
				Err: fmt.Errorf("fetch: %w", err), RetryIn: wait})
			if retry.Sleep(ctx, wait) != nil {
				return
			}
			continue
		}
		bo.Reset()
		t.raiseLogEnd(msg.HighWaterMark)
		if expect >= 0 && msg.Offset > expect {
			c.obs.RecordsSkipped(RecordsSkipped{Topic: t.topic, Partition: t.partition, From: expect, To: msg.Offset})
		}
		expect = -1
		if !c.handle(ctx, t, msg) {
			return
		}
	}
}

func (c *Consumer) newReader(partition int, offset int64) *kafka.Reader {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:          c.cfg.Brokers,
		Topic:            c.cfg.Topic,
		Partition:        partition,
		Dialer:           c.dialer,
		MinBytes:         1,
		MaxBytes:         c.cfg.FetchMaxBytes,
		MaxWait:          c.cfg.FetchMaxWait,
		ReadBatchTimeout: c.cfg.ReadBatchTimeout,
		ReadLagInterval:  -1,
		// Records of aborted transactions are never delivered.
		IsolationLevel: kafka.ReadCommitted,
		// Without it an offset past the end makes the reader retry
		// silently forever.
		OffsetOutOfRangeError: true,
		Logger:                c.cfg.Logger,
		ErrorLogger:           c.cfg.ErrorLogger,
	})
	_ = r.SetOffset(offset) // fails only on a closed reader
	return r
}

// handle registers msg in the partition's tracker, decodes it and submits
// it, or rejects it as invalid. It returns false when ctx ended first.
func (c *Consumer) handle(ctx context.Context, t *tracker, msg kafka.Message) bool {
	s := t.register(msg)
	if s == nil {
		c.obs.FetchError(FetchError{Topic: t.topic, Partition: t.partition, Offset: msg.Offset,
			Err: errors.New("fetch returned an offset already fetched; record dropped")})
		return true
	}
	if t.finishedBefore(msg.Offset) {
		// An earlier generation of this member acknowledged or
		// dead-lettered it but could not commit it.
		s.Done()
		return true
	}
	ev, err := DecodeEvent(msg.Value, c.cfg.Limits)
	s.rec.Key, s.rec.Seqs, s.rec.ReadAt = ev.Key, ev.Seqs, ev.ReadAt
	if err != nil {
		c.obs.InvalidEvent(InvalidEvent{Topic: t.topic, Partition: t.partition, Offset: msg.Offset, Reason: err.Error()})
		f := worker.Failure{Class: worker.FailInvalidEvent, Message: err.Error(), FailedSeqs: ev.Seqs, FailedAt: c.now()}
		return c.retry(ctx, t, msg.Offset, func() error { return c.stages.Reject(ctx, &s.rec, f) })
	}
	return c.retry(ctx, t, msg.Offset, func() error { return c.stages.Submit(ctx, &s.rec) })
}

// retry calls hand until it succeeds or ctx ends. The pipeline fails only
// when ctx ends; anything else is reported and retried.
func (c *Consumer) retry(ctx context.Context, t *tracker, offset int64, hand func() error) bool {
	// The schedule is made at the first failure: nearly every record is
	// handed over at once, and one schedule per record was a measurable
	// share of the consumer's allocations and clock reads.
	var bo *backoff.ExponentialBackOff
	for {
		err := hand()
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if bo == nil {
			bo = fetchRetry.New()
		}
		wait := bo.NextBackOff()
		c.obs.FetchError(FetchError{Topic: t.topic, Partition: t.partition, Offset: offset,
			Err: fmt.Errorf("hand record to the worker: %w", err), RetryIn: wait})
		if retry.Sleep(ctx, wait) != nil {
			return false
		}
	}
}

// resetOffset handles an out-of-range offset: once the partition's
// outstanding records are done it starts the tracker over at the offset
// StartOffset designates and reports it. It returns where to fetch from, or
// false if ctx ended first.
func (c *Consumer) resetOffset(ctx context.Context, t *tracker, asked int64) (int64, bool) {
	tick := time.NewTicker(idlePoll)
	defer tick.Stop()
	for t.outstanding.Load() > 0 {
		select {
		case <-ctx.Done():
			return 0, false
		case <-tick.C:
		}
	}
	bo := fetchRetry.New()
	var po kafka.PartitionOffsets
	for {
		lctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
		offs, err := c.listOffsets(lctx, []int{t.partition})
		cancel()
		if err == nil {
			po = offs[t.partition]
			break
		}
		wait := bo.NextBackOff()
		c.obs.FetchError(FetchError{Topic: t.topic, Partition: t.partition, Offset: asked,
			Err: fmt.Errorf("offset out of range; %w", err), RetryIn: wait})
		if retry.Sleep(ctx, wait) != nil {
			return 0, false
		}
	}
	if asked >= po.FirstOffset && asked <= po.LastOffset {
		return asked, true // the log caught up meanwhile
	}
	to := po.FirstOffset
	if c.cfg.StartOffset == StartLatest {
		to = po.LastOffset
	}
	t.rebase(to)
	c.obs.OffsetReset(OffsetReset{Topic: t.topic, Partition: t.partition, Offset: asked,
		LogStart: po.FirstOffset, LogEnd: po.LastOffset, ResetTo: to, StartOffset: c.cfg.StartOffset})
	return to, true
}

// fetchRetry is the retry schedule of one fetch, hand-over or leave loop:
// 100ms growing by half at each attempt to 5s, with jitter, forever.
var fetchRetry = retry.Policy{Initial: 100 * time.Millisecond, Max: 5 * time.Second, Multiplier: 1.5}
