package e2e

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/receiptd/receiptd/internal/traffic"
)

// The broker-fault scenarios run each on a broker of its own (ownBroker),
// with receiptd's default Kafka timings: those of a user who changed nothing.
var defaultKafkaTimings = map[string]string{
	"RECEIPTD_KAFKA_SESSION_TIMEOUT":            "30s",
	"RECEIPTD_KAFKA_HEARTBEAT_INTERVAL":         "3s",
	"RECEIPTD_SHUTDOWN_REBALANCE_DRAIN_TIMEOUT": "10s",
	"RECEIPTD_KAFKA_JOIN_GROUP_BACKOFF":         "5s",
	"RECEIPTD_KAFKA_COMMIT_INTERVAL":            "1s",
}

const defaultCommitInterval = time.Second

// faultWorkerEnv is the environment of a worker of a broker-fault scenario.
func faultWorkerEnv(k *ownBroker) map[string]string {
	env := maps.Clone(defaultKafkaTimings)
	env["RECEIPTD_KAFKA_BROKERS"] = k.Addr
	return env
}

// The broker's JVM frozen for 15 s mid-run (SIGSTOP, then SIGCONT), as in a
// long GC pause, a stuck disk or a network partition: heartbeats and commits
// time out and the generation ends while ZIM keeps acknowledging. Nothing is
// lost, nothing is dead-lettered twice, and the done work that could not be
// committed during the pause is committed afterwards instead of being sent
// again (invariant 7).
func TestBrokerPausedMidRun(t *testing.T) {
	const pause = 15 * time.Second
	brokerFaultScenario(t, fmt.Sprintf("paused %s", pause), func(t *testing.T, k *ownBroker, p *process) {
		k.pause(t)
		// The fault lasts a fixed time by design: this is not a wait for an
		// event.
		timer := time.NewTimer(pause)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-p.exited:
			k.resume(t)
			t.Fatalf("the worker exited while the broker was paused: %v", p.waitErr)
		}
		k.resume(t)
	})
}

// The broker stopped and started again mid-run with its data, as in a
// rolling upgrade: connections break at once and the coordinator comes back
// with the group's offsets. The same promises as for a pause.
func TestBrokerRestartedMidRun(t *testing.T) {
	brokerFaultScenario(t, "restarted", func(t *testing.T, k *ownBroker, _ *process) {
		if err := k.restart(0); err != nil {
			t.Fatal(err)
		}
	})
}

// brokerFaultScenario preloads realistic traffic (without client retries, so
// that a receipt accepted twice is a redelivery) on a broker of the test's
// own, lets one worker consume a third of it at 50 requests/s per action
// (about 20 s of work), injects the
// fault, and checks once the group has committed everything: no receipt
// lost, no record dead-lettered twice, and duplicate receipts within the
// work of a few commit intervals.
func brokerFaultScenario(t *testing.T, fault string, inject func(*testing.T, *ownBroker, *process)) {
	const (
		events = 10_000
		rps    = 50
		// Duplicates allowed, in commit intervals of the worker's pace.
		dupIntervals = 3
	)
	withoutClientRetries := func(seed uint64) traffic.Config {
		cfg := realisticTraffic(seed)
		cfg.DuplicateFraction = 0
		return cfg
	}
	s := newScenario(t, setup{traffic: withoutClientRetries, events: events, zim: zimOptions{RPS: rps}, rejectFailing: true, ownBroker: true})
	w, b, n, z, k := s.w, s.b, s.n, s.z, s.k
	s.produce(t)

	p := startWorker(t, "worker", n, z, rps, faultWorkerEnv(k))
	p.waitJoined(t, 1, joinTimeout)
	waitReceipts(t, z, 1, time.Minute)
	firstReceipt := time.Now()
	want := w.tally.Receipts()
	waitReceipts(t, z, want/3, 3*time.Minute)
	before := z.stats(t)
	pace := float64(before.DistinctReceipts) / time.Since(firstReceipt).Seconds()
	faultAt := time.Now()
	inject(t, k, p)
	faultEnd := time.Now()
	// The test's own connections did not live through the fault.
	b.transport.CloseIdleConnections()
	t.Logf("broker %s at %s for %s, %d of %d receipts at zimfake before it (%.0f receipts/s)",
		fault, faultAt.Sub(s.start).Round(100*time.Millisecond), faultEnd.Sub(faultAt).Round(100*time.Millisecond),
		before.DistinctReceipts, want, pace)

	waitCaughtUp(t, b, n, z, 3*time.Minute)
	recovered := time.Since(faultEnd)
	d := checkReceipts(t, z, w)
	src := b.readAll(t, n.Source, sourcePartitions)
	dl := checkDeadLetters(t, b, n, w, src, true)
	bound := int64(dupIntervals * pace * defaultCommitInterval.Seconds())
	if d.duplicates > bound {
		t.Errorf("%d receipts sent twice, want at most %d (%d commit intervals of %.0f receipts/s): done work was redone after the broker %s",
			d.duplicates, bound, dupIntervals, pace, fault)
	}
	stopWorker(t, p, 45*time.Second)
	logConsumerLines(t, p)
	st := z.stats(t)
	ideal := w.tally.IdealCalls(10)
	figures{events: events, delivered: d.distinct, duplicates: d.duplicates, deadLetter: dl.records, start: s.start,
		extra: fmt.Sprintf("fault=%q duplicate_share=%.2f%% duplicate_bound=%d dlq_expected=%d dlq_duplicates=%d efficiency=%.3f "+
			"generations=%d commit_failures=%d carried_over=%d caught_up_after_fault=%s %s",
			fault, 100*float64(d.duplicates)/float64(max(d.distinct, 1)), bound, w.wantDeadLetters(), dl.duplicates,
			float64(ideal)/float64(max(st.Calls, 1)), p.stderr.count(msgJoined), countPrefix(p, "offset commit failed"),
			countPrefix(p, "resuming after work done earlier"), recovered.Round(100*time.Millisecond), summarizeCalls(st))}.log(t)
}

