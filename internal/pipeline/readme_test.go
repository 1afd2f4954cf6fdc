package pipeline_test

import (
	"bufio"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// readmeMetricRow is one row of README's metric table:
// | `name` | type | labels | meaning |
var readmeMetricRow = regexp.MustCompile("^\\| `(receiptd_[a-z_]+)` \\| (counter|gauge|histogram) \\|([^|]*)\\|")

// checkREADMEMetrics fails t unless README's metric table lists exactly the
// receiptd_* metrics reg exposes, each with its type and labels. Call it
// once traffic has flowed, so that every labelled series exists.
func checkREADMEMetrics(t *testing.T, reg prometheus.Gatherer) {
	t.Helper()
	documented := readmeMetrics(t)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exposed := map[string]string{}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "receiptd_") {
			continue
		}
		exposed[mf.GetName()] = describe(mf)
	}
	for name, want := range documented {
		got, ok := exposed[name]
		switch {
		case !ok:
			t.Errorf("README documents %s, which /metrics does not expose", name)
		case got != want:
			t.Errorf("%s: README says %q, /metrics has %q", name, want, got)
		}
	}
	for name, got := range exposed {
		if _, ok := documented[name]; !ok {
			t.Errorf("/metrics exposes %s (%s), which README's metric table does not list", name, got)
		}
	}
}

// readmeMetrics returns the metric table of README.md: name → "type labels".
func readmeMetrics(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := readmeMetricRow.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		var labels []string
		for _, l := range strings.Split(m[3], ",") {
			if l = strings.Trim(strings.TrimSpace(l), "`"); l != "" {
				labels = append(labels, l)
			}
		}
		slices.Sort(labels)
		out[m[1]] = m[2] + " " + strings.Join(labels, ",")
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatal("README.md has no metric table")
	}
	return out
}

// describe is a metric family's "type labels", as readmeMetrics has it.
func describe(mf *dto.MetricFamily) string {
	typ := map[dto.MetricType]string{dto.MetricType_COUNTER: "counter", dto.MetricType_GAUGE: "gauge",
		dto.MetricType_HISTOGRAM: "histogram"}[mf.GetType()]
	seen := map[string]bool{}
	for _, m := range mf.GetMetric() {
		for _, l := range m.GetLabel() {
			seen[l.GetName()] = true
		}
	}
	labels := make([]string, 0, len(seen))
	for l := range seen {
		labels = append(labels, l)
	}
	slices.Sort(labels)
	return typ + " " + strings.Join(labels, ",")
}
