package kafkatopics_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"

	"github.com/receiptd/receiptd/internal/kafkatest"
	"github.com/receiptd/receiptd/internal/kafkatopics"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newClient(t *testing.T, opts ...kfake.Opt) (*kfake.Cluster, *kafka.Client) {
	t.Helper()
	c := kafkatest.NewCluster(t, opts...)
	return c, kafkatest.Client(t, c.ListenAddrs())
}

// A caller asking for topics of its own gets them with their partitions and
// settings, and an error naming the topic when one exists already; without
// Fresh an existing topic with enough partitions is accepted.
func TestCreate(t *testing.T) {
	_, client := newClient(t, kfake.SeedTopics(2, "seeded"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	err := kafkatopics.Create(ctx, client, []kafkatopics.Topic{
		{Name: "source", Partitions: 8},
		{Name: "dlq", Partitions: 3, Configs: []kafka.ConfigEntry{{ConfigName: "max.message.bytes", ConfigValue: "2000"}}},
	}, kafkatopics.Fresh())
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{"source", "dlq"}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, tp := range md.Topics {
		got[tp.Name] = len(tp.Partitions)
	}
	if got["source"] != 8 || got["dlq"] != 3 {
		t.Errorf("partitions %v, want source 8 and dlq 3", got)
	}
	cfg, err := client.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: "dlq", ConfigNames: []string{"max.message.bytes"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if v := cfg.Resources[0].ConfigEntries[0].ConfigValue; v != "2000" {
		t.Errorf("dlq max.message.bytes = %s, want 2000", v)
	}

	err = kafkatopics.Create(ctx, client, []kafkatopics.Topic{{Name: "seeded", Partitions: 2}}, kafkatopics.Fresh())
	if err == nil || !strings.Contains(err.Error(), "topic seeded exists already") {
		t.Errorf("Create of an existing topic with Fresh: %v, want an error naming it", err)
	}
	if err := kafkatopics.Create(ctx, client, []kafkatopics.Topic{{Name: "seeded", Partitions: 2}}); err != nil {
		t.Errorf("Create of an existing topic without Fresh: %v", err)
	}
}

// A fresh topic created by an attempt whose answer was lost is the caller's
// own: the next attempt's "exists already" is not an error.
func TestFreshToleratesItsOwnLostAnswer(t *testing.T) {
	c, client := newClient(t)
	var dropped atomic.Int32
	c.ControlKey(int16(kmsg.CreateTopics), func(kmsg.Request) (kmsg.Response, error, bool) {
		dropped.Add(1)
		// The broker created the topic and the connection broke before
		// its answer came back.
		return nil, errors.New("connection lost"), true
	})
	if err := c.CreateTopic("mine", 2, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var lines []string
	err := kafkatopics.Create(ctx, client, []kafkatopics.Topic{{Name: "mine", Partitions: 2}},
		kafkatopics.Fresh(), kafkatopics.PollInterval(10*time.Millisecond),
		kafkatopics.Logf(func(f string, a ...any) { lines = append(lines, fmt.Sprintf(f, a...)) }))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if dropped.Load() != 1 {
		t.Fatalf("%d CreateTopics answers lost, want 1", dropped.Load())
	}
	if len(lines) == 0 || !strings.Contains(lines[0], "create topics: ok after 2 attempt(s)") {
		t.Errorf("log %q, want the second attempt to succeed", lines)
	}
}
