// Package sandbox runs receiptd's surroundings in-process, so that the
// demo, the benchmark and tests need nothing installed: a Kafka cluster
// (kfake, which speaks the real wire protocol) with the source and
// dead-letter topics, or fresh topics on a real broker, and the ZIM
// simulator on a loopback port.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/receiptd/receiptd/internal/config"
	"github.com/receiptd/receiptd/internal/kafkatopics"
	"github.com/receiptd/receiptd/internal/secret"
	"github.com/receiptd/receiptd/retry"
	"github.com/receiptd/receiptd/zimapi/zimfake"
)

// Credentials of the simulated ZIM app. They are not a real app's.
const (
	AppID  uint32 = 1234567
	Secret        = "0123456789abcdef0123456789abcdef"
)

// Config configures a Sandbox.
type Config struct {
	Topic, DLQTopic string // default "message-read" and "message-read-dlq"
	Partitions      int    // of the source topic, default 8
	DLQPartitions   int    // default 1
	// Brokers, when set, is a real Kafka cluster to use instead of an
	// in-process one; the topics are created there and must not exist.
	Brokers []string
	// ZIM configures the simulator; its AppID and Secret are set to the
	// sandbox's.
	ZIM zimfake.Config
	// KafkaDataDir, with the in-process Kafka, keeps its data on disk there,
	// so that RestartKafka brings it back with its topics and offsets.
	KafkaDataDir string
}

// Sandbox is a running Kafka and ZIM simulator pair.
type Sandbox struct {
	cfg     Config
	cluster *kfake.Cluster // nil with external brokers
	resume  chan struct{}  // closed to end a PauseKafka; nil when not paused
	Brokers []string
	ZIM     *zimfake.Server
	ZIMURL  string

	srv    *http.Server
	served chan struct{}
}

// Start starts the sandbox. Close it when done.
func Start(ctx context.Context, cfg Config) (*Sandbox, error) {
	if cfg.Topic == "" {
		cfg.Topic = "message-read"
	}
	if cfg.DLQTopic == "" {
		cfg.DLQTopic = "message-read-dlq"
	}
	if cfg.Partitions == 0 {
		cfg.Partitions = 8
	}
	if cfg.DLQPartitions == 0 {
		cfg.DLQPartitions = 1
	}
	s := &Sandbox{cfg: cfg, Brokers: cfg.Brokers}
	if len(cfg.Brokers) == 0 {
		c, err := startCluster(cfg)
		if err != nil {
			return nil, err
		}
		s.cluster, s.Brokers = c, c.ListenAddrs()
	} else if err := createTopics(ctx, cfg); err != nil {
		return nil, err
	}

	zcfg := cfg.ZIM
	zcfg.AppID, zcfg.Secret = AppID, Secret
	s.ZIM = zimfake.New(zcfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("listen for the ZIM simulator: %w", err)
	}
	s.ZIMURL = "http://" + ln.Addr().String() + "/"
	s.srv = &http.Server{Handler: s.ZIM.Handler(), ReadHeaderTimeout: 5 * time.Second}
	s.served = make(chan struct{})
	go func() {
		defer close(s.served)
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// startCluster starts the in-process Kafka, on the given ports if any.
func startCluster(cfg Config, ports ...int) (*kfake.Cluster, error) {
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.SeedTopics(int32(cfg.Partitions), cfg.Topic),
		kfake.SeedTopics(int32(cfg.DLQPartitions), cfg.DLQTopic),
		kfake.GroupMinSessionTimeout(time.Second),
	}
	if cfg.KafkaDataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.KafkaDataDir))
	}
	if len(ports) > 0 {
		opts = append(opts, kfake.Ports(ports...))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("start in-process kafka: %w", err)
	}
	return c, nil
}

// PauseKafka freezes the in-process Kafka the way SIGSTOP freezes a broker:
// connections stay open and no request is answered until ResumeKafka.
func (s *Sandbox) PauseKafka() error {
	if s.cluster == nil {
		return errors.New("pause kafka: only the in-process kafka can be paused")
	}
	if s.resume != nil {
		return errors.New("pause kafka: already paused")
	}
	resume := make(chan struct{})
	s.resume = resume
	// A control runs on the cluster's only goroutine: while it waits, the
	// cluster handles nothing. It runs at the next request, which the
	// clients' heartbeats and fetches send within a second.
	s.cluster.Control(func(kmsg.Request) (kmsg.Response, error, bool) {
		<-resume
		return nil, nil, false
	})
	return nil
}

// ResumeKafka ends a PauseKafka.
func (s *Sandbox) ResumeKafka() {
	if s.resume != nil {
		close(s.resume)
		s.resume = nil
	}
}

