package telemetry_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/receiptd/receiptd/deadletter"
	"github.com/receiptd/receiptd/internal/httpcall"
	"github.com/receiptd/receiptd/internal/telemetry"
	"github.com/receiptd/receiptd/receipt"
	"github.com/receiptd/receiptd/worker"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fakeWorker struct {
	mu    sync.Mutex
	stats worker.Stats
	dead  deadletter.Stats // what deadLetters reports
	ready bool
	// read, when set, is closed by the first call to Stats.
	read     chan struct{}
	readOnce sync.Once
}

func (f *fakeWorker) Stats() worker.Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.read != nil {
		f.readOnce.Do(func() { close(f.read) })
	}
	return f.stats
}

// deadLetters returns the dead-letter stage beside the fake worker.
func (f *fakeWorker) deadLetters() telemetry.DeadLetterSource { return fakeDead{f} }

type fakeDead struct{ w *fakeWorker }

func (d fakeDead) Stats() deadletter.Stats {
	d.w.mu.Lock()
	defer d.w.mu.Unlock()
	return d.w.dead
}

func (f *fakeWorker) Ready() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ready
}

type fakeRates struct{}

func (fakeRates) Rate(receipt.Action) float64    { return 10 }
func (fakeRates) Ceiling(receipt.Action) float64 { return 20 }
func (fakeRates) Share(receipt.Action) float64   { return 0.5 }

type fakeLag map[int]int64

func (f fakeLag) Lag() map[int]int64 { return f }

