package e2e

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.yaml.in/yaml/v3"

	"github.com/receiptd/receiptd/internal/promscrape"
	"github.com/receiptd/receiptd/internal/traffic"
)

const envPrometheus = "RECEIPTD_E2E_PROMETHEUS"

// forScale divides every alert's for: duration in the rules the test loads:
// the shipped rules are loaded unchanged but for that (2m becomes 5s, 10m
// 25s), so that the test sees an alert go from pending to firing in seconds
// while the rules keep their meaning. promtool's unit tests
// (deploy/prometheus/receiptd-rules.test.yaml) cover the shipped durations.
const forScale = 24

// A real Prometheus, configured by the shipped deploy/prometheus files,
// scrapes a running receiptd (a real broker, the simulator):
//
//   - a wrong ServerSecret pauses dispatch, and ReceiptdSystemicPause fires
//     (ReceiptdNotReady, which leaves the pause to it, stays inactive);
//   - the operator fixes the secret and restarts the pod, and it resolves;
//   - every receipt then reaches ZIM, nothing was dead-lettered, and no
//     alert is left firing;
//   - every query of the Grafana dashboard parses and returns data;
//   - the receiptd_* metrics Prometheus holds are the ones README's metric
//     table documents, and receiptd_build_info names the linked version.
func TestPrometheusAlertsAndDashboard(t *testing.T) {
	const (
		events = 3000
		perSec = 150 // 20 s of traffic, spanning the pause and the fix
	)
	s := newScenario(t, setup{traffic: cleanTraffic, events: events, zim: zimOptions{RPS: fastRPS}})
	w, b, n, z := s.w, s.b, s.n, s.z
	promBin := needPrometheus(t)

	// The pod keeps its address across the restart, as a pod IP would
	// within Prometheus's view of one instance.
	listen := freeAddr(t)
	env := map[string]string{
		"RECEIPTD_HTTP_LISTEN":             listen,
		"RECEIPTD_KAFKA_LAG_POLL_INTERVAL": "1s",
		"RECEIPTD_SHUTDOWN_DRAIN_TIMEOUT":  "3s",
		"RECEIPTD_ZIM_SERVER_SECRET":       strings.Repeat("f", len(zimSecret)),
	}
	p := startWorker(t, "worker-wrong-secret", n, z, fastRPS, env)
	prom := startPrometheus(t, promBin, listen)
	p.waitJoined(t, 1, joinTimeout)
	prom.waitUntil(t, time.Minute, "Prometheus scrapes receiptd", func() (bool, string) {
		v, ok := prom.scalar(t, `up{job="receiptd"}`)
		return ok && v == 1, fmt.Sprintf("up = %v (found %v)", v, ok)
	})

	ctx, cancel := context.WithCancel(context.Background())
	trafficStart := time.Now()
	waitProduced := b.producePaced(ctx, n.Source, w.records, perSec/10, 100*time.Millisecond)
	t.Cleanup(func() {
		cancel()
		_ = waitProduced()
	})

	paused := p.waitLog(t, time.Minute, "dispatch paused", func(l logLine) bool {
		return strings.HasPrefix(l.Msg, "dispatch paused")
	})
	pausedAt := time.Now()
	t.Logf("receiptd paused dispatch: code %.0f", number(paused.Fields["code"]))
	prom.waitAlert(t, time.Minute, "ReceiptdSystemicPause", "firing")
	firedAfter := time.Since(pausedAt)
	t.Logf("ReceiptdSystemicPause firing %s after the pause began", firedAfter.Round(100*time.Millisecond))
	if state := prom.alertState(t, "ReceiptdNotReady"); state != "" {
		t.Errorf("ReceiptdNotReady is %s during a systemic pause, which has its own alert", state)
	}
	var dead int64
	for _, hw := range b.highWater(t, n.DLQ, dlqPartitions) {
		dead += hw
	}
	if dead != 0 {
		t.Errorf("%d records dead-lettered during a systemic pause", dead)
	}

	// The fix: the right secret, and a restart.
	stopWorker(t, p, 30*time.Second)
	env["RECEIPTD_ZIM_SERVER_SECRET"] = zimSecret
	p = startWorker(t, "worker-fixed", n, z, fastRPS, env)
	fixedAt := time.Now()
	p.waitJoined(t, 1, joinTimeout)
	prom.waitUntil(t, time.Minute, "ReceiptdSystemicPause resolved with the fixed pod scraped", func() (bool, string) {
		up, _ := prom.scalar(t, `up{job="receiptd"}`)
		pause, found := prom.scalar(t, `receiptd_systemic_pause{job="receiptd"}`)
		state := prom.alertState(t, "ReceiptdSystemicPause")
		return up == 1 && found && pause == 0 && state == "", fmt.Sprintf("up %v, receiptd_systemic_pause %v, alert %q", up, pause, state)
	})
	resolvedAfter := time.Since(fixedAt)
	t.Logf("ReceiptdSystemicPause resolved %s after the restart with the right secret", resolvedAfter.Round(100*time.Millisecond))

	if err := waitProduced(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	waitCaughtUp(t, b, n, z, 3*time.Minute)
	d := checkReceipts(t, z, w)
	src := b.readAll(t, n.Source, sourcePartitions)
	dl := checkDeadLetters(t, b, n, w, src, true)

	// Let Prometheus scrape the last state before querying it.
	caughtUp := time.Now()
	prom.waitUntil(t, time.Minute, "Prometheus sees every receipt", func() (bool, string) {
		v, _ := prom.scalar(t, `receiptd_receipts_acknowledged_total{job="receiptd"}`)
		return v >= float64(w.tally.Receipts()), fmt.Sprintf("receiptd_receipts_acknowledged_total %v of %d", v, w.tally.Receipts())
	})
	panels, queries := checkDashboard(t, prom, trafficStart, listen)
	checkMetricNamesInPrometheus(t, prom)
	if v, ok := prom.scalar(t, fmt.Sprintf(`receiptd_build_info{version=%q, revision=%q, kafka_go_version=~"v0[.]4[.].+", go_version=~"go1[.].+"}`,
		e2eVersion, e2eRevision)); !ok || v != 1 {
		t.Errorf("receiptd_build_info does not name the linked version %s and revision %s", e2eVersion, e2eRevision)
	}
	prom.waitUntil(t, time.Minute, "no receiptd alert firing after the recovery", func() (bool, string) {
		firing := prom.firing(t)
		return len(firing) == 0, fmt.Sprintf("firing: %v", firing)
	})
	stopWorker(t, p, 30*time.Second)
	figures{events: events, delivered: d.distinct, duplicates: d.duplicates, deadLetter: dl.records, start: s.start,
		extra: fmt.Sprintf("alert_firing_after_pause=%s alert_resolved_after_fix=%s dashboard_panels=%d dashboard_queries=%d caught_up_after_traffic_start=%s prometheus=%q",
			firedAfter.Round(100*time.Millisecond), resolvedAfter.Round(100*time.Millisecond), panels, queries,
			caughtUp.Sub(trafficStart).Round(100*time.Millisecond), prom.version)}.log(t)
}

// A real Prometheus on the shipped rules, scraping a receiptd whose
// dead-letter topic refuses its letters even cut to receiptd's headers
// (max.message.bytes lowered to 200 bytes mid-run, as a misconfigured topic
// would):
//
//   - dead-letter writes pause and ReceiptdDeadLetterWritesPaused fires;
//   - the pod is not ready and its writes fail, yet ReceiptdNotReady and
//     ReceiptdDeadLetterWritesFailing stay inactive, not even pending: the
//     pause has one alert, with the runbook for it;
//   - the operator raises the topic's limit, the writes resume by
//     themselves, the alert resolves, and every malformed record is in the
//     dead-letter topic, every receipt at ZIM.
func TestPrometheusDeadLetterPauseAlert(t *testing.T) {
	const events = 1000
	someMalformed := func(seed uint64) traffic.Config {
		cfg := cleanTraffic(seed)
		cfg.MalformedFraction = 0.05
		return cfg
	}
	s := newScenario(t, setup{traffic: someMalformed, events: events, zim: zimOptions{RPS: fastRPS}})
	w, b, n, z := s.w, s.b, s.n, s.z
	promBin := needPrometheus(t)
	listen := freeAddr(t)
	p := startWorker(t, "worker", n, z, fastRPS, map[string]string{"RECEIPTD_HTTP_LISTEN": listen})
	prom := startPrometheus(t, promBin, listen)
	p.waitJoined(t, 1, joinTimeout)
	// The limit is read at start; lowered after, the broker refuses what
	// receiptd believes fits, as when an operator changes the topic.
	p.waitLog(t, time.Minute, "the dead-letter topic's limit", func(l logLine) bool { return l.Msg == "dead-letter topic limit" })
	b.setTopicConfig(t, n.DLQ, "max.message.bytes", "200")
	prom.waitUntil(t, time.Minute, "Prometheus scrapes a ready receiptd", func() (bool, string) {
		v, ok := prom.scalar(t, `receiptd_ready{job="receiptd"}`)
		return ok && v == 1, fmt.Sprintf("receiptd_ready = %v (found %v)", v, ok)
	})

	s.produce(t)
	p.waitLog(t, time.Minute, "dead-letter writes paused", func(l logLine) bool {
		return strings.HasPrefix(l.Msg, "dead-letter writes paused")
	})
	pausedAt := time.Now()
	prom.waitAlert(t, 2*time.Minute, "ReceiptdDeadLetterWritesPaused", "firing")
	firedAfter := time.Since(pausedAt)
	t.Logf("ReceiptdDeadLetterWritesPaused firing %s after the pause began", firedAfter.Round(100*time.Millisecond))
	if v, _ := prom.scalar(t, `receiptd_ready{job="receiptd"}`); v != 0 {
		t.Errorf("receiptd_ready = %v during the dead-letter pause, want 0", v)
	}
	if v, _ := prom.scalar(t, `increase(receiptd_dead_letter_write_errors_total{job="receiptd"}[5m])`); v <= 0 {
		t.Errorf("no failed dead-letter write counted during the pause (increase %v)", v)
	}
	for _, other := range []string{"ReceiptdNotReady", "ReceiptdDeadLetterWritesFailing"} {
		if state := prom.alertState(t, other); state != "" {
			t.Errorf("%s is %s during a dead-letter pause, which has its own alert", other, state)
		}
	}
	waitReceipts(t, z, w.tally.Receipts(), 2*time.Minute) // the valid records flow meanwhile

	// The fix: a limit that holds every letter.
	b.setTopicConfig(t, n.DLQ, "max.message.bytes", strconv.Itoa(brokerMaxMessageBytes))
	fixedAt := time.Now()
	prom.waitUntil(t, 2*time.Minute, "ReceiptdDeadLetterWritesPaused resolved", func() (bool, string) {
		paused, found := prom.scalar(t, `receiptd_dead_letter_paused{job="receiptd"}`)
		state := prom.alertState(t, "ReceiptdDeadLetterWritesPaused")
		return found && paused == 0 && state == "", fmt.Sprintf("receiptd_dead_letter_paused %v, alert %q", paused, state)
	})
	resolvedAfter := time.Since(fixedAt)
	t.Logf("ReceiptdDeadLetterWritesPaused resolved %s after the topic's limit was raised", resolvedAfter.Round(100*time.Millisecond))
	if p.stderr.count("dead-letter writes resumed: the topic took the refused record") == 0 {
		t.Error("the end of the pause was not logged")
	}

	waitCaughtUp(t, b, n, z, 2*time.Minute)
	d := checkReceipts(t, z, w)
	src := b.readAll(t, n.Source, sourcePartitions)
	dl := checkDeadLetters(t, b, n, w, src, true)
	if state := prom.alertState(t, "ReceiptdNotReady"); state != "" {
		t.Errorf("ReceiptdNotReady is %s after the pause ended", state)
	}
	stopWorker(t, p, 30*time.Second)
	figures{events: events, delivered: d.distinct, duplicates: d.duplicates, deadLetter: dl.records, start: s.start,
		extra: fmt.Sprintf("alert_firing_after_pause=%s alert_resolved_after_fix=%s malformed=%d",
			firedAfter.Round(100*time.Millisecond), resolvedAfter.Round(100*time.Millisecond), w.tally.Malformed())}.log(t)
}

// setTopicConfig sets one configuration entry of topic, as
// kafka-configs.sh --alter would.
func (b *broker) setTopicConfig(t *testing.T, topic, name, value string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), kafkaTimeout)
	defer cancel()
	resp, err := b.client.AlterConfigs(ctx, &kafka.AlterConfigsRequest{Resources: []kafka.AlterConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: topic,
		Configs: []kafka.AlterConfigRequestConfig{{Name: name, Value: value}},
	}}})
	if err == nil {
		for _, e := range resp.Errors {
			err = cmp.Or(err, e)
		}
	}
	if err != nil {
		t.Fatalf("set %s of topic %s to %s: %v", name, topic, value, err)
	}
	t.Logf("topic %s: %s=%s", topic, name, value)
}

