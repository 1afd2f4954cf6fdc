package consumer

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/segmentio/kafka-go"

	"github.com/receiptd/receiptd/worker"
)

// Pipeline is what the consumer feeds: the worker.
type Pipeline interface {
	// Submit hands over a valid record; it blocks while the pipeline is
	// full and returns ctx.Err() if ctx ends first.
	Submit(ctx context.Context, rec *worker.Record) error
	// Reject dead-letters a record that broke an event rule; it blocks and
	// fails like Submit.
	Reject(ctx context.Context, rec *worker.Record, f worker.Failure) error
	// Drain finishes what it can before ctx ends and returns, and forgets,
	// the records left unfinished.
	Drain(ctx context.Context) []*worker.Record
	// SetShare sets the partitions this member owns, out of the topic's
	// total: the pipeline's share of the rate budget.
	SetShare(partitions []int, total int)
}

// Consumer consumes the source topic as a member of a consumer group and
// feeds every record to a Pipeline, at least once: a partition's offset is
// committed only below records the Pipeline reported done (through
// Completer). See Run.
type Consumer struct {
	cfg       Config
	pipe      Pipeline
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

// New returns a Consumer of cfg.Topic feeding p. obs may be nil.
func New(cfg Config, p Pipeline, obs Observer) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if p == nil {
		return nil, errors.New("consumer: nil Pipeline")
	}
	cfg.setDefaults()
	if obs == nil {
		obs = NopObserver{}
	}
	tr := cfg.transport()
	return &Consumer{
		cfg:       cfg,
		pipe:      p,
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

// generations runs every generation cg hands out until ctx ends.
func (c *Consumer) generations(ctx context.Context, cg *kafka.ConsumerGroup) {
	lastMember := "" // this process's member id in the last generation
	stopLeaving := func() {}
	defer func() { stopLeaving() }()
	for {
		gen, err := cg.Next(ctx)
		if ctx.Err() != nil || errors.Is(err, kafka.ErrGroupClosed) {
			return
		}
		if err != nil {
			// A rebalance in progress is routine; after anything else
			// kafka-go has tried to leave the group, forgotten its member
			// id, and joins again as a new member after JoinGroupBackoff.
			e := GroupError{Group: c.cfg.GroupID, Err: err, Rebalancing: errors.Is(err, kafka.RebalanceInProgress)}
			if !e.Rebalancing {
				c.ready.Store(false)
				e.RetryIn = c.cfg.JoinGroupBackoff
				if lastMember != "" {
					stopLeaving = c.leaveInBackground(ctx, lastMember)
					lastMember = ""
				}
			}
			c.obs.GroupError(e)
			continue
		}
		stopLeaving()
		stopLeaving, lastMember = func() {}, gen.MemberID
		gen.Start(func(genCtx context.Context) { c.runGeneration(ctx, genCtx, gen) })
	}
}

// leaveInBackground removes member, this process's member id of an ended
// generation, from the group as soon as the coordinator answers, and returns
// a function that stops trying and waits.
//
// kafka-go leaves the group after a failed join, but while the brokers are
// out of reach that leave fails too, and the new member it joins as must
// then wait for the coordinator to give up on the old one: up to the session
// or rebalance timeout (30s by default) without consuming, after a broker
// restart or a long pause.
func (c *Consumer) leaveInBackground(ctx context.Context, member string) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		bo := newBackoff()
		for {
			err := c.leave(ctx, member)
			if err == nil || errors.Is(err, kafka.UnknownMemberId) {
				if err == nil {
					c.obs.StaleMemberLeft(StaleMemberLeft{Group: c.cfg.GroupID, MemberID: member})
				}
				return
			}
			// Pooled connections to a broker that restarted fail only
			// after the timeout; start the next attempt afresh.
			c.transport.CloseIdleConnections()
			if !sleep(ctx, bo.NextBackOff()) {
				return
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

func (c *Consumer) leave(ctx context.Context, member string) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	res, err := c.client.LeaveGroup(ctx, &kafka.LeaveGroupRequest{GroupID: c.cfg.GroupID,
		Members: []kafka.LeaveGroupRequestMember{{ID: member}}})
	if err != nil {
		return err
	}
	if res.Error != nil {
		return res.Error
	}
	for _, m := range res.Members {
		if m.Error != nil {
			return m.Error
		}
	}
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

// CheckTopics reports whether cfg's source and dead-letter topics exist,
// returning a *MissingTopicError for the first missing one. With
// AutoCreateTopics it only checks that the brokers answer.
func CheckTopics(ctx context.Context, cfg Config) error {
	c, err := New(cfg, nopPipeline{}, nil)
	if err != nil {
		return err
	}
	defer c.transport.CloseIdleConnections()
	return c.checkTopics(ctx)
}

// waitForBrokers checks the topics until the brokers answer: Kafka out of
// reach (maintenance, a network partition) is a state to wait out, not a
// reason to exit. It returns nil, a *MissingTopicError, or ctx's error.
func (c *Consumer) waitForBrokers(ctx context.Context) error {
	// Slower at first than a fetch's schedule: every attempt is logged.
	bo := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(time.Second),
		backoff.WithMaxInterval(5*time.Second),
		backoff.WithMaxElapsedTime(0),
	)
	since := c.now()
	for attempt := 1; ; attempt++ {
		err := c.checkTopics(ctx)
		var missing *MissingTopicError
		if err == nil || errors.As(err, &missing) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := bo.NextBackOff()
		c.obs.BrokersUnreachable(BrokersUnreachable{Brokers: c.cfg.Brokers, Err: err, Attempt: attempt, Since: since, RetryIn: wait})
		if !sleep(ctx, wait) {
			return ctx.Err()
		}
	}
}

func (c *Consumer) checkTopics(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	md, err := c.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{c.cfg.Topic, c.cfg.DLQTopic}})
	if err != nil {
		return fmt.Errorf("read topic metadata from brokers %v: %w", c.cfg.Brokers, err)
	}
	for _, want := range []struct{ topic, role string }{
		{c.cfg.Topic, "source topic"},
		{c.cfg.DLQTopic, "dead-letter topic"},
	} {
		found := false
		for _, t := range md.Topics {
			if t.Name != want.topic {
				continue
			}
			switch {
			case t.Error == nil:
				found = true
				if want.topic == c.cfg.Topic {
					c.total.Store(int64(len(t.Partitions)))
				}
			case !errors.Is(t.Error, kafka.UnknownTopicOrPartition):
				return fmt.Errorf("kafka %s %q: %w", want.role, want.topic, t.Error)
			}
		}
		if !found && !c.cfg.AutoCreateTopics {
			return &MissingTopicError{Topic: want.topic, Role: want.role}
		}
	}
	return nil
}

// partitionCount returns the number of partitions of the topic, falling back
// to the last known count (at least owned) if the brokers do not answer.
func (c *Consumer) partitionCount(ctx context.Context, owned int) int {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	md, err := c.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{c.cfg.Topic}})
	if err == nil {
		for _, t := range md.Topics {
			if t.Name == c.cfg.Topic && t.Error == nil && len(t.Partitions) > 0 {
				c.total.Store(int64(len(t.Partitions)))
			}
		}
	}
	return max(int(c.total.Load()), owned)
}

