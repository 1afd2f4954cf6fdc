// Package kafkatopics creates Kafka topics and waits until they can be used:
// every partition has a leader and, when asked, a group coordinator answers.
// It is the one place that creates topics for the tools and tests around
// receiptd: scripts/kafkatopics (kafka.sh's readiness check), the sandbox of
// the demo and the benchmark, and the end-to-end suite. receiptd itself
// never creates topics (kafka.auto_create_topics aside).
//
// While a broker starts, refused connections and "not ready" answers are
// expected, so [Create] retries every step until it succeeds, fails for a
// reason retrying cannot change, or ctx ends; only the last error is
// reported.
package kafkatopics

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/receiptd/receiptd/retry"
)

// Topic is one topic to create.
type Topic struct {
	Name       string
	Partitions int
	// ReplicationFactor of the topic; zero means 1.
	ReplicationFactor int
	// Configs are topic-level settings, such as max.message.bytes.
	Configs []kafka.ConfigEntry
}

// Option changes how [Create] works.
type Option func(*settings)

type settings struct {
	fresh        bool
	probeGroup   string
	pollInterval time.Duration
	logf         func(format string, args ...any)
}

// Fresh makes a topic that exists already an error: the caller wants topics
// of its own. Without it, a topic that exists with at least the partitions
// asked for is accepted as it is.
func Fresh() Option { return func(s *settings) { s.fresh = true } }

// ProbeGroup makes Create also wait until the coordinator of group answers.
// The broker creates __consumer_offsets at the first FindCoordinator;
// waiting for it here keeps that delay out of the first consumer to join a
// group.
func ProbeGroup(group string) Option { return func(s *settings) { s.probeGroup = group } }

// PollInterval is the wait between two attempts at a step (default 250ms).
func PollInterval(d time.Duration) Option { return func(s *settings) { s.pollInterval = d } }

// Logf receives one line per step done, with its attempts and time taken.
func Logf(logf func(format string, args ...any)) Option {
	return func(s *settings) { s.logf = logf }
}

// Create creates topics through client and waits until every partition of
// each has a leader. client stays the caller's.
func Create(ctx context.Context, client *kafka.Client, topics []Topic, opts ...Option) error {
	s := &settings{pollInterval: 250 * time.Millisecond, logf: func(string, ...any) {}}
	for _, o := range opts {
		o(s)
	}
	c := &creation{client: client, topics: topics, settings: s}
	if len(topics) > 0 {
		if err := c.retry(ctx, "create topics", c.create); err != nil {
			return err
		}
		if err := c.retry(ctx, "wait for partition leaders", c.checkLeaders); err != nil {
			return err
		}
	}
	if s.probeGroup != "" {
		if err := c.retry(ctx, "find group coordinator", c.findCoordinator); err != nil {
			return err
		}
	}
	return nil
}

// creation is one call of Create.
type creation struct {
	client *kafka.Client
	topics []Topic
	*settings
	// sent is set once a CreateTopics request may have reached the broker
	// without its answer reaching us: a Fresh topic that then exists may be
	// this call's own.
	sent bool
}

// permanentError marks an answer that retrying cannot change.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// retry calls step until it succeeds, fails permanently or ctx ends.
func (c *creation) retry(ctx context.Context, what string, step func(context.Context) error) error {
	start := time.Now()
	attempts := 0
	for {
		attempts++
		err := step(ctx)
		if err == nil {
			c.logf("%s: ok after %d attempt(s), %s", what, attempts, time.Since(start).Round(time.Millisecond))
			return nil
		}
		if pe := (permanentError{}); errors.As(err, &pe) {
			return fmt.Errorf("%s: %w", what, pe.err)
		}
		if cerr := retry.Sleep(ctx, c.pollInterval); cerr != nil {
			return fmt.Errorf("%s: not done after %d attempts in %s (%v): %w",
				what, attempts, time.Since(start).Round(time.Millisecond), cerr, err)
		}
	}
}

// permanentCodes are CreateTopics answers that mean the request itself is
// wrong for this cluster.
var permanentCodes = []kafka.Error{
	kafka.InvalidTopic,
	kafka.InvalidPartitionNumber,
	kafka.InvalidReplicationFactor,
	kafka.InvalidReplicaAssignment,
	kafka.InvalidConfiguration,
	kafka.PolicyViolation,
	kafka.InvalidRequest,
	kafka.TopicAuthorizationFailed,
	kafka.ClusterAuthorizationFailed,
}

func (c *creation) create(ctx context.Context) error {
	configs := make([]kafka.TopicConfig, len(c.topics))
	for i, t := range c.topics {
		configs[i] = kafka.TopicConfig{Topic: t.Name, NumPartitions: t.Partitions,
			ReplicationFactor: replicationFactor(t), ConfigEntries: t.Configs}
	}
	resp, err := c.client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: configs})
	if err != nil {
		c.sent = true
		return err
	}
	var errs []error
	for _, t := range c.topics {
		err, ok := resp.Errors[t.Name]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("topic %s: missing from the broker's answer", t.Name))
		case err == nil:
		case errors.Is(err, kafka.TopicAlreadyExists):
			if c.fresh && !c.sent {
				return permanentError{fmt.Errorf("topic %s exists already: pick another name or delete it", t.Name)}
			}
		case isOneOf(err, permanentCodes):
			return permanentError{fmt.Errorf("topic %s (%d partitions, replication factor %d): %w",
				t.Name, t.Partitions, replicationFactor(t), err)}
		default:
			errs = append(errs, fmt.Errorf("topic %s: %w", t.Name, err))
		}
	}
	return errors.Join(errs...)
}

func replicationFactor(t Topic) int {
	if t.ReplicationFactor == 0 {
		return 1
	}
	return t.ReplicationFactor
}

func (c *creation) checkLeaders(ctx context.Context) error {
	names := make([]string, len(c.topics))
	for i, t := range c.topics {
		names[i] = t.Name
	}
	md, err := c.client.Metadata(ctx, &kafka.MetadataRequest{Topics: names})
	if err != nil {
		return err
	}
	byName := make(map[string]kafka.Topic, len(md.Topics))
	for _, t := range md.Topics {
		byName[t.Name] = t
	}
	var errs []error
	for _, want := range c.topics {
		got, ok := byName[want.Name]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("topic %s: not in metadata yet", want.Name))
			continue
		case got.Error != nil:
			errs = append(errs, fmt.Errorf("topic %s: %w", want.Name, got.Error))
			continue
		case len(got.Partitions) < want.Partitions:
			return permanentError{fmt.Errorf("topic %s exists with %d partitions, want at least %d: delete it or pick another name",
				want.Name, len(got.Partitions), want.Partitions)}
		}
		for _, p := range got.Partitions {
			// Metadata reports a partition without a leader with the zero Broker.
			if p.Error != nil || p.Leader.Host == "" {
				errs = append(errs, fmt.Errorf("topic %s partition %d: no leader yet (%v)", want.Name, p.ID, p.Error))
			}
		}
	}
	return errors.Join(errs...)
}

func (c *creation) findCoordinator(ctx context.Context) error {
	resp, err := c.client.FindCoordinator(ctx, &kafka.FindCoordinatorRequest{
		Key:     c.probeGroup,
		KeyType: kafka.CoordinatorKeyTypeConsumer,
	})
	if err != nil {
		return err
	}
	if resp.Error != nil {
		return fmt.Errorf("group %s: %w", c.probeGroup, resp.Error)
	}
	return nil
}

func isOneOf(err error, codes []kafka.Error) bool {
	for _, code := range codes {
		if errors.Is(err, code) {
			return true
		}
	}
	return false
}