// needPrometheus returns the prometheus binary to run: $RECEIPTD_E2E_PROMETHEUS
// or prometheus on PATH. Without one the test is skipped, or fails where
// the suite is required to run (CI installs Debian's prometheus package).
func needPrometheus(t *testing.T) string {
	t.Helper()
	path := os.Getenv(envPrometheus)
	if path == "" {
		path, _ = exec.LookPath("prometheus")
	}
	if path != "" {
		return path
	}
	const how = "this test needs a prometheus binary: apt-get install prometheus, or set " + envPrometheus
	if os.Getenv(envRequired) == "1" {
		t.Fatalf("%s (%s=1, so it may not be skipped)", how, envRequired)
	}
	t.Skip(how)
	return ""
}

// freeAddr returns a loopback address whose port was free a moment ago, for
// a listener of a worker or of Prometheus.
func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := promscrape.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// prometheus is a running Prometheus and a client of its HTTP API.
type prometheus struct {
	proc    *process
	url     string
	http    *http.Client
	version string
}

// startPrometheus runs Prometheus on the shipped deploy/prometheus
// configuration, changed only where a test must: its target is target,
// it scrapes and evaluates every second, and the rules' for: durations are
// divided by forScale.
func startPrometheus(t *testing.T, bin, target string) *prometheus {
	t.Helper()
	dir := t.TempDir()
	shipped := filepath.Join(suite.repoRoot, "deploy", "prometheus")

	var cfg map[string]any
	readYAMLFile(t, filepath.Join(shipped, "prometheus.yaml"), &cfg)
	cfg["global"] = map[string]any{"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"}
	cfg["rule_files"] = []string{filepath.Join(dir, "receiptd-rules.yaml")}
	jobs, _ := cfg["scrape_configs"].([]any)
	if len(jobs) != 1 {
		t.Fatalf("deploy/prometheus/prometheus.yaml has %d scrape jobs, want 1", len(jobs))
	}
	job := jobs[0].(map[string]any)
	if job["job_name"] != "receiptd" {
		t.Fatalf("deploy/prometheus/prometheus.yaml's job is %v, want receiptd", job["job_name"])
	}
	job["static_configs"] = []map[string]any{{"targets": []string{target}}}
	writeYAMLFile(t, filepath.Join(dir, "prometheus.yaml"), cfg)

	var rules yaml.Node
	readYAMLFile(t, filepath.Join(shipped, "receiptd-rules.yaml"), &rules)
	scaled := scaleFor(t, &rules)
	writeYAMLFile(t, filepath.Join(dir, "receiptd-rules.yaml"), &rules)
	t.Logf("prometheus: alert for: durations divided by %d: %s", forScale, strings.Join(scaled, ", "))

	addr := freeAddr(t)
	p := startCommand(t, "prometheus", os.Environ(), bin,
		"--config.file="+filepath.Join(dir, "prometheus.yaml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn")
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	prom := &prometheus{proc: p, url: "http://" + addr, http: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
	prom.waitUntil(t, time.Minute, "Prometheus ready", func() (bool, string) {
		resp, err := prom.http.Get(prom.url + "/-/ready")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	var info struct {
		Version string `json:"version"`
	}
	prom.api(t, "/api/v1/status/buildinfo", nil, &info)
	prom.version = info.Version
	return prom
}

// scaleFor divides the for: duration of every rule in the rules document
// root by forScale, keeping everything else, and returns what it changed.
func scaleFor(t *testing.T, root *yaml.Node) []string {
	t.Helper()
	var changed []string
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if k.Value == "for" && v.Kind == yaml.ScalarNode {
					d, err := time.ParseDuration(v.Value)
					if err != nil {
						t.Fatalf("rule for: %q: %v", v.Value, err)
					}
					scaled := max(d/forScale, time.Second).Round(time.Second)
					changed = append(changed, v.Value+"→"+scaled.String())
					v.Value = strconv.Itoa(int(scaled.Seconds())) + "s"
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(root)
	if len(changed) == 0 {
		t.Fatal("the shipped rules have no for: durations to scale")
	}
	return changed
}

func readYAMLFile(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func writeYAMLFile(t *testing.T, path string, v any) {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// api GETs path with query from Prometheus's HTTP API into data; it fails t
// if the request fails or Prometheus answers an error.
func (p *prometheus) api(t *testing.T, path string, query url.Values, data any) {
	t.Helper()
	if err := p.get(path, query, data); err != nil {
		t.Fatal(err)
	}
}

func (p *prometheus) get(path string, query url.Values, data any) error {
	u := p.url + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	resp, err := p.http.Get(u)
	if err != nil {
		return fmt.Errorf("prometheus %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("prometheus %s: %w", path, err)
	}
	var env struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("prometheus %s: %s: %s", path, resp.Status, body)
	}
	if env.Status != "success" {
		return fmt.Errorf("prometheus %s %v: %s", path, query, env.Error)
	}
	return json.Unmarshal(env.Data, data)
}

// promSeries is one series of an instant or range query.
type promSeries struct {
	Metric map[string]string `json:"metric"`
	Value  []any             `json:"value"`  // instant: [time, "value"]
	Values [][]any           `json:"values"` // range: [[time, "value"], ...]
}

type queryResult struct {
	ResultType string       `json:"resultType"`
	Result     []promSeries `json:"result"`
}

// instant evaluates expr now.
func (p *prometheus) instant(expr string) (queryResult, error) {
	var r queryResult
	err := p.get("/api/v1/query", url.Values{"query": {expr}}, &r)
	return r, err
}

// scalar returns the value of expr's only series now; false when expr
// returns no series.
func (p *prometheus) scalar(t *testing.T, expr string) (float64, bool) {
	t.Helper()
	r, err := p.instant(expr)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Result) == 0 {
		return 0, false
	}
	if len(r.Result) > 1 {
		t.Fatalf("%s: %d series, want one", expr, len(r.Result))
	}
	return parseValue(r.Result[0].Value), true
}

func parseValue(pair []any) float64 {
	if len(pair) != 2 {
		return math.NaN()
	}
	s, _ := pair[1].(string)
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return math.NaN()
	}
	return v
}

type alert struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"`
}

func (p *prometheus) alerts(t *testing.T) []alert {
	t.Helper()
	var data struct {
		Alerts []alert `json:"alerts"`
	}
	p.api(t, "/api/v1/alerts", nil, &data)
	return data.Alerts
}

// alertState returns the state of the alert named name: "pending",
// "firing", or "" when it is not active.
func (p *prometheus) alertState(t *testing.T, name string) string {
	t.Helper()
	state := ""
	for _, a := range p.alerts(t) {
		if a.Labels["alertname"] == name && (state == "" || a.State == "firing") {
			state = a.State
		}
	}
	return state
}

// firing returns the names of the firing alerts.
func (p *prometheus) firing(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, a := range p.alerts(t) {
		if a.State == "firing" {
			out = append(out, a.Labels["alertname"]+" "+a.Labels["instance"])
		}
	}
	return out
}

// waitAlert waits for the alert named name to reach state, and logs every
// state it passes through.
func (p *prometheus) waitAlert(t *testing.T, timeout time.Duration, name, state string) {
	t.Helper()
	last := "inactive"
	p.waitUntil(t, timeout, name+" "+state, func() (bool, string) {
		s := p.alertState(t, name)
		if s == "" {
			s = "inactive"
		}
		if s != last {
			t.Logf("%s: %s", name, s)
			last = s
		}
		return s == state, "state " + s
	})
}

// waitUntil is waitUntil that also fails when Prometheus exits.
func (p *prometheus) waitUntil(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	waitUntil(t, timeout, what, func() (bool, string) {
		select {
		case <-p.proc.exited:
			t.Fatalf("prometheus exited: %v", p.proc.waitErr)
		default:
		}
		return cond()
	})
}

// dashboardFile is the Grafana dashboard the test evaluates.
const dashboardFile = "deploy/grafana/receiptd.json"

// checkDashboard evaluates every query of the dashboard as Grafana would:
// with its variables set (the job, the test's pod, a rate interval), as a
// range query over the traffic for time series panels and an instant
// query for stat panels. Each must parse and return at least one finite
// value. It returns the number of panels and queries.
func checkDashboard(t *testing.T, p *prometheus, from time.Time, instance string) (panels, queries int) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(suite.repoRoot, dashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr    string `json:"expr"`
				Instant bool   `json:"instant"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	vars := strings.NewReplacer("$job", "receiptd", "$instance", instance, "$__rate_interval", "15s")
	for _, panel := range d.Panels {
		if panel.Type == "row" {
			continue
		}
		panels++
		for _, target := range panel.Targets {
			queries++
			expr := vars.Replace(target.Expr)
			if strings.Contains(expr, "$") {
				t.Errorf("panel %q: query %q has a variable the test does not set", panel.Title, target.Expr)
				continue
			}
			var r queryResult
			if target.Instant {
				r, err = p.instant(expr)
			} else {
				err = p.get("/api/v1/query_range", url.Values{"query": {expr},
					"start": {strconv.FormatInt(from.Unix(), 10)}, "end": {strconv.FormatInt(time.Now().Unix(), 10)}, "step": {"1"}}, &r)
			}
			if err != nil {
				t.Errorf("panel %q: %v", panel.Title, err)
				continue
			}
			finite := 0
			for _, s := range r.Result {
				pairs := s.Values
				if s.Value != nil {
					pairs = append(pairs, s.Value)
				}
				for _, v := range pairs {
					if f := parseValue(v); !math.IsNaN(f) && !math.IsInf(f, 0) {
						finite++
					}
				}
			}
			if finite == 0 {
				t.Errorf("panel %q: query %s returned no data (%d series, none with a finite value)", panel.Title, expr, len(r.Result))
			}
		}
	}
	if queries == 0 {
		t.Fatalf("%s has no queries", dashboardFile)
	}
	t.Logf("dashboard: %d panels, %d queries, each returned data", panels, queries)
	return panels, queries
}

// readmeMetricRow is one row of README's metric table.
var readmeMetricRow = regexp.MustCompile("(?m)^\\| `(receiptd_[a-z_]+)` \\| (counter|gauge|histogram) \\|")

// checkMetricNamesInPrometheus fails t unless the receiptd_* metric names
// Prometheus scraped are the ones README's metric table documents.
func checkMetricNamesInPrometheus(t *testing.T, p *prometheus) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(suite.repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, m := range readmeMetricRow.FindAllStringSubmatch(string(b), -1) {
		if m[2] == "histogram" {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				want[m[1]+s] = true
			}
			continue
		}
		want[m[1]] = true
	}
	r, err := p.instant(`group by (__name__) ({__name__=~"receiptd_.+", job="receiptd"})`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, s := range r.Result {
		got[s.Metric["__name__"]] = true
	}
	var missing, undocumented []string
	for name := range want {
		if !got[name] {
			missing = append(missing, name)
		}
	}
	for name := range got {
		if !want[name] {
			undocumented = append(undocumented, name)
		}
	}
	slices.Sort(missing)
	slices.Sort(undocumented)
	if len(missing) > 0 || len(undocumented) > 0 {
		t.Errorf("README's metric table and what Prometheus scraped differ: documented but not scraped %v; scraped but not documented %v",
			missing, undocumented)
	}
}
