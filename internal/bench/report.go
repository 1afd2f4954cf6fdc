package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the outcome of a run.
type Report struct {
	Machine   Machine    `json:"machine"`
	Seed      int64      `json:"seed"`
	Events    int        `json:"events"`
	Scale     float64    `json:"scale"`
	Kafka     string     `json:"kafka"`
	Started   time.Time  `json:"started"`
	Seconds   float64    `json:"seconds"`
	Scenarios []Scenario `json:"scenarios"`
}

// Scenario is one scenario's figures.
type Scenario struct {
	ID      string   `json:"id"`
	Title   string   `json:"title"`
	Seconds float64  `json:"seconds"`
	Figures []Figure `json:"figures"`
	// Notes say how the figures were obtained (sizes, settings).
	Notes []string `json:"notes,omitempty"`
	// Error is set when the scenario could not complete; its figures are
	// then partial.
	Error string `json:"error,omitempty"`
}

// Figure is one measured quantity of receiptd, with the baseline's value
// where one was measured and the goal where the issue sets one.
type Figure struct {
	Name  string  `json:"name"`
	Unit  string  `json:"unit,omitempty"`
	Value float64 `json:"value"`
	// Baseline is the naive worker's value of the same quantity.
	Baseline *float64 `json:"baseline,omitempty"`
	// Ratio is Value / Baseline.
	Ratio *float64 `json:"ratio,omitempty"`
	Goal  *Goal    `json:"goal,omitempty"`
	// Pass says whether Value meets Goal.
	Pass *bool `json:"pass,omitempty"`
}

// Goal is a target a figure must meet: Value Op Target, Op being ">=" or
// "<=".
type Goal struct {
	Op     string  `json:"op"`
	Target float64 `json:"target"`
}

func (g Goal) met(v float64) bool {
	if math.IsNaN(v) {
		return false
	}
	if g.Op == "<=" {
		return v <= g.Target
	}
	return v >= g.Target
}

// figure builds a Figure; baseline and goal are optional.
func figure(name, unit string, value float64) Figure {
	return Figure{Name: name, Unit: unit, Value: value}
}

func (f Figure) vs(baseline float64) Figure {
	f.Baseline = &baseline
	if baseline != 0 && !math.IsNaN(baseline) {
		r := f.Value / baseline
		f.Ratio = &r
	}
	return f
}

func (f Figure) goal(op string, target float64) Figure {
	f.Goal = &Goal{Op: op, Target: target}
	pass := f.Goal.met(f.Value)
	f.Pass = &pass
	return f
}

// MarshalJSON writes a value that is not a finite number (a figure that
// could not be measured) as null, which JSON can carry.
func (f Figure) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Name     string   `json:"name"`
		Unit     string   `json:"unit,omitempty"`
		Value    *float64 `json:"value"`
		Baseline *float64 `json:"baseline,omitempty"`
		Ratio    *float64 `json:"ratio,omitempty"`
		Goal     *Goal    `json:"goal,omitempty"`
		Pass     *bool    `json:"pass,omitempty"`
	}{f.Name, f.Unit, finite(&f.Value), finite(f.Baseline), finite(f.Ratio), f.Goal, f.Pass})
}

func finite(p *float64) *float64 {
	if p == nil || math.IsNaN(*p) || math.IsInf(*p, 0) {
		return nil
	}
	return p
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the report as a table: every figure with the
// baseline, the ratio receiptd / baseline, the goal and whether it is met.
func (r *Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "receiptd bench: %d CPUs (%s), %s, %s; Kafka %s; seed %d; %.0fs\n\n",
		r.Machine.CPUs, r.Machine.CPUModel, r.Machine.Go, r.Machine.OS, r.Kafka, r.Seed, r.Seconds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\treceiptd\tnaive\tratio\tgoal\tresult")
	for _, s := range r.Scenarios {
		fmt.Fprintf(tw, "(%s) %s\t\t\t\t\t\n", s.ID, s.Title)
		for _, f := range s.Figures {
			baseline, ratio, goal, result := "", "", "", ""
			if f.Baseline != nil {
				baseline = formatValue(*f.Baseline, f.Unit)
			}
			if f.Ratio != nil {
				ratio = formatRatio(*f.Ratio)
			}
			if f.Goal != nil {
				goal = f.Goal.Op + " " + formatValue(f.Goal.Target, f.Unit)
				result = "MISS"
				if *f.Pass {
					result = "pass"
				}
			}
			fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\t%s\t%s\n", f.Name, formatValue(f.Value, f.Unit), baseline, ratio, goal, result)
		}
		if s.Error != "" {
			fmt.Fprintf(tw, "    ERROR: %s\t\t\t\t\t\n", s.Error)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nratio = receiptd / naive; goals are the issue's; see BENCHMARKS.md for how each figure is measured.")
	for _, s := range r.Scenarios {
		for _, n := range s.Notes {
			fmt.Fprintf(w, "(%s) %s\n", s.ID, n)
		}
	}
	return nil
}

// formatValue prints v with its unit, grouping thousands and keeping a few
// significant digits.
func formatValue(v float64, unit string) string {
	var s string
	switch {
	case math.IsNaN(v):
		s = "n/a"
	case unit == "%":
		s = strconv.FormatFloat(v, 'f', 2, 64)
	case math.Abs(v) >= 1000:
		s = group(strconv.FormatFloat(math.Round(v), 'f', 0, 64))
	case math.Abs(v) >= 100 || (v == math.Trunc(v) && v != 1): // 1 is mostly a ratio: 1.00
		s = strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 1:
		s = strconv.FormatFloat(v, 'f', 2, 64)
	default:
		s = strconv.FormatFloat(v, 'f', 3, 64)
	}
	if unit == "" || s == "n/a" {
		return s
	}
	if unit == "%" {
		return s + "%"
	}
	return s + " " + unit
}

func formatRatio(r float64) string {
	if r >= 10 {
		return strconv.FormatFloat(r, 'f', 0, 64) + "x"
	}
	return strconv.FormatFloat(r, 'f', 2, 64) + "x"
}

// group inserts thousands separators into a string of digits.
func group(digits string) string {
	neg := strings.HasPrefix(digits, "-")
	digits = strings.TrimPrefix(digits, "-")
	var b strings.Builder
	for i, c := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func nan() float64 { return math.NaN() }
