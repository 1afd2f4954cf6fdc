package deadletter_test

import (
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/receiptd/receiptd/deadletter"
	"github.com/receiptd/receiptd/internal/kafkatest"
	"github.com/receiptd/receiptd/receipt"
	"github.com/receiptd/receiptd/worker"
)

const (
	srcTopic = "events"
	dlqTopic = "events-dlq"
)

// newCluster starts an in-process Kafka with a one-partition dead-letter
// topic.
func newCluster(t testing.TB) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, dlqTopic))
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// testConfig returns a writer configuration with short timeouts.
func testConfig(addrs []string) deadletter.Config {
	return deadletter.Config{
		Brokers:      addrs,
		Topic:        dlqTopic,
		Dialer:       &kafka.Dialer{Timeout: 5 * time.Second},
		WriteTimeout: 5 * time.Second,
		WorkerID:     "test-worker",
	}
}

// sources stands in for the consumer: it makes records of source-topic
// messages, at consecutive offsets of partition 0, and finds them again
// for the writer.
type sources struct {
	mu   sync.Mutex
	msgs map[*worker.Record]kafka.Message
	next int64
}

// add returns a group-read record for each of msgs, as a consumer would
// hand them over.
func (s *sources) add(msgs ...kafka.Message) []*worker.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.msgs == nil {
		s.msgs = map[*worker.Record]kafka.Message{}
	}
	recs := make([]*worker.Record, len(msgs))
	for i, m := range msgs {
		m.Topic, m.Partition, m.Offset = srcTopic, 0, s.next
		s.next++
		recs[i] = &worker.Record{Key: receipt.Key{Action: receipt.GroupRead, UserID: "u", ConvID: "g"}, Seqs: []uint64{1}}
		s.msgs[recs[i]] = m
	}
	return recs
}

func (s *sources) find(rec *worker.Record) (kafka.Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.msgs[rec]
	return m, ok
}

// newWriter returns a dead-letter writer for cfg that finds its records in
// src, closed when the test ends.
func newWriter(t testing.TB, cfg deadletter.Config, src *sources, obs deadletter.Observer) *deadletter.Writer {
	t.Helper()
	w, err := deadletter.NewWriter(cfg, src.find, obs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w
}

// kafkaClient returns a kafka-go client for addrs; its connections are
// closed when the test ends.
func kafkaClient(t testing.TB, addrs []string) *kafka.Client {
	tr := &kafka.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &kafka.Client{Addr: kafka.TCP(addrs...), Transport: tr}
}

// readDLQ reads n records from the dead-letter topic.
func readDLQ(t *testing.T, addrs []string, n int) []kafka.Message {
	t.Helper()
	return kafkatest.ReadTopic(t, addrs, dlqTopic, n)
}
