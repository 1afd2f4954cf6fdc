// Command kafkatopics creates topics on a Kafka cluster and waits until they
// can be used: every partition has a leader and the group coordinator answers.
// scripts/kafka.sh runs it as the readiness check of the broker it starts, so
// that tests never race the broker's startup.
//
// Usage:
//
//	kafkatopics -bootstrap 127.0.0.1:9092 -topic message-read:8 -topic message-read-dlq:3
//
// It is idempotent: a topic that already exists with at least the requested
// number of partitions is accepted as it is.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// run parses args, does the work and returns the process exit code: 0 on
// success, 1 when the cluster is not ready in time, 2 for bad arguments.
func run(ctx context.Context, args []string, logw io.Writer) int {
	fs := flag.NewFlagSet("kafkatopics", flag.ContinueOnError)
	fs.SetOutput(logw)
	bootstrap := fs.String("bootstrap", "127.0.0.1:9092", "broker address `host:port`")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up when the cluster is not ready after this long")
	replication := fs.Int("replication-factor", 1, "replication factor of created topics")
	probeGroup := fs.String("probe-group", "kafkatopics-probe",
		"consumer group whose coordinator must answer before the cluster counts as ready; empty skips the check")
	var topics topicList
	fs.Var(&topics, "topic", "topic to create, as `name:partitions` (repeatable)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(logw, "kafkatopics: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if *replication < 1 || *timeout <= 0 {
		fmt.Fprintln(logw, "kafkatopics: -replication-factor must be >= 1 and -timeout > 0")
		return 2
	}

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	transport := &kafka.Transport{DialTimeout: 3 * time.Second, ClientID: "kafkatopics"}
	defer transport.CloseIdleConnections()

	s := &setup{
		client:            &kafka.Client{Addr: kafka.TCP(*bootstrap), Timeout: 10 * time.Second, Transport: transport},
		topics:            topics,
		replicationFactor: *replication,
		probeGroup:        *probeGroup,
		pollInterval:      250 * time.Millisecond,
		logf: func(format string, args ...any) {
			fmt.Fprintf(logw, "kafkatopics: "+format+"\n", args...)
		},
	}
	if err := s.run(ctx); err != nil {
		fmt.Fprintf(logw, "kafkatopics: %s: %v\n", *bootstrap, err)
		return 1
	}
	return 0
}

// topicSpec is one topic to create.
type topicSpec struct {
	name       string
	partitions int
}

// topicList collects repeated -topic flags.
type topicList []topicSpec

func (l *topicList) String() string {
	parts := make([]string, len(*l))
	for i, t := range *l {
		parts[i] = t.name + ":" + strconv.Itoa(t.partitions)
	}
	return strings.Join(parts, ",")
}

func (l *topicList) Set(v string) error {
	name, count, ok := strings.Cut(v, ":")
	if !ok || name == "" {
		return fmt.Errorf("topic %q: want name:partitions", v)
	}
	n, err := strconv.Atoi(count)
	if err != nil || n < 1 {
		return fmt.Errorf("topic %q: partitions must be a positive integer", v)
	}
	*l = append(*l, topicSpec{name: name, partitions: n})
	return nil
}

// setup brings a cluster to the state tests need.
type setup struct {
	client            *kafka.Client
	topics            []topicSpec
	replicationFactor int
	probeGroup        string
	pollInterval      time.Duration
	logf              func(format string, args ...any)
}

// permanentError marks an answer that retrying cannot change.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

func (s *setup) run(ctx context.Context) error {
	if len(s.topics) > 0 {
		if err := s.retry(ctx, "create topics", s.createTopics); err != nil {
			return err
		}
		if err := s.retry(ctx, "wait for partition leaders", s.checkLeaders); err != nil {
			return err
		}
	}
	if s.probeGroup != "" {
		// The broker creates __consumer_offsets on the first FindCoordinator;
		// waiting for it here keeps that delay out of the first test that
		// joins a group.
		if err := s.retry(ctx, "find group coordinator", s.findCoordinator); err != nil {
			return err
		}
	}
	return nil
}

// retry calls step until it succeeds, fails permanently or ctx ends. While
// the broker starts, connection refusals and "not ready" codes are expected,
// so only the last error is reported.
func (s *setup) retry(ctx context.Context, what string, step func(context.Context) error) error {
	start := time.Now()
	attempts := 0
	for {
		attempts++
		err := step(ctx)
		if err == nil {
			s.logf("%s: ok after %d attempt(s), %s", what, attempts, time.Since(start).Round(time.Millisecond))
			return nil
		}
		if pe := (permanentError{}); errors.As(err, &pe) {
			return fmt.Errorf("%s: %w", what, pe.err)
		}
		timer := time.NewTimer(s.pollInterval)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("%s: not done after %d attempts in %s (%v): %w",
				what, attempts, time.Since(start).Round(time.Millisecond), ctx.Err(), err)
		case <-timer.C:
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

func (s *setup) createTopics(ctx context.Context) error {
	configs := make([]kafka.TopicConfig, len(s.topics))
	for i, t := range s.topics {
		configs[i] = kafka.TopicConfig{Topic: t.name, NumPartitions: t.partitions, ReplicationFactor: s.replicationFactor}
	}
	resp, err := s.client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: configs})
	if err != nil {
		return err
	}
	var errs []error
	for _, t := range s.topics {
		err, ok := resp.Errors[t.name]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("topic %s: missing from the broker's answer", t.name))
		case err == nil, errors.Is(err, kafka.TopicAlreadyExists):
		case isOneOf(err, permanentCodes):
			return permanentError{fmt.Errorf("topic %s (%d partitions, replication factor %d): %w",
				t.name, t.partitions, s.replicationFactor, err)}
		default:
			errs = append(errs, fmt.Errorf("topic %s: %w", t.name, err))
		}
	}
	return errors.Join(errs...)
}

