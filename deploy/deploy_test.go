// Package deploy_test checks the deployment files against each other and
// against README.md: the alert rules and their PrometheusRule copy, the
// runbook anchors, README's alert section, and the Grafana dashboard. The
// rules' behaviour is tested by promtool (receiptd-rules.test.yaml, run by
// .ci/run) and, against a running receiptd, by e2e/prometheus_test.go.
package deploy_test

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"go.yaml.in/yaml/v3"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	rulesFile      = "prometheus/receiptd-rules.yaml"
	rulesTestFile  = "prometheus/receiptd-rules.test.yaml"
	promRuleFile   = "kubernetes/monitoring/prometheusrule.yaml"
	dashboardFile  = "grafana/receiptd.json"
	readmeFile     = "../README.md"
	runbookURLBase = "https://github.com/receiptd/receiptd/blob/main/README.md#"
)

type ruleGroup struct {
	Name  string `yaml:"name"`
	Rules []rule `yaml:"rules"`
}

type rule struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func shippedRules(t *testing.T) []rule {
	t.Helper()
	var f struct {
		Groups []ruleGroup `yaml:"groups"`
	}
	readYAML(t, rulesFile, &f)
	var rules []rule
	for _, g := range f.Groups {
		rules = append(rules, g.Rules...)
	}
	if len(rules) == 0 {
		t.Fatalf("%s has no rules", rulesFile)
	}
	return rules
}

// The PrometheusRule carries exactly the rules of the plain rules file.
func TestPrometheusRuleMatchesRulesFile(t *testing.T) {
	var plain struct {
		Groups []ruleGroup `yaml:"groups"`
	}
	readYAML(t, rulesFile, &plain)
	var cr struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   struct {
			Name   string            `yaml:"name"`
			Labels map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
		Spec struct {
			Groups []ruleGroup `yaml:"groups"`
		} `yaml:"spec"`
	}
	readYAML(t, promRuleFile, &cr)
	if cr.APIVersion != "monitoring.coreos.com/v1" || cr.Kind != "PrometheusRule" {
		t.Errorf("%s is %s %s, want monitoring.coreos.com/v1 PrometheusRule", promRuleFile, cr.APIVersion, cr.Kind)
	}
	if !reflect.DeepEqual(cr.Spec.Groups, plain.Groups) {
		t.Errorf("%s's groups differ from %s's; edit both", promRuleFile, rulesFile)
	}
}

// Every alert tells the on-call engineer what happened, what to do, and
// where the runbook is; the runbook is a README section that exists.
func TestAlertsAreActionable(t *testing.T) {
	anchors := readmeAnchors(t)
	seen := map[string]bool{}
	for _, r := range shippedRules(t) {
		if r.Alert == "" {
			continue // a recording rule
		}
		if seen[r.Alert] {
			t.Errorf("alert %s defined twice", r.Alert)
		}
		seen[r.Alert] = true
		if s := r.Labels["severity"]; s != "critical" && s != "warning" {
			t.Errorf("%s: severity %q, want critical or warning", r.Alert, s)
		}
		if r.For == "" {
			t.Errorf("%s: no for: one bad scrape would page", r.Alert)
		}
		if r.Annotations["summary"] == "" || len(r.Annotations["description"]) < 100 {
			t.Errorf("%s: want a summary and a description that says what to do", r.Alert)
		}
		url := r.Annotations["runbook_url"]
		anchor, ok := strings.CutPrefix(url, runbookURLBase)
		switch {
		case !ok:
			t.Errorf("%s: runbook_url %q does not point into README.md", r.Alert, url)
		case anchor != strings.ToLower(r.Alert):
			t.Errorf("%s: runbook_url anchor %q, want %q", r.Alert, anchor, strings.ToLower(r.Alert))
		case !anchors[anchor]:
			t.Errorf("%s: README.md has no section with anchor #%s", r.Alert, anchor)
		}
	}
	// The alerts an on-call engineer needs, at least.
	for _, want := range []string{"ReceiptdSystemicPause", "ReceiptdNoProgress", "ReceiptdDeadLettersAboveUsual",
		"ReceiptdDeadLetterWritesFailing", "ReceiptdDeadLetterWritesPaused", "ReceiptdLagGrowingAtRateCeiling",
		"ReceiptdRateLimited", "ReceiptdNotReady"} {
		if !seen[want] {
			t.Errorf("no alert %s", want)
		}
	}
}

