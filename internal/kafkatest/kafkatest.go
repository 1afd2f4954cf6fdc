// Package kafkatest holds the Kafka helpers that the tests of several
// packages share: starting an in-process kfake cluster and a client to it,
// reading a topic back, and making the cluster refuse produce requests.
//
// Lock and goroutine contract: NewCluster, Client and ReadTopic run on the
// test's goroutine; RefuseProduces installs a kfake control function that
// the cluster calls from its own goroutine, counting through an atomic.
package kafkatest

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// NewCluster starts an in-process one-broker Kafka with opts, failing the
// test if it does not start; it is closed when the test ends.
func NewCluster(t testing.TB, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// Client returns a kafka-go client of brokers whose requests give up after
// 10 seconds; its idle connections are closed when the test ends.
func Client(t testing.TB, brokers []string) *kafka.Client {
	tr := &kafka.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second, Transport: tr}
}

// ReadTopic reads the first n records of partition 0 of topic, failing the
// test if they do not arrive within 20 seconds.
func ReadTopic(t testing.TB, brokers []string, topic string, n int) []kafka.Message {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: 0, MaxWait: 200 * time.Millisecond, MaxBytes: 4 << 20})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []kafka.Message
	for len(out) < n {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("read %s after %d of %d records: %v", topic, len(out), n, err)
		}
		out = append(out, m)
	}
	return out
}

// RefuseProduces makes cluster refuse the next n produce requests to topic
// with POLICY_VIOLATION, an error kafka-go does not retry itself, and
// returns the count of requests refused so far.
func RefuseProduces(cluster *kfake.Cluster, topic string, n int) *atomic.Int32 {
	var refused atomic.Int32
	cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		pr := req.(*kmsg.ProduceRequest)
		if len(pr.Topics) == 0 || pr.Topics[0].Topic != topic || refused.Load() >= int32(n) {
			return nil, nil, false
		}
		cluster.KeepControl()
		refused.Add(1)
		resp := pr.ResponseKind().(*kmsg.ProduceResponse)
		for _, t := range pr.Topics {
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewProduceResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = 44 // POLICY_VIOLATION
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})
	return &refused
}