// resolveStarts returns the absolute start offset of each partition that has
// no committed offset, per Config.StartOffset; partitions it could not
// resolve are absent.
func (c *Consumer) resolveStarts(ctx context.Context, partitions []int) map[int]int64 {
	if len(partitions) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	offs, err := c.listOffsets(ctx, partitions)
	if err != nil {
		for _, p := range partitions {
			c.obs.FetchError(FetchError{Topic: c.cfg.Topic, Partition: p, Offset: -1,
				Err: fmt.Errorf("resolve the %s offset (it is committed only once a record arrives): %w", c.cfg.StartOffset, err)})
		}
		return nil
	}
	starts := make(map[int]int64, len(offs))
	for p, o := range offs {
		if c.cfg.StartOffset == StartLatest {
			starts[p] = o.LastOffset
		} else {
			starts[p] = o.FirstOffset
		}
	}
	return starts
}

// listOffsets returns the first and the last offset of partitions; the last
// is the last stable offset, which is the high-water mark unless a
// transaction is open.
func (c *Consumer) listOffsets(ctx context.Context, partitions []int) (map[int]kafka.PartitionOffsets, error) {
	reqs := make([]kafka.OffsetRequest, 0, 2*len(partitions))
	for _, p := range partitions {
		reqs = append(reqs, kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p))
	}
	res, err := c.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{
		Topics:         map[string][]kafka.OffsetRequest{c.cfg.Topic: reqs},
		IsolationLevel: kafka.ReadCommitted,
	})
	if err != nil {
		return nil, fmt.Errorf("list offsets of topic %q: %w", c.cfg.Topic, err)
	}
	out := make(map[int]kafka.PartitionOffsets, len(partitions))
	for _, po := range res.Topics[c.cfg.Topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("list offsets of topic %q partition %d: %w", c.cfg.Topic, po.Partition, po.Error)
		}
		out[po.Partition] = po
	}
	for _, p := range partitions {
		if _, ok := out[p]; !ok {
			return nil, fmt.Errorf("list offsets of topic %q: no answer for partition %d", c.cfg.Topic, p)
		}
	}
	return out, nil
}

func (c *Consumer) setTrackers(ts map[int]*tracker) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.trackers = maps.Clone(ts)
}

// nopPipeline stands in for a Pipeline where none is needed (CheckTopics).
type nopPipeline struct{}

func (nopPipeline) Submit(context.Context, *worker.Record) error                 { return nil }
func (nopPipeline) Reject(context.Context, *worker.Record, worker.Failure) error { return nil }
func (nopPipeline) Drain(context.Context) []*worker.Record                       { return nil }
func (nopPipeline) SetShare([]int, int)                                          {}