// promtool's tests of the rules (run by .ci/run) cover every alert: the
// idle pod's test expects it silent, and another test expects it firing.
// promtool itself passes a rule that no test names.
func TestEveryAlertHasPromtoolTests(t *testing.T) {
	var f struct {
		RuleFiles []string `yaml:"rule_files"`
		Tests     []struct {
			Name      string `yaml:"name"`
			AlertTest []struct {
				Alert     string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	b, err := os.ReadFile(rulesTestFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", rulesTestFile, err)
	}
	if !slices.Equal(f.RuleFiles, []string{"receiptd-rules.yaml"}) {
		t.Errorf("%s tests %v, want receiptd-rules.yaml", rulesTestFile, f.RuleFiles)
	}
	silentIdle, fires := map[string]bool{}, map[string]bool{}
	for _, tc := range f.Tests {
		for _, at := range tc.AlertTest {
			switch {
			case tc.Name == "idle pod" && len(at.ExpAlerts) == 0:
				silentIdle[at.Alert] = true
			case len(at.ExpAlerts) > 0:
				fires[at.Alert] = true
			}
		}
	}
	for _, r := range shippedRules(t) {
		if r.Alert == "" {
			continue
		}
		if !silentIdle[r.Alert] {
			t.Errorf("%s: no check that it stays silent on the idle pod", r.Alert)
		}
		if !fires[r.Alert] {
			t.Errorf("%s: no test where it fires", r.Alert)
		}
	}
}

// README's alert section suggests exactly the shipped rules: a table row
// with severity and for, and a section with the rule's expression, per
// alert, and no other.
func TestREADMEAlertsAreTheShippedRules(t *testing.T) {
	readme := readFile(t, readmeFile)
	section := between(t, readme, "\n### Alerts\n", "\n### ")
	row := regexp.MustCompile(`(?m)^\| \[(Receiptd\w+)\]\(#(\w+)\) \| (\w+) \| (\w+) \|`)
	rows := map[string][]string{}
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		rows[m[1]] = m[2:]
	}
	heading := regexp.MustCompile("(?ms)^#### (Receiptd\\w+)\n.*?```promql\n(.*?)\n```")
	exprs := map[string]string{}
	for _, m := range heading.FindAllStringSubmatch(section, -1) {
		exprs[m[1]] = m[2]
	}
	var shipped []string
	for _, r := range shippedRules(t) {
		if r.Alert == "" {
			continue
		}
		shipped = append(shipped, r.Alert)
		if got, ok := rows[r.Alert]; !ok {
			t.Errorf("README's alert table lacks %s", r.Alert)
		} else if want := []string{strings.ToLower(r.Alert), r.Labels["severity"], r.For}; !slices.Equal(got, want) {
			t.Errorf("README's row for %s says %v, the rule %v", r.Alert, got, want)
		}
		if got, ok := exprs[r.Alert]; !ok {
			t.Errorf("README has no section with the expression of %s", r.Alert)
		} else if normalize(got) != normalize(r.Expr) {
			t.Errorf("README's expression for %s differs from the rule's:\nREADME: %s\nrule:   %s", r.Alert, got, r.Expr)
		}
	}
	for name := range rows {
		if !slices.Contains(shipped, name) {
			t.Errorf("README's alert table lists %s, which no rule defines", name)
		}
	}
	for name := range exprs {
		if !slices.Contains(shipped, name) {
			t.Errorf("README has a section for %s, which no rule defines", name)
		}
	}
}

type dashboard struct {
	Title      string `json:"title"`
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID          int    `json:"id"`
	Type        string `json:"type"`
	Title       string `json:"title"`
	Description string `json:"description"`
	Datasource  struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	Targets []target `json:"targets"`
}

type target struct {
	Expr  string `json:"expr"`
	RefID string `json:"refId"`
}

// The dashboard imports as is: it has a data source variable, a job and a
// pod variable, and every panel queries through that data source with a
// description; every metric it or the rules use is one README documents.
func TestDashboard(t *testing.T) {
	var d dashboard
	if err := json.Unmarshal([]byte(readFile(t, dashboardFile)), &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if d.Title == "" || d.UID == "" {
		t.Error("the dashboard has no title or uid")
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
		if v.Type == "datasource" && v.Query != "prometheus" {
			t.Errorf("data source variable %s queries %v, want prometheus", v.Name, v.Query)
		}
	}
	if vars["datasource"] != "datasource" || vars["job"] != "query" || vars["instance"] != "query" {
		t.Errorf("variables %v, want datasource (datasource), job and instance (query)", vars)
	}
	documented := readmeMetricNames(t)
	ids := map[int]bool{}
	queries := 0
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if p.Description == "" {
			t.Errorf("panel %q has no description", p.Title)
		}
		if p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q uses data source %q, want ${datasource}", p.Title, p.Datasource.UID)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			queries++
			if !strings.Contains(q.Expr, `instance=~"$instance"`) {
				t.Errorf("panel %q: query %q ignores the pod variable", p.Title, q.Expr)
			}
			checkMetricNames(t, "panel "+p.Title, q.Expr, documented)
		}
	}
	if queries == 0 {
		t.Fatal("the dashboard has no queries")
	}
	// What an on-call engineer looks at: throughput beside the limit,
	// calls, coalescing, rate limits, delay, backlog, dead letters, holds,
	// pauses and each pod's share all have a panel.
	for _, metric := range []string{"receiptd_events_total", "receiptd_records_done_total", "receiptd_receipts_acknowledged_total",
		"receiptd_rate_ceiling_requests_per_second", "receiptd_api_calls_total", "receiptd_api_seqs_per_call",
		"receiptd_rate_limited_total", "receiptd_read_to_receipt_seconds", "receiptd_oldest_pending_age_seconds",
		"receiptd_consumer_lag_records", "receiptd_dead_lettered_total", "receiptd_pending_records", "receiptd_retrying_batches",
		"receiptd_held_groups", "receiptd_failing_alone_keys", "receiptd_systemic_pause", "receiptd_dead_letter_paused",
		"receiptd_kafka_out_of_reach", "receiptd_ready", "receiptd_rate_share_ratio"} {
		if !slices.ContainsFunc(d.Panels, func(p panel) bool {
			return slices.ContainsFunc(p.Targets, func(q target) bool { return reads(q.Expr, metric) })
		}) {
			t.Errorf("no dashboard panel shows %s", metric)
		}
	}
	for _, r := range shippedRules(t) {
		checkMetricNames(t, "alert "+r.Alert, r.Expr, documented)
	}
}

var metricName = regexp.MustCompile(`receiptd_[a-z_]+`)

// histogramSeries are the suffixes of a histogram's series.
var histogramSeries = []string{"_bucket", "_sum", "_count"}

// reads reports whether expr reads metric, or one of its series if it is
// a histogram.
func reads(expr, metric string) bool {
	for _, name := range metricName.FindAllString(expr, -1) {
		if name == metric || slices.ContainsFunc(histogramSeries, func(s string) bool { return name == metric+s }) {
			return true
		}
	}
	return false
}

// checkMetricNames fails t for every receiptd_* name in expr that README's
// metric table does not list (histogram series count as their family).
func checkMetricNames(t *testing.T, where, expr string, documented map[string]bool) {
	t.Helper()
	for _, name := range metricName.FindAllString(expr, -1) {
		family := name
		for _, suffix := range histogramSeries {
			if f, ok := strings.CutSuffix(name, suffix); ok && documented[f] {
				family = f
			}
		}
		if !documented[family] {
			t.Errorf("%s uses %s, which README's metric table does not list", where, name)
		}
	}
}

func readmeMetricNames(t *testing.T) map[string]bool {
	t.Helper()
	row := regexp.MustCompile("(?m)^\\| `(receiptd_[a-z_]+)` \\| (counter|gauge|histogram) \\|")
	names := map[string]bool{}
	for _, m := range row.FindAllStringSubmatch(readFile(t, readmeFile), -1) {
		names[m[1]] = true
	}
	if len(names) == 0 {
		t.Fatal("README.md has no metric table")
	}
	return names
}

// readmeAnchors returns the anchors GitHub gives README's headings: lower
// case, punctuation other than - and _ dropped, spaces as -.
func readmeAnchors(t *testing.T) map[string]bool {
	t.Helper()
	anchors := map[string]bool{}
	drop := regexp.MustCompile(`[^\p{L}\p{N} _-]`)
	for _, line := range strings.Split(readFile(t, readmeFile), "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		text := strings.TrimSpace(strings.TrimLeft(line, "#"))
		anchors[strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(text), ""), " ", "-")] = true
	}
	return anchors
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// between returns s from the end of start to the next end.
func between(t *testing.T, s, start, end string) string {
	t.Helper()
	_, after, ok := strings.Cut(s, start)
	if !ok {
		t.Fatalf("README.md has no %q", strings.TrimSpace(start))
	}
	section, _, _ := strings.Cut(after, end)
	return section
}

