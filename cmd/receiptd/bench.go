//go:build !receiptd_prod

package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/receiptd/receiptd/internal/bench"
	"github.com/receiptd/receiptd/internal/config"
)

const benchHelp = `
Measure receiptd on this machine, beside a naive kafka-go worker that makes one
API call per event: (a) throughput with an unlimited API, (b) API efficiency
under a backlog at 20 and 200 requests/s, (c) latency at light load, (d) 1 to
24 workers sharing one 20/s limit, (e) memory with a growing backlog, (f) what
kill -9, SIGTERM, a broker pause and a broker restart cost beside a fault-free
run, (g) the other groups' receipts beside groups at their limit and busy
groups. Kafka runs in-process (or on --brokers, in fresh topics; f pauses and
restarts its Kafka, so it runs in-process, or on a broker of its own with
--kafka-script), the ZIM simulator on loopback; every worker is a child
process whose CPU time and peak RSS the kernel reports. Progress goes to
stderr, the report to stdout. BENCHMARKS.md says how long each scenario
takes.`

func benchCmd(ctx context.Context, args []string, s streams) int {
	fs := newFlags("bench", "bench [flags]", benchHelp, s)
	scenarios := fs.String("scenarios", strings.Join(bench.AllScenarios, ","), "comma-separated scenarios to run, from "+strings.Join(bench.AllScenarios, ","))
	events := fs.Int("events", 1_000_000, "backlog of the throughput (a) and memory (e) scenarios, in records")
	seed := fs.Int64("seed", 1, "seed of the traffic and of the simulator")
	brokers := fs.String("brokers", "", "comma-separated brokers of a real Kafka cluster (default: an in-process one); fresh topics are created")
	kafkaScript := fs.String("kafka-script", "", "path of scripts/kafka.sh: scenario f then runs on a real broker of its own that it pauses and restarts")
	asJSON := fs.Bool("json", false, "write the report as JSON instead of a table")
	dir := fs.String("dir", "", "directory for the workers' logs and profiles (default: a new one in the temp directory)")
	profile := fs.Bool("profile", false, "make every receiptd worker write a CPU and a heap profile into --dir")
	scale := fs.Float64("scale", 1, "multiply the length of every timed phase by this; below 1 for a quick look")
	naive := fs.Bool("naive-worker", false, "") // internal: run as the baseline worker, configured by RECEIPTD_* variables
	pace := fs.Bool("naive-pace", false, "")    // internal: the baseline paces itself at zim.rate_limit_rps
	hideFlags(fs, "bench [flags]", benchHelp, "naive-worker", "naive-pace")
	if code, ok := parse(fs, args, s); !ok {
		return code
	}
	if *naive {
		return naiveWorker(ctx, *pace, s)
	}

	opts := bench.Options{
		Scenarios: splitList(*scenarios), Events: *events, Seed: *seed, Brokers: splitList(*brokers), KafkaScript: *kafkaScript,
		Profile: *profile, Scale: *scale, Progress: s.errOut,
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(s.errOut, "receiptd bench: find the receiptd binary: %v\n", err)
		return exitFailure
	}
	opts.Executable = exe
	if *dir == "" {
		if *dir, err = os.MkdirTemp("", "receiptd-bench-*"); err != nil {
			fmt.Fprintf(s.errOut, "receiptd bench: %v\n", err)
			return exitFailure
		}
	} else if err := os.MkdirAll(*dir, 0o755); err != nil {
		fmt.Fprintf(s.errOut, "receiptd bench: %v\n", err)
		return exitFailure
	}
	opts.Dir = *dir
	if err := opts.Validate(); err != nil {
		fmt.Fprintf(s.errOut, "receiptd bench: %v\n", err)
		fs.Usage()
		return exitUsage
	}
	fmt.Fprintf(s.errOut, "receiptd bench: scenarios %s, workers' logs in %s\n", strings.Join(opts.Scenarios, ","), opts.Dir)
	rep, err := bench.Run(ctx, opts)
	if err != nil {
		fmt.Fprintf(s.errOut, "receiptd bench: %v\n", err)
		return exitFailure
	}
	if *asJSON {
		err = rep.WriteJSON(s.out)
	} else {
		err = rep.WriteTable(s.out)
	}
	if err != nil {
		fmt.Fprintf(s.errOut, "receiptd bench: %v\n", err)
		return exitFailure
	}
	for _, sc := range rep.Scenarios {
		if sc.Error != "" {
			return exitFailure
		}
	}
	return exitOK
}

// naiveWorker runs the baseline in this process until ctx ends: the bench
// starts it as a child, configured like receiptd by RECEIPTD_* variables.
func naiveWorker(ctx context.Context, pace bool, s streams) int {
	cfg, err := config.Load("", os.LookupEnv)
	if err != nil {
		fmt.Fprintf(s.errOut, "receiptd bench --naive-worker: %v\n", err)
		return exitUsage
	}
	if err := bench.RunNaive(ctx, bench.NaiveOptions{Config: cfg, Pace: pace, Log: s.errOut}); err != nil {
		fmt.Fprintf(s.errOut, "receiptd bench --naive-worker: %v\n", err)
		return exitFailure
	}
	return exitOK
}