func (s *setup) checkLeaders(ctx context.Context) error {
	names := make([]string, len(s.topics))
	for i, t := range s.topics {
		names[i] = t.name
	}
	md, err := s.client.Metadata(ctx, &kafka.MetadataRequest{Topics: names})
	if err != nil {
		return err
	}
	byName := make(map[string]kafka.Topic, len(md.Topics))
	for _, t := range md.Topics {
		byName[t.Name] = t
	}
	var errs []error
	for _, want := range s.topics {
		got, ok := byName[want.name]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("topic %s: not in metadata yet", want.name))
			continue
		case got.Error != nil:
			errs = append(errs, fmt.Errorf("topic %s: %w", want.name, got.Error))
			continue
		case len(got.Partitions) < want.partitions:
			return permanentError{fmt.Errorf("topic %s exists with %d partitions, want at least %d: delete it or pick another name",
				want.name, len(got.Partitions), want.partitions)}
		}
		for _, p := range got.Partitions {
			// Metadata reports a partition without a leader with the zero Broker.
			if p.Error != nil || p.Leader.Host == "" {
				errs = append(errs, fmt.Errorf("topic %s partition %d: no leader yet (%v)", want.name, p.ID, p.Error))
			}
		}
	}
	return errors.Join(errs...)
}

func (s *setup) findCoordinator(ctx context.Context) error {
	resp, err := s.client.FindCoordinator(ctx, &kafka.FindCoordinatorRequest{
		Key:     s.probeGroup,
		KeyType: kafka.CoordinatorKeyTypeConsumer,
	})
	if err != nil {
		return err
	}
	if resp.Error != nil {
		return fmt.Errorf("group %s: %w", s.probeGroup, resp.Error)
	}
	return nil
}

func isOneOf(err error, codes []kafka.Error) bool {
	for _, c := range codes {
		if errors.Is(err, c) {
			return true
		}
	}
	return false
}
