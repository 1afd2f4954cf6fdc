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
// number of partitions is accepted as it is. The work is package
// internal/kafkatopics's; this is its command line.
package main

import (
	"context"
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

	"github.com/receiptd/receiptd/internal/kafkatopics"
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
	for i := range topics {
		topics[i].ReplicationFactor = *replication
	}

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	transport := &kafka.Transport{DialTimeout: 3 * time.Second, ClientID: "kafkatopics"}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(*bootstrap), Timeout: 10 * time.Second, Transport: transport}
	err := kafkatopics.Create(ctx, client, topics,
		kafkatopics.ProbeGroup(*probeGroup),
		kafkatopics.Logf(func(format string, args ...any) {
			fmt.Fprintf(logw, "kafkatopics: "+format+"\n", args...)
		}))
	if err != nil {
		fmt.Fprintf(logw, "kafkatopics: %s: %v\n", *bootstrap, err)
		return 1
	}
	return 0
}

// topicList collects repeated -topic flags.
type topicList []kafkatopics.Topic

func (l *topicList) String() string {
	parts := make([]string, len(*l))
	for i, t := range *l {
		parts[i] = t.Name + ":" + strconv.Itoa(t.Partitions)
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
	*l = append(*l, kafkatopics.Topic{Name: name, Partitions: n})
	return nil
}
