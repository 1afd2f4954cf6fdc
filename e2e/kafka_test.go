package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/receiptd/receiptd/internal/kafkatopics"
	"github.com/receiptd/receiptd/internal/traffic"
)

// Partitions of every scenario's topics, as in production.
const (
	sourcePartitions = 8
	dlqPartitions    = 3
)

// kafkaTimeout bounds one admin request or one produce call.
const kafkaTimeout = 30 * time.Second

// broker is the test's own client of the broker: it creates topics,
// produces traffic and reads what receiptd wrote and committed.
type broker struct {
	addrs     []string
	client    *kafka.Client
	transport *kafka.Transport
}

// newBroker returns a client of the suite's broker.
func newBroker(t *testing.T) *broker { return newBrokerAt(t, suite.brokers) }

// newBrokerAt returns a client of the brokers at addrs.
func newBrokerAt(t *testing.T, addrs []string) *broker {
	t.Helper()
	tr := &kafka.Transport{DialTimeout: 5 * time.Second, ClientID: "receiptd-e2e"}
	t.Cleanup(tr.CloseIdleConnections)
	return &broker{
		addrs:     addrs,
		client:    &kafka.Client{Addr: kafka.TCP(addrs...), Timeout: kafkaTimeout, Transport: tr},
		transport: tr,
	}
}

// names are one scenario's topics and consumer group.
type names struct {
	Source, DLQ, Group string
}

var unsafeName = regexp.MustCompile(`[^a-z0-9]+`)

// newTopics creates a fresh source topic (8 partitions) and dead-letter
// topic (3, with dlqConfig), named after the test, and waits until they can
// be used. They are deleted when the test passes and kept for inspection
// when it fails.
func (b *broker) newTopics(t *testing.T, dlqConfig ...kafka.ConfigEntry) names {
	t.Helper()
	return b.newTopicsWith(t, sourcePartitions, dlqConfig...)
}

// newTopicsWith is newTopics with a source topic of the given partitions.
func (b *broker) newTopicsWith(t *testing.T, partitions int, dlqConfig ...kafka.ConfigEntry) names {
	t.Helper()
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	base := "e2e-" + strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-") + "-" + hex.EncodeToString(suffix[:])
	n := names{Source: base, DLQ: base + "-dlq", Group: base + "-group"}

	ctx, cancel := context.WithTimeout(context.Background(), kafkaTimeout)
	defer cancel()
	err := kafkatopics.Create(ctx, b.client, []kafkatopics.Topic{
		{Name: n.Source, Partitions: partitions},
		{Name: n.DLQ, Partitions: dlqPartitions, Configs: dlqConfig},
	}, kafkatopics.Fresh())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kept topics %s and %s and group %s for inspection", n.Source, n.DLQ, n.Group)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), kafkaTimeout)
		defer cancel()
		if _, err := b.client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{n.Source, n.DLQ}}); err != nil {
			t.Logf("delete topics %s, %s: %v", n.Source, n.DLQ, err)
		}
	})
	t.Logf("topics %s (%d partitions), %s (%d), group %s", n.Source, partitions, n.DLQ, dlqPartitions, n.Group)
	return n
}

// writer returns a producer for topic that keys records to partitions the
// way chat backends do (hash of the key) and waits for every replica.
func (b *broker) writer(topic string) *kafka.Writer {
	return &kafka.Writer{
		Addr:         kafka.TCP(b.addrs...),
		Topic:        topic,
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    1000,
		// kafka-go fills a batch up to BatchBytes by its own count, which
		// leaves out the batch's header: this keeps a full batch within the
		// broker's default max.message.bytes.
		BatchBytes:   brokerMaxMessageBytes - 61,
		BatchTimeout: 5 * time.Millisecond,
		Transport:    b.transport,
	}
}

// produce writes recs to topic and returns when all are acknowledged.
func (b *broker) produce(t *testing.T, topic string, recs []traffic.Record) {
	t.Helper()
	w := b.writer(topic)
	defer w.Close()
	if err := produceChunks(context.Background(), w, recs); err != nil {
		t.Fatalf("produce %d records to %s: %v", len(recs), topic, err)
	}
}

func produceChunks(ctx context.Context, w *kafka.Writer, recs []traffic.Record) error {
	const chunk = 5000
	for len(recs) > 0 {
		n := min(chunk, len(recs))
		msgs := make([]kafka.Message, n)
		for i, r := range recs[:n] {
			msgs[i] = kafka.Message{Key: r.Key, Value: r.Value}
		}
		wctx, cancel := context.WithTimeout(ctx, kafkaTimeout)
		err := w.WriteMessages(wctx, msgs...)
		cancel()
		if err != nil {
			return err
		}
		recs = recs[n:]
	}
	return nil
}

// producePaced writes recs to topic in a goroutine, perTick records every
// tick, so that events keep arriving while a scenario does something to the
// system. It returns a function that waits for the goroutine and returns
// its error; the goroutine stops early when ctx ends.
func (b *broker) producePaced(ctx context.Context, topic string, recs []traffic.Record, perTick int, tick time.Duration) (wait func() error) {
	done := make(chan struct{})
	var err error
	go func() {
		defer close(done)
		w := b.writer(topic)
		ticker := time.NewTicker(tick)
		defer ticker.Stop()
		for len(recs) > 0 && err == nil {
			n := min(perTick, len(recs))
			if err = produceChunks(ctx, w, recs[:n]); err != nil {
				break
			}
			recs = recs[n:]
			if len(recs) == 0 {
				break
			}
			select {
			case <-ticker.C:
			case <-ctx.Done():
				err = ctx.Err()
			}
		}
		err = errors.Join(err, w.Close())
	}()
	return func() error {
		<-done
		return err
	}
}