func normalize(s string) string { return strings.Join(strings.Fields(s), " ") }

// The Dockerfile's VERSION and REVISION build arguments reach the variables
// internal/buildinfo reads (so `receiptd version` and receiptd_build_info
// name the image's build), and the image carries the OCI labels.
func TestDockerfileNamesTheBuild(t *testing.T) {
	docker := readFile(t, "../Dockerfile")
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "../internal/buildinfo/buildinfo.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]bool{}
	for _, decl := range f.Decls {
		if g, ok := decl.(*ast.GenDecl); ok && g.Tok == token.VAR {
			for _, spec := range g.Specs {
				for _, name := range spec.(*ast.ValueSpec).Names {
					vars[name.Name] = true
				}
			}
		}
	}
	const pkg = "github.com/receiptd/receiptd/internal/buildinfo"
	for _, v := range []struct{ variable, arg string }{{"version", "VERSION"}, {"revision", "REVISION"}} {
		if !vars[v.variable] {
			t.Errorf("internal/buildinfo has no variable %s for -X to set", v.variable)
		}
		if want := "-X " + pkg + "." + v.variable + "=${" + v.arg + "}"; !strings.Contains(docker, want) {
			t.Errorf("the Dockerfile's go build lacks %q", want)
		}
		if !regexp.MustCompile(`(?m)^ARG ` + v.arg + `\b`).MatchString(docker) {
			t.Errorf("the Dockerfile has no ARG %s", v.arg)
		}
	}
	for _, label := range []string{`org.opencontainers.image.version="${VERSION}"`, `org.opencontainers.image.revision="${REVISION}"`,
		`org.opencontainers.image.source="${SOURCE}"`} {
		if !strings.Contains(docker, label) {
			t.Errorf("the Dockerfile lacks the label %s", label)
		}
	}
}
