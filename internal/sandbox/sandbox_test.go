package sandbox_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/goleak"

	"github.com/receiptd/receiptd/internal/sandbox"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The in-process Kafka's faults: a pause answers nothing until resumed, and
// a restart comes back on the same address with the records and the
// group's committed offsets.
func TestKafkaFaults(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	box, err := sandbox.Start(ctx, sandbox.Config{Partitions: 1, KafkaDataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	w := box.Writer()
	if err := w.WriteMessages(ctx, kafka.Message{Value: []byte("a")}, kafka.Message{Value: []byte("b")}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(box.Brokers...), Transport: tr}
	if _, err := client.OffsetCommit(ctx, &kafka.OffsetCommitRequest{GroupID: "g", GenerationID: -1,
		Topics: map[string][]kafka.OffsetCommit{"message-read": {{Partition: 0, Offset: 1}}}}); err != nil {
		t.Fatal(err)
	}

	if err := box.PauseKafka(); err != nil {
		t.Fatal(err)
	}
	pctx, pcancel := context.WithTimeout(ctx, 500*time.Millisecond)
	// Not Metadata, which kafka-go's transport answers from its cache.
	_, err = client.ListOffsets(pctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{"message-read": {kafka.LastOffsetOf(0)}}})
	pcancel()
	if err == nil {
		t.Error("a paused Kafka answered")
	}
	box.ResumeKafka()

	brokers := box.Brokers
	if err := box.RestartKafka(ctx, 0); err != nil {
		t.Fatal(err)
	}
	tr.CloseIdleConnections()
	if n, err := box.Count(ctx, "message-read"); err != nil || n != 2 || box.Brokers[0] != brokers[0] {
		t.Errorf("after a restart: %d records (%v) at %v, want 2 at %v", n, err, box.Brokers, brokers)
	}
	res, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: "g", Topics: map[string][]int{"message-read": {0}}})
	if err != nil || res.Topics["message-read"][0].CommittedOffset != 1 {
		t.Errorf("after a restart: committed %+v (%v), want offset 1", res, err)
	}
}

// On brokers of its own the sandbox creates its topics, ready to use, and
// refuses topics that exist already rather than mix its records with
// others'.
func TestTopicsOnGivenBrokers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	cfg := sandbox.Config{Brokers: cluster.ListenAddrs(), Topic: "src", DLQTopic: "src-dlq", Partitions: 4, DLQPartitions: 2}
	box, err := sandbox.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	for topic, want := range map[string]int{"src": 4, "src-dlq": 2} {
		ends, err := box.EndOffsets(ctx, topic)
		if err != nil || len(ends) != want {
			t.Errorf("topic %s: %d partitions (%v), want %d", topic, len(ends), err, want)
		}
	}
	if again, err := sandbox.Start(ctx, cfg); err == nil {
		again.Close()
		t.Error("a second sandbox on the same topics started")
	} else if !strings.Contains(err.Error(), "topic src exists already") {
		t.Errorf("second sandbox: %v, want the existing topic named", err)
	}
}