// highWater returns the high-water mark of each partition of topic.
func (b *broker) highWater(t *testing.T, topic string, partitions int) []int64 {
	t.Helper()
	reqs := make([]kafka.OffsetRequest, partitions)
	for p := range partitions {
		reqs[p] = kafka.LastOffsetOf(p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), kafkaTimeout)
	defer cancel()
	resp, err := b.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		t.Fatalf("list offsets of %s: %v", topic, err)
	}
	out := make([]int64, partitions)
	got := 0
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			t.Fatalf("list offsets of %s/%d: %v", topic, po.Partition, po.Error)
		}
		out[po.Partition] = po.LastOffset
		got++
	}
	if got != partitions {
		t.Fatalf("list offsets of %s: %d partitions answered, want %d", topic, got, partitions)
	}
	return out
}

// committed returns group's committed offset of each partition of topic,
// -1 where it has committed nothing.
func (b *broker) committed(t *testing.T, group, topic string, partitions int) []int64 {
	t.Helper()
	out, err := b.fetchCommitted(group, topic, partitions)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// pollCommitted is committed for a caller that polls: it returns a
// temporary error of the broker (kafka.Error.Temporary; a broker just
// restarted answers NOT_COORDINATOR until it has loaded the group) to be
// waited out, and fails t for any other.
func (b *broker) pollCommitted(t *testing.T, group, topic string, partitions int) ([]int64, error) {
	t.Helper()
	out, err := b.fetchCommitted(group, topic, partitions)
	var kerr kafka.Error
	if err != nil && !(errors.As(err, &kerr) && kerr.Temporary()) {
		t.Fatal(err)
	}
	return out, err
}

// fetchCommitted is committed returning the broker's error.
func (b *broker) fetchCommitted(group, topic string, partitions int) ([]int64, error) {
	ps := make([]int, partitions)
	for p := range partitions {
		ps[p] = p
	}
	ctx, cancel := context.WithTimeout(context.Background(), kafkaTimeout)
	defer cancel()
	resp, err := b.client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ps}})
	if err == nil {
		err = resp.Error
	}
	if err != nil {
		return nil, fmt.Errorf("committed offsets of group %s: %w", group, err)
	}
	out := make([]int64, partitions)
	for i := range out {
		out[i] = -1
	}
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("committed offset of group %s on %s/%d: %w", group, topic, p.Partition, p.Error)
		}
		out[p.Partition] = p.CommittedOffset
	}
	return out, nil
}

// noCommits is the committed offsets of a group that has committed nothing.
func noCommits() []int64 {
	offs := make([]int64, sourcePartitions)
	for p := range offs {
		offs[p] = -1
	}
	return offs
}

// readAll returns every record of topic, partition by partition in offset
// order, up to the high-water marks at the time of the call.
func (b *broker) readAll(t *testing.T, topic string, partitions int) [][]kafka.Message {
	t.Helper()
	hw := b.highWater(t, topic, partitions)
	out := make([][]kafka.Message, partitions)
	for p := range partitions {
		msgs, err := b.readRange(topic, p, 0, hw[p])
		if err != nil {
			t.Fatalf("read %s/%d: %v", topic, p, err)
		}
		out[p] = msgs
	}
	return out
}

// readRange returns the records of a partition of topic from offset from
// up to end.
func (b *broker) readRange(topic string, partition int, from, end int64) ([]kafka.Message, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out []kafka.Message
	for next := from; next < end; {
		resp, err := b.client.Fetch(ctx, &kafka.FetchRequest{
			Topic: topic, Partition: partition, Offset: next,
			MinBytes: 1, MaxBytes: 8 << 20, MaxWait: 500 * time.Millisecond,
		})
		if err == nil {
			err = resp.Error
		}
		if err != nil {
			return out, fmt.Errorf("fetch at offset %d: %w", next, err)
		}
		for {
			r, err := resp.Records.ReadRecord()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return out, fmt.Errorf("read records at offset %d: %w", next, err)
			}
			if r.Offset < next || r.Offset >= end {
				continue // the head of a batch read before, or past end
			}
			m := kafka.Message{Topic: topic, Partition: partition, Offset: r.Offset, Time: r.Time,
				Headers: append([]kafka.Header(nil), r.Headers...)}
			if r.Key != nil {
				if m.Key, err = kafka.ReadAll(r.Key); err != nil {
					return out, err
				}
			}
			if r.Value != nil {
				if m.Value, err = kafka.ReadAll(r.Value); err != nil {
					return out, err
				}
			}
			out = append(out, m)
			next = r.Offset + 1
		}
		if err := ctx.Err(); err != nil {
			return out, fmt.Errorf("at offset %d of %d: %w", next, end, err)
		}
	}
	return out, nil
}

// offsetsString formats per-partition offsets as p0=12 p1=40 ...
func offsetsString(offs []int64) string {
	parts := make([]string, len(offs))
	for p, o := range offs {
		parts[p] = fmt.Sprintf("p%d=%d", p, o)
	}
	return strings.Join(parts, " ")
}
