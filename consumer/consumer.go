package consumer

// Lock and goroutine contract. c.mu guards trackers (the current
// generation's, replaced whole by setTrackers) and carried (done work left
// by the last generation; generation.go). started, ready and total are
// atomics, read by any goroutine. The other fields are set by New and never
// change.
//
// Run owns every goroutine of the Consumer: the log-end poller
// (progress.go), the generation loop (group.go) with the stale-member
// leaver it starts, and, through kafka-go's Generation, each generation's
// goroutine and its fetchers (generation.go, fetcher.go); Run returns after
// all of them have. Ready, Lag and Progress are safe from any goroutine.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/receiptd/receiptd/worker"
)

// Stages are what the consumer feeds: the worker, and the dead-letter
// stage beside it.
type Stages interface {
	// Submit hands over a valid record, to the worker; it blocks while the
	// pipeline is full and returns ctx.Err() if ctx ends first.
	Submit(ctx context.Context, rec *worker.Record) error
	// Reject hands over a record that broke an event rule, straight to the
	// dead-letter stage; it blocks and fails like Submit.
	Reject(ctx context.Context, rec *worker.Record, f worker.Failure) error
	// Drain finishes what it can before ctx ends and returns, and forgets,
	// the records left unfinished.
	Drain(ctx context.Context) []*worker.Record
	// SetShare sets the partitions this member owns, out of the topic's
	// total: the pipeline's share of the rate budget.
	SetShare(partitions []int, total int)
}

// Consumer consumes the source topic as a member of a consumer group and
// feeds every record to its Stages, at least once: a partition's offset is
// committed only below records the Stages reported done (through
// Completer). See Run.
type Consumer struct {
	cfg       Config
	stages    Stages
	obs       Observer
	dialer    *kafka.Dialer
	transport *kafka.Transport
	client    *kafka.Client
	now       func() time.Time

	started atomic.Bool
	ready   atomic.Bool
	total   atomic.Int64 // partitions of the topic, as last seen

	mu       sync.Mutex
	trackers map[int]*tracker // the current generation's partitions
	carried  map[int]carry    // done work the last generation could not commit
}

// New returns a Consumer of cfg.Topic feeding s. obs may be nil.
func New(cfg Config, s Stages, obs Observer) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if s == nil {
		return nil, errors.New("consumer: nil Stages")
	}
	cfg.setDefaults()
	if obs == nil {
		obs = NopObserver{}
	}
	tr := cfg.transport()
	return &Consumer{
		cfg:       cfg,
		stages:    s,
		obs:       obs,
		dialer:    cfg.dialer(),
		transport: tr,
		client:    &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Transport: tr, Timeout: cfg.DialTimeout},
		now:       time.Now,
	}, nil
}

// Run consumes until ctx ends and may be called once.
//
// It first checks that the source and dead-letter topics exist (unless
// Config.AutoCreateTopics) and returns a *MissingTopicError if not; while
// the brokers do not answer it retries with backoff, reporting every attempt
// (Observer.BrokersUnreachable). It then joins the group and, for every
// generation, fetches each owned partition from its committed offset,
// commits the done prefix of every partition each Config.CommitInterval, and
// when the generation ends (a rebalance, or the coordinator out of reach)
// stops fetching, drains within Config.RebalanceDrainTimeout, commits the
// done prefix and only then lets the member rejoin. Done work that this
// commit could not cover is kept: the next generation that assigns the
// member the same partitions commits it and does not redo it
// (Observer.CarriedOver).
//
// When ctx ends, Run stops fetching, drains within Config.DrainTimeout,
// commits the done prefix, leaves the group and returns nil; what could not
// be drained stays uncommitted and is redelivered to the group. When ctx ends
// with the cause ErrAbandon, Run neither drains nor commits.
func (c *Consumer) Run(ctx context.Context) error {
	if !c.started.CompareAndSwap(false, true) {
		return errors.New("consumer: Run called twice")
	}
	defer c.transport.CloseIdleConnections()
	if err := c.waitForBrokers(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	var polling sync.WaitGroup
	defer polling.Wait()
	pollCtx, stopPolling := context.WithCancel(ctx)
	defer stopPolling()
	polling.Go(func() { c.pollLogEnds(pollCtx) })
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                     c.cfg.GroupID,
		Brokers:                c.cfg.Brokers,
		Dialer:                 c.dialer,
		Topics:                 []string{c.cfg.Topic},
		HeartbeatInterval:      c.cfg.HeartbeatInterval,
		PartitionWatchInterval: c.cfg.PartitionWatchInterval,
		WatchPartitionChanges:  true,
		SessionTimeout:         c.cfg.SessionTimeout,
		RebalanceTimeout:       c.cfg.RebalanceTimeout,
		JoinGroupBackoff:       c.cfg.JoinGroupBackoff,
		StartOffset:            c.cfg.startOffset(),
		Logger:                 c.cfg.Logger,
		ErrorLogger:            c.cfg.ErrorLogger,
		Timeout:                c.cfg.DialTimeout,
	})
	if err != nil {
		return fmt.Errorf("consumer group %q: %w", c.cfg.GroupID, err)
	}
	c.generations(ctx, cg)
	// Close ends the current generation, waits for runGeneration to drain
	// and commit, then leaves the group.
	_ = cg.Close()
	c.ready.Store(false)
	return nil
}

// Ready reports whether the consumer is a member of the group: true from the
// first generation joined until a join fails (other than for a rebalance in
// progress) or Run returns.
func (c *Consumer) Ready() bool { return c.ready.Load() }

// Lag returns, per partition owned in the current generation, the records
// between the committed offset and the log end (see Progress); partitions
// whose log end is not known yet are absent, and between generations the
// map is empty.
func (c *Consumer) Lag() map[int]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return lagOf(c.trackers)
}

func lagOf(ts map[int]*tracker) map[int]int64 {
	lag := make(map[int]int64, len(ts))
	for p, t := range ts {
		if l, ok := t.lagRecords(); ok {
			lag[p] = l
		}
	}
	return lag
}

func (c *Consumer) setTrackers(ts map[int]*tracker) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.trackers = maps.Clone(ts)
}

// nopStages stand in for Stages where none are needed (CheckTopics).
type nopStages struct{}

func (nopStages) Submit(context.Context, *worker.Record) error                 { return nil }
func (nopStages) Reject(context.Context, *worker.Record, worker.Failure) error { return nil }
func (nopStages) Drain(context.Context) []*worker.Record                       { return nil }
func (nopStages) SetShare([]int, int)                                          {}
