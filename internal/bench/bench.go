// Package bench measures receiptd end to end, the way `receiptd bench`
// reports it: how cheaply a worker process moves events (throughput, CPU,
// memory) and how much of the ZIM API's budget becomes receipts
// (efficiency, latency, scale-out), each beside a naive baseline where one
// applies.
//
// Every worker under measurement is a child process (receiptd run, or the
// baseline of RunNaive) configured by RECEIPTD_* variables, so that its CPU
// time and peak RSS come from the kernel's accounting of that process
// alone. The harness (Kafka, the ZIM simulator, the producer) lives in the
// calling process. Scenarios are seeded: the same Options give the same
// traffic.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Scenario identifiers, in the order they run.
const (
	ScenarioThroughput = "a"
	ScenarioEfficiency = "b"
	ScenarioLatency    = "c"
	ScenarioScaleOut   = "d"
	ScenarioMemory     = "e"
	ScenarioRecovery   = "f"
	ScenarioIsolation  = "g"
)

// AllScenarios lists every scenario in running order.
var AllScenarios = []string{ScenarioThroughput, ScenarioEfficiency, ScenarioLatency, ScenarioScaleOut, ScenarioMemory,
	ScenarioRecovery, ScenarioIsolation}

// Options configures a benchmark run. The zero value of a field selects
// its default, except where noted.
type Options struct {
	// Scenarios selects what runs, from AllScenarios; default all.
	Scenarios []string
	// Events is the backlog of the throughput and memory scenarios;
	// default 1,000,000.
	Events int
	// Seed seeds the traffic and the simulator. Zero is a valid seed.
	Seed int64
	// Brokers, when set, is a real Kafka cluster on which every scenario
	// creates fresh topics; default an in-process cluster per scenario.
	// Scenario f pauses and restarts its Kafka, so it never uses Brokers.
	Brokers []string
	// KafkaScript, the path of scripts/kafka.sh, makes scenario f run on a
	// real broker of its own that it pauses and restarts; without it, f
	// faults the in-process Kafka.
	KafkaScript string
	// Executable is the receiptd binary started as the workers. Required.
	Executable string
	// Dir receives the workers' logs and profiles. Required.
	Dir string
	// Profile makes every receiptd worker write a CPU and a heap profile
	// into Dir.
	Profile bool
	// Scale multiplies the length of every timed phase and the size of the
	// rate-limited backlogs; default 1. A smoke test uses less.
	Scale float64
	// Progress receives a line per step; nil discards them.
	Progress io.Writer
}

func (o *Options) setDefaults() {
	if len(o.Scenarios) == 0 {
		o.Scenarios = AllScenarios
	}
	if o.Events == 0 {
		o.Events = 1_000_000
	}
	if o.Scale == 0 {
		o.Scale = 1
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

// Validate reports every problem of o, after defaults are applied.
func (o Options) Validate() error {
	o.setDefaults()
	var errs []error
	for _, s := range o.Scenarios {
		if !slices.Contains(AllScenarios, s) {
			errs = append(errs, fmt.Errorf("unknown scenario %q: want some of %s", s, strings.Join(AllScenarios, ",")))
		}
	}
	if o.Events < 1000 {
		errs = append(errs, fmt.Errorf("events must be at least 1000, got %d", o.Events))
	}
	if !(o.Scale > 0 && o.Scale <= 10) {
		errs = append(errs, fmt.Errorf("scale must be in (0, 10], got %v", o.Scale))
	}
	if o.Executable == "" {
		errs = append(errs, errors.New("executable is required"))
	}
	if o.Dir == "" {
		errs = append(errs, errors.New("dir is required"))
	}
	return errors.Join(errs...)
}

// Run runs the selected scenarios in order and returns their report. A
// scenario that fails is reported with its error and the others still
// run; Run returns an error only for invalid Options or when ctx ends.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("bench options: %w", err)
	}
	opts.setDefaults()
	r := &runner{opts: opts, started: time.Now()}
	rep := &Report{
		Machine: machineInfo(), Seed: opts.Seed, Events: opts.Events, Scale: opts.Scale,
		Kafka: "in-process (kfake)", Started: r.started.UTC(),
	}
	if len(opts.Brokers) > 0 {
		rep.Kafka = strings.Join(opts.Brokers, ",")
	}
	if opts.KafkaScript != "" && slices.Contains(opts.Scenarios, ScenarioRecovery) {
		rep.Kafka += "; scenario f: a broker of its own (" + opts.KafkaScript + ")"
	}
	scenarios := map[string]func(context.Context) (Scenario, error){
		ScenarioThroughput: r.throughput,
		ScenarioEfficiency: r.efficiency,
		ScenarioLatency:    r.latency,
		ScenarioScaleOut:   r.scaleOut,
		ScenarioMemory:     r.memory,
		ScenarioRecovery:   r.recovery,
		ScenarioIsolation:  r.isolation,
	}
	for _, id := range AllScenarios {
		if !slices.Contains(opts.Scenarios, id) {
			continue
		}
		began := time.Now()
		r.logf("scenario %s: start", id)
		sc, err := scenarios[id](ctx)
		sc.ID, sc.Seconds = id, time.Since(began).Seconds()
		if err != nil {
			if ctx.Err() != nil {
				return rep, ctx.Err()
			}
			sc.Error = err.Error()
			r.logf("scenario %s: failed: %v", id, err)
		} else {
			r.logf("scenario %s: done in %s", id, time.Since(began).Round(time.Second))
		}
		rep.Scenarios = append(rep.Scenarios, sc)
	}
	rep.Seconds = time.Since(r.started).Seconds()
	return rep, nil
}

// runner holds what every scenario shares.
type runner struct {
	opts    Options
	started time.Time
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.opts.Progress, "[%5.0fs] %s\n", time.Since(r.started).Seconds(), fmt.Sprintf(format, args...))
}

// scaled returns d times the run's Scale.
func (r *runner) scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) * r.opts.Scale)
}

// Machine describes where the figures come from.
type Machine struct {
	CPUs     int    `json:"cpus"`
	CPUModel string `json:"cpu_model"`
	Go       string `json:"go"`
	OS       string `json:"os"`
	MemoryMB int64  `json:"memory_mb,omitempty"`
}

func machineInfo() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		for line := range strings.Lines(string(b)) {
			if _, err := fmt.Sscanf(line, "MemTotal: %d kB", &kb); err == nil {
				m.MemoryMB = kb / 1024
				break
			}
		}
	}
	return m
}
