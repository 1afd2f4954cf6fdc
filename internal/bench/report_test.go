package bench

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/receiptd/receiptd/internal/traffic"
	"github.com/receiptd/receiptd/zimapi/zimfake"
)

func TestFormatValue(t *testing.T) {
	tests := []struct {
		give float64
		unit string
		want string
	}{
		{1234567.4, "/s", "1,234,567 /s"},
		{-1500, "", "-1,500"},
		{250, "ms", "250 ms"},
		{12.345, "s", "12.35 s"},
		{0.9912, "", "0.991"},
		{0.25, "%", "0.25%"},
		{3, "", "3"},
		{1, "", "1.00"},
		{math.NaN(), "MiB", "n/a"},
	}
	for _, tt := range tests {
		if got := formatValue(tt.give, tt.unit); got != tt.want {
			t.Errorf("formatValue(%v, %q) = %q, want %q", tt.give, tt.unit, got, tt.want)
		}
	}
}

func TestFigureGoalAndRatio(t *testing.T) {
	f := figure("efficiency", "", 0.995).vs(0.5).goal(">=", 0.99)
	if f.Ratio == nil || *f.Ratio != 1.99 {
		t.Errorf("ratio = %v, want 1.99", f.Ratio)
	}
	if f.Pass == nil || !*f.Pass {
		t.Error("0.995 >= 0.99 reported as missed")
	}
	if g := figure("p99", "ms", 251).goal("<=", 250); *g.Pass {
		t.Error("251 <= 250 reported as met")
	}
	if g := figure("x", "", math.NaN()).goal("<=", 1); *g.Pass {
		t.Error("an unmeasured figure reported as meeting its goal")
	}
	if g := figure("x", "", 1).vs(0); g.Ratio != nil {
		t.Errorf("ratio to a zero baseline = %v, want none", *g.Ratio)
	}
}

func TestReportJSONCarriesUnmeasuredFiguresAsNull(t *testing.T) {
	rep := &Report{Scenarios: []Scenario{{ID: "a", Figures: []Figure{
		figure("CPU seconds per 1M events", "s", 30).vs(math.NaN()),
		figure("peak RSS", "MiB", math.NaN()),
	}}}}
	var buf bytes.Buffer
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Scenarios []struct {
			Figures []map[string]any `json:"figures"`
		} `json:"scenarios"`
	}
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	figs := back.Scenarios[0].Figures
	if _, ok := figs[0]["baseline"]; ok {
		t.Errorf("unmeasured baseline written as %v, want it left out", figs[0]["baseline"])
	}
	if v, ok := figs[1]["value"]; !ok || v != nil {
		t.Errorf("unmeasured value written as %v, want null", v)
	}
}

func TestReportTableShowsGoalsAndErrors(t *testing.T) {
	rep := &Report{Scenarios: []Scenario{
		{ID: "b", Title: "efficiency", Figures: []Figure{
			figure("efficiency", "", 0.999).vs(0.5).goal(">=", 0.99),
			figure("660300005 answers", "%", 0.7).goal("<=", 0.5),
		}, Notes: []string{"1000 records"}},
		{ID: "d", Title: "scale-out", Error: "group of 3: not reached"},
	}}
	var buf bytes.Buffer
	if err := rep.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"(b) efficiency", "pass", "MISS", "2.00x", ">= 0.990", "ERROR: group of 3", "(b) 1000 records"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestQuantile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 200; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 100 * time.Millisecond}, {0.99, 198 * time.Millisecond}, {1, 200 * time.Millisecond}, {0, time.Millisecond}} {
		if got := quantile(d, tt.q); got != tt.want {
			t.Errorf("quantile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	if got := quantile(nil, 0.99); got != 0 {
		t.Errorf("quantile of nothing = %v, want 0", got)
	}
}

func TestReceiptLatenciesCountTheFirstCallOfExpectedReceipts(t *testing.T) {
	read := time.Unix(100, 0)
	k := traffic.Receipt{Action: "GroupReadReceipt", UserID: "u", ConvID: "g", Seq: 7}
	readAt := map[traffic.Receipt]time.Time{k: read}
	accepted := []zimfake.Receipt{
		{Action: "GroupReadReceipt", UserID: "u", ConvID: "g", Seq: 7, At: read.Add(210 * time.Millisecond)},
		{Action: "GroupReadReceipt", UserID: "u", ConvID: "g", Seq: 7, At: read.Add(900 * time.Millisecond)}, // a repeat
		{Action: "GroupReadReceipt", UserID: "u", ConvID: "other", Seq: 7, At: read},                         // not expected
	}
	got := receiptLatencies(accepted, readAt)
	if len(got) != 1 || got[0] != 210*time.Millisecond {
		t.Errorf("latencies = %v, want [210ms]", got)
	}
}

func TestOptionsValidate(t *testing.T) {
	ok := Options{Executable: "/bin/receiptd", Dir: "/tmp"}
	if err := ok.Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	bad := Options{Scenarios: []string{"a", "z"}, Events: 10, Scale: -1}
	err := bad.Validate()
	if err == nil {
		t.Fatal("invalid options accepted")
	}
	for _, want := range []string{`"z"`, "events", "scale", "executable", "dir"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestCallRateUsesTheCallsOwnTimes(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var receipts []zimfake.Receipt
	for i := range 61 { // a call every 50ms for 3s, two receipts each
		at := t0.Add(time.Duration(i) * 50 * time.Millisecond)
		receipts = append(receipts, zimfake.Receipt{Seq: 1, At: at}, zimfake.Receipt{Seq: 2, At: at})
	}
	// A window whose edges fall between calls still sees 20 calls/s.
	if got := callRate(receipts, t0.Add(-40*time.Millisecond), t0.Add(3040*time.Millisecond)); math.Abs(got-20) > 1e-9 {
		t.Errorf("callRate = %v, want 20", got)
	}
	if got := callRate(receipts, t0.Add(time.Hour), t0.Add(2*time.Hour)); !math.IsNaN(got) {
		t.Errorf("callRate of no calls = %v, want NaN", got)
	}
}