// The brokers are out of reach for the first 20 s: receiptd stays up,
// reports not ready with the reason, logs every retry, and consumes
// everything once they answer.
func TestBrokersUnreachableAtStart(t *testing.T) {
	const (
		events = 3000
		down   = 20 * time.Second
	)
	s := newScenario(t, setup{traffic: realisticTraffic, events: events, zim: zimOptions{RPS: fastRPS}, rejectFailing: true, ownBroker: true})
	b, n, z, k := s.b, s.n, s.z, s.k
	s.produce(t)

	restarted := make(chan error, 1)
	go func() { restarted <- k.restart(down) }()
	back := false
	t.Cleanup(func() {
		if !back {
			<-restarted
		}
	})
	waitUntil(t, time.Minute, "the broker is down", func() (bool, string) { return k.refusing(), "it still accepts connections" })
	downAt := time.Now()
	p := startWorker(t, "worker", n, z, fastRPS, faultWorkerEnv(k))
	addr, _ := p.waitLog(t, 30*time.Second, "the HTTP address", func(l logLine) bool { return l.Msg == msgServing }).Fields["addr"].(string)
	p.waitLog(t, 30*time.Second, "a first retry", func(l logLine) bool { return l.Msg == msgOutOfReach })
	code, body := get(t, "http://"+addr+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "kafka brokers "+k.Addr) || !strings.Contains(body, "out of reach") {
		t.Errorf("/readyz while the brokers are down = %d %q, want 503 naming the brokers out of reach", code, body)
	}
	t.Logf("/readyz while the brokers are down: %d %s", code, strings.TrimSpace(body))

	select {
	case err := <-restarted:
		back = true
		if err != nil {
			t.Fatal(err)
		}
	case <-p.exited:
		t.Fatalf("the worker exited while the brokers were down (exit code %d): it must wait for them", p.exitCode())
	}
	upAt := time.Now()
	b.transport.CloseIdleConnections()
	retries := p.stderr.count(msgOutOfReach)
	if retries < 2 {
		t.Errorf("%d %q lines over %s down, want one per backoff step", retries, msgOutOfReach, upAt.Sub(downAt).Round(time.Second))
	}
	p.waitJoined(t, 1, joinTimeout)
	joinedAfter := time.Since(upAt)
	waitCaughtUp(t, b, n, z, 3*time.Minute)
	if code, body := get(t, "http://"+addr+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz once consuming = %d %q, want 200", code, body)
	}
	d, dl := s.checkOutcome(t, [][]int64{noCommits()}, true)
	stopWorker(t, p, 45*time.Second)
	logConsumerLines(t, p)
	figures{events: events, delivered: d.distinct, duplicates: d.duplicates, deadLetter: dl.records, start: s.start,
		extra: fmt.Sprintf("brokers_down_for=%s out_of_reach_lines=%d joined_after_brokers_back=%s %s",
			upAt.Sub(downAt).Round(100*time.Millisecond), retries, joinedAfter.Round(100*time.Millisecond), summarizeCalls(z.stats(t)))}.log(t)
}

// Messages of the log lines these scenarios wait for.
const (
	msgServing    = "serving /metrics, /healthz and /readyz"
	msgOutOfReach = "kafka brokers out of reach; retrying, and consuming as soon as they answer"
)

// logConsumerLines logs what p's consumer reported about the group, its
// commits and the brokers: the story of how it went through the fault.
func logConsumerLines(t *testing.T, p *process) {
	t.Helper()
	var b strings.Builder
	for _, l := range p.stderr.matching(func(l logLine) bool {
		return l.Fields["logger"] == "consumer" && l.Msg != "invalid event; dead-lettered"
	}) {
		fmt.Fprintf(&b, "\n  %s %s %s", l.Fields["time"], l.Level, l.Msg)
		for _, k := range []string{"generation", "reason", "outstanding", "done", "abandoned", "took", "offsets",
			"done_records_skipped", "member", "next", "retry_in", "attempt", "error"} {
			if v, ok := l.Fields[k]; ok {
				fmt.Fprintf(&b, " %s=%v", k, v)
			}
		}
	}
	t.Logf("%s: consumer log lines:%s", p.name, b.String())
}

// countPrefix counts p's log lines whose message starts with prefix.
func countPrefix(p *process, prefix string) int {
	return len(p.stderr.matching(func(l logLine) bool { return strings.HasPrefix(l.Msg, prefix) }))
}

// get fetches url and returns the status code and the body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, string(b)
}
