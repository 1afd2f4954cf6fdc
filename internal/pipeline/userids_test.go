package pipeline_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/receiptd/receiptd/internal/config"
	"github.com/receiptd/receiptd/zimapi/zimfake"
)

// With log.user_ids: hash, no log line names the reader or the group, the
// line about the rejected call carries their hashes, and the dead-letter
// topic still holds the original record, byte for byte.
func TestHashedUserIDsLeaveTheDeadLetterIntact(t *testing.T) {
	const user, group = "alice-private@example.com", "secret-group-7"
	zcfg := zimfake.DefaultConfig()
	zcfg.RPS = 0
	zcfg.FailGroups = []string{group}
	h := start(t, zcfg, func(c *config.Config) { c.Log.UserIDs = config.LogUserIDsHash })

	value := fmt.Appendf(nil, `{"type":"group_read","user_id":%q,"group_id":%q,"conv_msg_seq":[7,8],"read_at":%d}`,
		user, group, time.Now().UnixMilli())
	w := h.box.Writer()
	if err := w.WriteMessages(context.Background(), kafka.Message{Key: []byte(group), Value: value}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	waitFor(t, "the record dead-lettered", 30*time.Second, func() bool { return h.p.RecordsDone() == 1 })

	dlq := readTopic(t, h.box.Brokers, "message-read-dlq")
	if len(dlq) != 1 || string(dlq[0].Value) != string(value) || string(dlq[0].Key) != group {
		t.Fatalf("dead-letter topic holds %d records (first %q); want the original record", len(dlq), firstValue(dlq))
	}

	rejected := h.logs.FilterMessage("zim call not accepted").All()
	if len(rejected) == 0 {
		t.Fatal("no log line for the rejected call")
	}
	if u, _ := rejected[0].ContextMap()["user"].(string); !strings.HasPrefix(u, "h:") {
		t.Errorf("user field %q, want a hash", u)
	}
	for _, e := range h.logs.All() {
		line := e.Message + " " + fmt.Sprint(e.ContextMap())
		if strings.Contains(line, "alice-private") || strings.Contains(line, group) {
			t.Errorf("a log line names the user or the group: %s", line)
		}
	}
}

// readTopic returns every record of topic, all partitions.
func readTopic(t *testing.T, brokers []string, topic string) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := kafka.DialContext(ctx, "tcp", brokers[0])
	if err != nil {
		t.Fatal(err)
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	var out []kafka.Message
	for _, p := range parts {
		pc, err := kafka.DialLeader(ctx, "tcp", brokers[0], topic, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		last, err := pc.ReadLastOffset()
		if err != nil {
			pc.Close()
			t.Fatal(err)
		}
		for off := int64(0); off < last; off++ {
			if _, err := pc.Seek(off, kafka.SeekAbsolute); err != nil {
				break
			}
			m, err := pc.ReadMessage(1 << 20)
			if err != nil {
				pc.Close()
				t.Fatal(err)
			}
			out = append(out, m)
		}
		pc.Close()
	}
	return out
}

func firstValue(ms []kafka.Message) string {
	if len(ms) == 0 {
		return ""
	}
	return string(ms[0].Value)
}
