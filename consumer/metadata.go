package consumer

// What the consumer asks the brokers outside the group protocol: whether
// the topics exist, how many partitions the source topic has, and where a
// partition's log starts and ends.
//
// Goroutine contract: each request is bounded by Config.DialTimeout and
// ctx. They run on Run's goroutine (waitForBrokers), a generation's
// goroutine (partitionCount, resolveStarts) and the log-end poller
// (listOffsets); the shared partition count is the atomic c.total.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/receiptd/receiptd/retry"
)

// CheckTopics reports whether cfg's source and dead-letter topics exist,
// returning a *MissingTopicError for the first missing one. With
// AutoCreateTopics it only checks that the brokers answer.
func CheckTopics(ctx context.Context, cfg Config) error {
	c, err := New(cfg, nopStages{}, nil)
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
	bo := retry.Policy{Initial: time.Second, Max: 5 * time.Second, Multiplier: 1.5}.New()
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
		if retry.Sleep(ctx, wait) != nil {
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
