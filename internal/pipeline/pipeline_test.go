package pipeline_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/receiptd/receiptd/internal/config"
	"github.com/receiptd/receiptd/internal/httpcall"
	"github.com/receiptd/receiptd/internal/pipeline"
	"github.com/receiptd/receiptd/internal/sandbox"
	"github.com/receiptd/receiptd/internal/traffic"
	"github.com/receiptd/receiptd/zimapi/zimfake"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type harness struct {
	box  *sandbox.Sandbox
	p    *pipeline.Pipeline
	url  string
	logs *observer.ObservedLogs
	stop context.CancelFunc
	err  chan error
}

// start runs a pipeline against a fresh sandbox until the test ends.
func start(t *testing.T, zcfg zimfake.Config, tweak func(*config.Config)) *harness {
	t.Helper()
	box, err := sandbox.Start(context.Background(), sandbox.Config{ZIM: zcfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(box.Close)
	cfg := box.Configure(config.Default())
	cfg.Kafka.SessionTimeout = 6 * time.Second
	cfg.Kafka.HeartbeatInterval = time.Second
	cfg.Kafka.CommitInterval = 100 * time.Millisecond
	cfg.Worker.Linger = 20 * time.Millisecond
	cfg.Worker.BackoffInitial = 50 * time.Millisecond
	cfg.Worker.SystemicBackoffInitial = 200 * time.Millisecond
	cfg.Worker.SystemicBackoffMax = time.Second
	cfg.Shutdown.DrainTimeout = 2 * time.Second
	cfg.Shutdown.RebalanceDrainTimeout = 3 * time.Second
	if tweak != nil {
		tweak(&cfg)
	}
	core, logs := observer.New(zapcore.InfoLevel)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p, err := pipeline.New(pipeline.Options{Config: cfg, Log: zap.New(core), HTTPListener: ln, WorkerID: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{box: box, p: p, url: "http://" + ln.Addr().String(), logs: logs, stop: cancel, err: make(chan error, 1)}
	go func() { h.err <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-h.err
	})
	return h
}

func (h *harness) get(t *testing.T, path string) (int, string) {
	t.Helper()
	return httpcall.Do(t, http.DefaultClient, http.MethodGet, h.url+path)
}

func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func produce(t *testing.T, box *sandbox.Sandbox, cfg traffic.Config, n int) *traffic.Tally {
	t.Helper()
	g, err := traffic.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tally := traffic.NewTally(cfg)
	msgs := make([]kafka.Message, 0, n)
	for range n {
		r := g.Next(time.Now())
		tally.Add(r)
		msgs = append(msgs, kafka.Message{Key: r.Key, Value: r.Value})
	}
	w := box.Writer()
	defer w.Close()
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
	return tally
}

// The whole pipeline: every expected receipt reaches ZIM, malformed and
// rejected records reach the DLQ, /readyz turns ready once the group is
// joined, and a shutdown commits everything and logs it.
func TestPipelineEndToEnd(t *testing.T) {
	zcfg := zimfake.DefaultConfig()
	zcfg.RPS = 0
	tcfg := traffic.DefaultConfig()
	tcfg.Users, tcfg.Groups = 300, 40
	tcfg.MalformedFraction, tcfg.FailingFraction = 0.02, 0.02
	zcfg.FailGroups, zcfg.FailUsers = tcfg.FailingGroups, tcfg.FailingUsers
	h := start(t, zcfg, func(c *config.Config) { c.ZIM.RateLimitRPS = 2000 })

	waitFor(t, "/readyz", 30*time.Second, func() bool { code, _ := h.get(t, "/readyz"); return code == http.StatusOK })
	tally := produce(t, h.box, tcfg, 3000)
	waitFor(t, "every record done", time.Minute, func() bool { return h.p.RecordsDone() == 3000 })

	for r := range tally.Expected() {
		if !h.box.ZIM.Seen(r.Action, r.UserID, r.ConvID, r.Seq) {
			t.Fatalf("receipt %+v never reached the simulator", r)
		}
	}
	dlq, err := h.box.Count(context.Background(), "message-read-dlq")
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(tally.Malformed() + tally.Rejected()); dlq < want {
		t.Errorf("DLQ holds %d records, want at least the %d malformed and rejected ones", dlq, want)
	}
	checkREADMEMetrics(t, h.p.Registry())
	_, metrics := h.get(t, "/metrics")
	for _, want := range []string{`receiptd_events_total 3000`, `receiptd_dead_lettered_total{class="invalid_event"}`, "receiptd_consumer_lag_records{partition="} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	h.stop()
	if err := <-h.err; err != nil {
		t.Fatalf("Run after shutdown = %v, want nil", err)
	}
	h.err <- nil // for the cleanup
	for _, msg := range []string{"joined consumer group", "partitions revoked", "shutdown complete"} {
		if h.logs.FilterMessage(msg).Len() == 0 {
			t.Errorf("no %q log line", msg)
		}
	}
}

// A wrong ServerSecret is systemic: dispatch pauses, /readyz says why, and
// nothing is dead-lettered.
func TestPipelineSystemicErrorPausesAndDeadLettersNothing(t *testing.T) {
	zcfg := zimfake.DefaultConfig()
	h := start(t, zcfg, func(c *config.Config) { c.ZIM.ServerSecret = "ffffffffffffffffffffffffffffffff" })
	tcfg := traffic.DefaultConfig()
	tcfg.MalformedFraction, tcfg.FailingFraction = 0, 0
	produce(t, h.box, tcfg, 50)
	waitFor(t, "the systemic pause", 30*time.Second, func() bool {
		code, body := h.get(t, "/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "dispatch paused")
	})
	time.Sleep(time.Second) // a few probes
	if n, _ := h.box.Count(context.Background(), "message-read-dlq"); n != 0 {
		t.Errorf("%d records dead-lettered for a systemic error", n)
	}
	if st := h.p.Worker().Stats(); h.p.RecordsDone() != 0 || !st.SystemicPause {
		t.Errorf("stats = %+v, want nothing done and the pause on", st)
	}
	if h.logs.FilterMessageSnippet("dispatch paused").Len() == 0 {
		t.Error("the pause was not logged")
	}
}