// RestartKafka stops the in-process Kafka, waits down, and starts it again
// on the same port; with Config.KafkaDataDir its topics, records and
// committed offsets come back, as after a broker's rolling restart.
func (s *Sandbox) RestartKafka(ctx context.Context, down time.Duration) error {
	if s.cluster == nil {
		return errors.New("restart kafka: only the in-process kafka can be restarted")
	}
	s.ResumeKafka()
	var ports []int
	for _, a := range s.Brokers {
		_, p, err := net.SplitHostPort(a)
		if err != nil {
			return fmt.Errorf("restart kafka: %w", err)
		}
		port, err := strconv.Atoi(p)
		if err != nil {
			return fmt.Errorf("restart kafka: port of %s: %w", a, err)
		}
		ports = append(ports, port)
	}
	s.cluster.Close()
	s.cluster = nil
	if err := retry.Sleep(ctx, down); err != nil {
		return err
	}
	c, err := startCluster(s.cfg, ports...)
	if err != nil {
		return fmt.Errorf("restart kafka: %w", err)
	}
	s.cluster = c
	return nil
}

// createTopics creates the source and dead-letter topics on cfg.Brokers
// and waits until they can be used.
func createTopics(ctx context.Context, cfg Config) error {
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 30 * time.Second, Transport: transport}
	err := kafkatopics.Create(ctx, client, []kafkatopics.Topic{
		{Name: cfg.Topic, Partitions: cfg.Partitions},
		{Name: cfg.DLQTopic, Partitions: cfg.DLQPartitions},
	}, kafkatopics.Fresh())
	if err != nil {
		return fmt.Errorf("topics on %v: %w", cfg.Brokers, err)
	}
	return nil
}

// Close stops the simulator and the in-process cluster.
func (s *Sandbox) Close() {
	if s.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = s.srv.Shutdown(ctx)
		cancel()
		<-s.served
	}
	if s.cluster != nil {
		s.ResumeKafka()
		s.cluster.Close()
	}
}

// Configure points cfg at the sandbox: brokers, topics, the simulator's
// endpoint and credentials.
func (s *Sandbox) Configure(cfg config.Config) config.Config {
	cfg.Kafka.Brokers = s.Brokers
	cfg.Kafka.Topic, cfg.Kafka.DLQTopic = s.cfg.Topic, s.cfg.DLQTopic
	cfg.ZIM.Endpoint = s.ZIMURL
	cfg.ZIM.AppID = AppID
	cfg.ZIM.ServerSecret = secret.Secret(Secret)
	return cfg
}

// Writer returns a producer to the source topic, batching for speed and
// keeping each key's records in one partition, as a chat backend would.
// Close it when done; closing it also closes its connections.
func (s *Sandbox) Writer() *Writer {
	t := &kafka.Transport{}
	return &Writer{Writer: &kafka.Writer{
		Addr: kafka.TCP(s.Brokers...), Topic: s.cfg.Topic, Balancer: &kafka.Hash{}, Transport: t,
		RequiredAcks: kafka.RequireAll, BatchSize: 1000, BatchTimeout: 10 * time.Millisecond,
	}, transport: t}
}

// Writer is a kafka.Writer that owns its transport.
type Writer struct {
	*kafka.Writer
	transport *kafka.Transport
}

// Close flushes the writer and closes its connections.
func (w *Writer) Close() error {
	err := w.Writer.Close()
	w.transport.CloseIdleConnections()
	return err
}

// EndOffsets returns the high-water mark of every partition of topic.
func (s *Sandbox) EndOffsets(ctx context.Context, topic string) (map[int]int64, error) {
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(s.Brokers...), Timeout: 10 * time.Second, Transport: transport}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, err
	}
	if len(md.Topics) != 1 || md.Topics[0].Error != nil {
		return nil, fmt.Errorf("topic %s not found", topic)
	}
	var reqs []kafka.OffsetRequest
	for _, p := range md.Topics[0].Partitions {
		reqs = append(reqs, kafka.LastOffsetOf(p.ID))
	}
	resp, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, err
	}
	out := make(map[int]int64)
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			return nil, po.Error
		}
		out[po.Partition] = po.LastOffset
	}
	return out, nil
}

// Count returns the number of records in topic (the sum of high-water
// marks; the sandbox never deletes records).
func (s *Sandbox) Count(ctx context.Context, topic string) (int64, error) {
	ends, err := s.EndOffsets(ctx, topic)
	var n int64
	for _, e := range ends {
		n += e
	}
	return n, err
}
