package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"

	"github.com/receiptd/receiptd/internal/kafkatest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func newCluster(t *testing.T, opts ...kfake.Opt) (*kfake.Cluster, string) {
	t.Helper()
	c := kafkatest.NewCluster(t, opts...)
	return c, c.ListenAddrs()[0]
}

// partitionCounts reads the topics back through an independent client.
func partitionCounts(t *testing.T, addr string, topics ...string) map[string]int {
	t.Helper()
	md, err := kafkatest.Client(t, []string{addr}).Metadata(context.Background(), &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	got := make(map[string]int)
	for _, tp := range md.Topics {
		if tp.Error == nil {
			got[tp.Name] = len(tp.Partitions)
		}
	}
	return got
}

func runTool(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	code := run(context.Background(), args, &out)
	return code, out.String()
}

func TestCreatesTopicsAndIsIdempotent(t *testing.T) {
	_, addr := newCluster(t)
	args := []string{"-bootstrap", addr, "-timeout", "30s", "-topic", "message-read:8", "-topic", "message-read-dlq:3"}

	for run := 1; run <= 2; run++ {
		code, out := runTool(t, args...)
		if code != 0 {
			t.Fatalf("run %d: exit %d, output:\n%s", run, code, out)
		}
		if !strings.Contains(out, "find group coordinator: ok") {
			t.Errorf("run %d: group coordinator was not checked, output:\n%s", run, out)
		}
	}

	got := partitionCounts(t, addr, "message-read", "message-read-dlq")
	want := map[string]int{"message-read": 8, "message-read-dlq": 3}
	for name, n := range want {
		if got[name] != n {
			t.Errorf("topic %s: %d partitions, want %d", name, got[name], n)
		}
	}
}

func TestRetriesWhileBrokerIsNotReady(t *testing.T) {
	c, addr := newCluster(t)
	var refused atomic.Int32
	// The first CreateTopics is answered as a broker still starting would.
	c.ControlKey(int16(kmsg.CreateTopics), func(req kmsg.Request) (kmsg.Response, error, bool) {
		refused.Add(1)
		creq := req.(*kmsg.CreateTopicsRequest)
		resp := creq.ResponseKind().(*kmsg.CreateTopicsResponse)
		for _, rt := range creq.Topics {
			st := kmsg.NewCreateTopicsResponseTopic()
			st.Topic = rt.Topic
			st.ErrorCode = kerr.NotController.Code
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})

	code, out := runTool(t, "-bootstrap", addr, "-timeout", "30s", "-topic", "events:2")
	if code != 0 {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
	if refused.Load() != 1 {
		t.Fatalf("injected refusal ran %d times, want 1", refused.Load())
	}
	if !strings.Contains(out, "create topics: ok after 2 attempt(s)") {
		t.Errorf("want a second attempt to succeed, output:\n%s", out)
	}
	if got := partitionCounts(t, addr, "events")["events"]; got != 2 {
		t.Errorf("events: %d partitions, want 2", got)
	}
}

func TestFailsFastOnWrongTopics(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantOut string
	}{
		{
			name:    "existing topic has fewer partitions",
			args:    []string{"-topic", "seeded:4"},
			wantOut: "topic seeded exists with 1 partitions, want at least 4",
		},
		{
			name:    "replication factor above broker count",
			args:    []string{"-topic", "wide:1", "-replication-factor", "3"},
			wantOut: "Invalid Replication Factor",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, addr := newCluster(t, kfake.SeedTopics(1, "seeded"))
			// A generous timeout: the tool must stop at the first answer,
			// not wait for the deadline.
			code, out := runTool(t, append([]string{"-bootstrap", addr, "-timeout", "5m"}, tt.args...)...)
			if code != 1 {
				t.Fatalf("exit %d, want 1; output:\n%s", code, out)
			}
			if !strings.Contains(out, tt.wantOut) {
				t.Errorf("output lacks %q:\n%s", tt.wantOut, out)
			}
			if strings.Contains(out, "not done after") {
				t.Errorf("retried a permanent error until the deadline:\n%s", out)
			}
		})
	}
}

func TestGivesUpWhenNothingListens(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	code, out := runTool(t, "-bootstrap", addr, "-timeout", "1s", "-topic", "t:1")
	if code != 1 {
		t.Fatalf("exit %d, want 1; output:\n%s", code, out)
	}
	for _, want := range []string{addr, "create topics: not done after", "Broker Not Available"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestRejectsBadArguments(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"topic without partitions", []string{"-topic", "t"}},
		{"zero partitions", []string{"-topic", "t:0"}},
		{"non-numeric partitions", []string{"-topic", "t:x"}},
		{"empty topic name", []string{"-topic", ":3"}},
		{"zero replication factor", []string{"-topic", "t:1", "-replication-factor", "0"}},
		{"stray argument", []string{"-topic", "t:1", "extra"}},
		{"unknown flag", []string{"-partitions", "3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Nothing listens on the default bootstrap in this test, and no
			// dial may happen before the arguments are checked.
			if code, out := runTool(t, tt.args...); code != 2 {
				t.Errorf("exit %d, want 2; output:\n%s", code, out)
			}
		})
	}
}
