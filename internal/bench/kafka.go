package bench

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/receiptd/receiptd/internal/traffic"
)

// producer writes traffic to the source topic with franz-go, which batches
// far more records per request than kafka-go's Writer: preloading a
// million records takes seconds rather than minutes. It chooses each
// record's partition itself (FNV-1a of the key), so the harness knows where
// every record lands and, since one producer writes in order, at which
// offset.
type producer struct {
	cl         *kgo.Client
	topic      string
	partitions int
}

// newProducer returns a producer to topic. linger is how long a partition's
// batch waits for more records: long for preloading, zero for records that
// must leave at once.
func newProducer(brokers []string, topic string, partitions int, linger time.Duration) (*producer, error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerLinger(linger),
		kgo.ProducerBatchMaxBytes(1<<20),
		kgo.MaxBufferedRecords(1<<17),
	)
	if err != nil {
		return nil, fmt.Errorf("producer: %w", err)
	}
	return &producer{cl: cl, topic: topic, partitions: partitions}, nil
}

func (p *producer) close() { p.cl.Close() }

// partition returns the partition of a record keyed key: a chat backend
// keys by conversation so that one conversation's reads stay in order.
func (p *producer) partition(key []byte) int {
	h := fnv.New32a()
	_, _ = h.Write(key)
	return int(h.Sum32() % uint32(p.partitions))
}

// produce hands r to the client without waiting; flush waits for all.
// The first produce error is reported by flush.
func (p *producer) produce(ctx context.Context, r traffic.Record, part int, failed *errorOnce) {
	rec := &kgo.Record{Key: r.Key, Value: r.Value, Partition: int32(part)}
	p.cl.Produce(ctx, rec, func(_ *kgo.Record, err error) {
		if err != nil {
			failed.set(err)
		}
	})
}

// produceSync writes one record and waits for its acknowledgement: the
// light-load scenario's records go out one by one, as a chat backend's do.
func (p *producer) produceSync(ctx context.Context, r traffic.Record) error {
	rec := &kgo.Record{Key: r.Key, Value: r.Value, Partition: int32(p.partition(r.Key))}
	if err := p.cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return fmt.Errorf("produce: %w", err)
	}
	return nil
}

func (p *producer) flush(ctx context.Context, failed *errorOnce) error {
	if err := p.cl.Flush(ctx); err != nil {
		return fmt.Errorf("flush producer: %w", err)
	}
	if err := failed.get(); err != nil {
		return fmt.Errorf("produce: %w", err)
	}
	return nil
}

// errorOnce keeps the first error set; produce callbacks run on the
// client's goroutines.
type errorOnce struct {
	ch chan error
}

func newErrorOnce() *errorOnce { return &errorOnce{ch: make(chan error, 1)} }

func (e *errorOnce) set(err error) {
	select {
	case e.ch <- err:
	default:
	}
}

func (e *errorOnce) get() error {
	select {
	case err := <-e.ch:
		e.ch <- err
		return err
	default:
		return nil
	}
}

// groupWatch reads a consumer group's progress from the brokers, the way
// an operator's lag exporter does: committed offsets against end offsets.
type groupWatch struct {
	client *kafka.Client
	topic  string
}

func newGroupWatch(brokers []string, topic string) *groupWatch {
	return &groupWatch{client: &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}, topic: topic}
}

// ends returns the high-water mark of every partition.
func (g *groupWatch) ends(ctx context.Context, partitions int) (map[int]int64, error) {
	reqs := make([]kafka.OffsetRequest, partitions)
	for p := range partitions {
		reqs[p] = kafka.LastOffsetOf(p)
	}
	resp, err := g.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{g.topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", g.topic, err)
	}
	out := make(map[int]int64, partitions)
	for _, po := range resp.Topics[g.topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("list offsets of %s/%d: %w", g.topic, po.Partition, po.Error)
		}
		out[po.Partition] = po.LastOffset
	}
	return out, nil
}

// committed returns the group's committed offset per partition; a
// partition without a commit is absent.
func (g *groupWatch) committed(ctx context.Context, group string, partitions int) (map[int]int64, error) {
	ids := make([]int, partitions)
	for p := range partitions {
		ids[p] = p
	}
	resp, err := g.client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{g.topic: ids}})
	if err != nil {
		return nil, fmt.Errorf("fetch offsets of group %s: %w", group, err)
	}
	if resp.Error != nil {
		return nil, fmt.Errorf("fetch offsets of group %s: %w", group, resp.Error)
	}
	out := make(map[int]int64, partitions)
	for _, po := range resp.Topics[g.topic] {
		if po.Error == nil && po.CommittedOffset >= 0 {
			out[po.Partition] = po.CommittedOffset
		}
	}
	return out, nil
}

// members returns the number of members of a stable group, 0 while it
// rebalances.
func (g *groupWatch) members(ctx context.Context, group string) (int, error) {
	resp, err := g.client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil {
		return 0, fmt.Errorf("describe group %s: %w", group, err)
	}
	if len(resp.Groups) != 1 {
		return 0, errors.New("describe group: no answer")
	}
	grp := resp.Groups[0]
	if grp.Error != nil {
		return 0, fmt.Errorf("describe group %s: %w", group, grp.Error)
	}
	if grp.GroupState != "Stable" {
		return 0, nil
	}
	return len(grp.Members), nil
}

func sum(m map[int]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}
