// Package kafkatest holds the Kafka helpers that the tests of several
// packages share: starting an in-process kfake cluster and a client to it,
// reading a topic back, and making the cluster refuse produce or fetch
// requests.
//
// Lock and goroutine contract: NewCluster, Client and ReadTopic run on the
// test's goroutine; RefuseProduces and RefuseFetches install a kfake
// control function that the cluster calls from its own goroutine, counting
// through an atomic.
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
	return refuseNext(cluster, kmsg.Produce, n, func(req kmsg.Request) bool {
		pr := req.(*kmsg.ProduceRequest)
		return len(pr.Topics) > 0 && pr.Topics[0].Topic == topic
	}, func(req kmsg.Request) kmsg.Response {
		pr := req.(*kmsg.ProduceRequest)
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
		return resp
	})
}

// RefuseFetches makes cluster answer the next n fetch requests that name a
// topic with code for every partition asked for, and returns the count of
// requests refused so far.
func RefuseFetches(cluster *kfake.Cluster, n int, code int16) *atomic.Int32 {
	return refuseNext(cluster, kmsg.Fetch, n, func(req kmsg.Request) bool {
		return len(req.(*kmsg.FetchRequest).Topics) > 0
	}, func(req kmsg.Request) kmsg.Response {
		fr := req.(*kmsg.FetchRequest)
		resp := fr.ResponseKind().(*kmsg.FetchResponse)
		for _, ft := range fr.Topics {
			rt := kmsg.NewFetchResponseTopic()
			rt.Topic, rt.TopicID = ft.Topic, ft.TopicID
			for _, fp := range ft.Partitions {
				rp := kmsg.NewFetchResponseTopicPartition()
				rp.Partition = fp.Partition
				rp.ErrorCode = code
				rp.HighWatermark, rp.LastStableOffset = -1, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	})
}

// refuseNext makes cluster answer the next n requests of key that match
// with the answer refusal builds; the others it lets through. It returns the
// count of requests refused so far.
func refuseNext(cluster *kfake.Cluster, key kmsg.Key, n int, match func(kmsg.Request) bool, refusal func(kmsg.Request) kmsg.Response) *atomic.Int32 {
	var refused atomic.Int32
	cluster.ControlKey(int16(key), func(req kmsg.Request) (kmsg.Response, error, bool) {
		if !match(req) || refused.Load() >= int32(n) {
			return nil, nil, false
		}
		cluster.KeepControl()
		refused.Add(1)
		return refusal(req), nil, true
	})
	return &refused
}