func TestWorkerObserverLogsFailuresOnly(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	reg := prometheus.NewRegistry()
	o := telemetry.NewWorkerObserver(zap.New(core), reg, telemetry.LogIDs{})
	key := receipt.Key{Action: receipt.GroupRead, UserID: "alice", ConvID: "team-42"}

	o.OnCall(worker.CallEvent{Key: key, Seqs: 10, Records: 4, Attempt: 1, Next: worker.NextDone,
		Result: receipt.Result{Class: receipt.ClassSuccess, Latency: 30 * time.Millisecond}})
	if n := logs.Len(); n != 0 {
		t.Fatalf("a successful call logged %d lines", n)
	}
	o.OnCall(worker.CallEvent{Key: key, Seqs: 3, Records: 2, Attempt: 2, Next: worker.NextDeadLetter,
		Result: receipt.Result{Class: receipt.ClassDeadLetter, Code: 660400103, Message: "not a member", RequestID: "rq-1"}})
	entries := logs.All()
	if len(entries) != 1 {
		t.Fatalf("%d log lines for a failed call, want 1", len(entries))
	}
	got := entries[0].ContextMap()
	want := map[string]any{
		"code": int64(660400103), "class": "dead_letter", "request_id": "rq-1", "action": "GroupReadReceipt",
		"user": "alice", "conversation": "team-42", "seqs": int64(3), "attempt": int64(2), "next": "dead_letter",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("log field %s = %v, want %v", k, got[k], v)
		}
	}
	if got["hint"] == nil {
		t.Error("no hint for 660400103")
	}
	wantCalls := `
# HELP receiptd_api_calls_total ZIM calls by action and outcome class.
# TYPE receiptd_api_calls_total counter
receiptd_api_calls_total{action="GroupReadReceipt",class="dead_letter"} 1
receiptd_api_calls_total{action="GroupReadReceipt",class="success"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(wantCalls), "receiptd_api_calls_total"); err != nil {
		t.Error(err)
	}
	if c := testutil.CollectAndCount(reg, "receiptd_api_seqs_per_call"); c != 1 {
		t.Errorf("seqs-per-call histogram series = %d", c)
	}
}

// TestFailingAloneLogged: a key failing alone is logged once as a warning
// when it begins and once as an error when its records begin to be
// dead-lettered, with the key, its last code and the reason.
func TestFailingAloneLogged(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	var o worker.Observer = telemetry.NewWorkerObserver(zap.New(core), prometheus.NewRegistry(), telemetry.LogIDs{})
	fa, ok := o.(worker.FailingAloneObserver)
	if !ok {
		t.Fatal("the worker observer does not log keys failing alone")
	}
	key := receipt.Key{Action: receipt.GroupRead, UserID: "alice", ConvID: "team-42"}
	res := receipt.Result{Code: 1, Message: "server busy", RequestID: "rq-9"}
	fa.OnFailingAlone(worker.FailingAloneEvent{Key: key, For: time.Minute, Records: 12, Result: res})
	fa.OnFailingAlone(worker.FailingAloneEvent{Key: key, For: 10 * time.Minute, Records: 40, Result: res, DeadLettering: "the key failed alone for 10m0s"})
	all := logs.All()
	if len(all) != 2 || all[0].Level != zapcore.WarnLevel || all[1].Level != zapcore.ErrorLevel {
		t.Fatalf("logs = %+v; want a warning, then an error", all)
	}
	got := all[1].ContextMap()
	for k, v := range map[string]any{"user": "alice", "conversation": "team-42", "code": int64(1), "records": int64(40),
		"reason": "the key failed alone for 10m0s", "request_id": "rq-9"} {
		if got[k] != v {
			t.Errorf("log field %s = %v, want %v", k, got[k], v)
		}
	}
}

func TestSystemicIsLoud(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	o := telemetry.NewWorkerObserver(zap.New(core), prometheus.NewRegistry(), telemetry.LogIDs{})
	o.OnSystemic(worker.SystemicEvent{Paused: true, NextProbe: 10 * time.Second,
		Result: receipt.Result{Code: 100000005, Message: "signature error"}})
	o.OnSystemic(worker.SystemicEvent{Paused: false})
	all := logs.All()
	if len(all) != 2 || all[0].Level != zapcore.ErrorLevel || !strings.Contains(all[0].ContextMap()["hint"].(string), "server_secret") {
		t.Fatalf("systemic logs = %+v; want an error line with a hint naming the secret, then a resume line", all)
	}
}

func TestHandlerEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	w := &fakeWorker{stats: worker.Stats{RecordsIn: 40, SeqsAcked: 7},
		dead: deadletter.Stats{Rejected: 2, DeadLettered: map[worker.FailureClass]uint64{worker.FailRejected: 3}}}
	telemetry.NewWorkerObserver(zap.NewNop(), reg, telemetry.LogIDs{})
	telemetry.RegisterWorkerMetrics(reg, w, w.deadLetters(), fakeRates{})
	joined := false
	var mu sync.Mutex
	h := telemetry.Handler(reg,
		func() (bool, string) { mu.Lock(); defer mu.Unlock(); return joined, "consumer group not joined yet" },
		func() (bool, string) { return w.Ready(), "dispatch paused: ZIM rejects receiptd's configuration" })
	srv := httptest.NewServer(h)
	defer srv.Close()

	get := func(path string) (int, string) {
		t.Helper()
		return httpcall.Do(t, http.DefaultClient, http.MethodGet, srv.URL+path)
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d", code)
	}
	code, body := get("/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "not joined") || !strings.Contains(body, "paused") {
		t.Errorf("/readyz = %d %q; want 503 naming both reasons", code, body)
	}
	mu.Lock()
	joined = true
	mu.Unlock()
	w.mu.Lock()
	w.ready = true
	w.mu.Unlock()
	if code, _ := get("/readyz"); code != http.StatusOK {
		t.Errorf("/readyz when ready = %d", code)
	}
	_, metrics := get("/metrics")
	for _, want := range []string{
		"receiptd_events_total 42", "receiptd_receipts_acknowledged_total 7",
		`receiptd_dead_lettered_total{class="rejected"} 3`, `receiptd_rate_ceiling_requests_per_second{action="GroupReadReceipt"} 20`,
		"receiptd_systemic_pause 0",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestSummaryLine(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	w := &fakeWorker{read: make(chan struct{})}
	s := telemetry.Summary{Log: zap.New(core), Interval: time.Hour, Worker: w, DeadLetters: w.deadLetters(),
		Lag: fakeLag{0: 100, 1: 50}, Rates: fakeRates{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	<-w.read // Run took its baseline: the figures below are news to it
	w.mu.Lock()
	w.stats = worker.Stats{RecordsIn: 98, RecordsDone: 88, Calls: 10, SeqsSent: 95, SeqsAcked: 90, RateLimited: 1, Pending: 9,
		HeldGroups: 1, HeldKeys: 4, FailingAloneKeys: 2, FailingAloneRecords: 6}
	w.dead = deadletter.Stats{Rejected: 2, DeadLettered: map[worker.FailureClass]uint64{worker.FailInvalidEvent: 2}, Pending: 1}
	w.mu.Unlock()
	cancel() // Run logs a last line on the way out
	<-done
	all := logs.FilterMessage("summary").All()
	if len(all) != 1 {
		t.Fatalf("%d summary lines, want 1", len(all))
	}
	m := all[0].ContextMap()
	if m["events_in"] != uint64(100) || m["events_done"] != uint64(90) || m["pending"] != int64(10) || m["calls"] != uint64(10) || m["seqs_per_call"] != 9.5 || m["lag"] != int64(150) || m["rate_limited"] != uint64(1) {
		t.Errorf("summary = %v", m)
	}
	if m["held_groups"] != int64(1) || m["held_keys"] != int64(4) || m["failing_alone_keys"] != int64(2) || m["failing_alone_records"] != int64(6) {
		t.Errorf("summary's holds and keys failing alone = %v", m)
	}
	if eta, _ := m["drain_eta"].(string); eta == "" || eta == "stalled" {
		t.Errorf("drain_eta = %q with records finishing", eta)
	}
}

func TestServeFailsOnBusyPort(t *testing.T) {
	ln := httptest.NewServer(http.NotFoundHandler())
	defer ln.Close()
	err := telemetry.Serve(context.Background(), strings.TrimPrefix(ln.URL, "http://"), http.NotFoundHandler())
	if err == nil || errors.Is(err, context.Canceled) {
		t.Errorf("Serve on a busy port = %v, want an error", err)
	}
}

func TestNewLoggerRejectsBadLevel(t *testing.T) {
	if _, err := telemetry.NewLogger("loud"); err == nil {
		t.Error("NewLogger accepted level \"loud\"")
	}
	if l, err := telemetry.NewLogger("warn"); err != nil || l.Core().Enabled(zapcore.InfoLevel) {
		t.Errorf("NewLogger(warn) = %v, info enabled %v", err, l != nil && l.Core().Enabled(zapcore.InfoLevel))
	}
}
