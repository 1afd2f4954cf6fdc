package bench

import (
	"context"
	"fmt"
	"runtime"
	"syscall"
	"time"

	"github.com/receiptd/receiptd/internal/traffic"
	"github.com/receiptd/receiptd/zimapi/zimfake"
)

// Goals of the throughput scenario.
const (
	goalEventsPerSecond    = 100_000
	goalEventsPerCPUSecond = 50_000
)

// throughput is scenario (a): a preloaded backlog of Events records of the
// default traffic mix, an API without a rate limit, and the time until the
// group has committed every record; then the baseline on the same backlog
// for a fixed time.
func (r *runner) throughput(ctx context.Context) (Scenario, error) {
	sc := Scenario{Title: "throughput: unlimited API, preloaded backlog"}
	tcfg := r.seededTraffic()
	e, gen, err := r.startEnv(ctx, envSpec{id: "a", partitions: 8, traffic: tcfg, rps: 0}) // an API without a limit
	if err != nil {
		return sc, err
	}
	defer e.close()

	tally := traffic.NewTally(tcfg)
	if err := e.preload(ctx, r.opts.Events, generated(gen), func(rec traffic.Record, _ int) { tally.Add(rec) }); err != nil {
		return sc, err
	}
	_, total, err := e.ends(ctx)
	if err != nil {
		return sc, err
	}

	harness0 := selfCPU()
	w, err := e.run(ctx, workerSpec{name: "a-receiptd", group: "bench-a-receiptd", set: map[string]string{
		// No rate limit to respect: a budget far above what one pod can
		// send, and twice the default calls in flight, which keeps the
		// pipeline moving at the least CPU per event (64 cost more, 8 no
		// less).
		"zim.rate_limit_rps":   "50000",
		"zim.rate_share":       "full",
		"worker.max_in_flight": "16",
	}}, total, 10*time.Minute)
	if err != nil {
		return sc, err
	}
	prog, use := w.prog, w.use
	harness := selfCPU() - harness0
	zs := e.box.ZIM.Stats()
	wall := prog.last.Sub(w.started).Seconds()
	r.logf("scenario a: receiptd committed %d records in %.1fs (%.0f/s steady), CPU %.2fs, peak RSS %.1f MiB",
		total, wall, prog.rate(), use.CPU.Seconds(), mib(use.PeakRSS))
	missing := missingReceipts(tally, e.box.ZIM)

	// The baseline on the same backlog, in a group of its own, for a fixed
	// time: at its pace the whole backlog would take many minutes.
	e.box.ZIM.Reset()
	naiveFor := r.scaled(30 * time.Second)
	n, err := e.run(ctx, workerSpec{name: "a-naive", group: "bench-a-naive", naive: true}, 0, naiveFor)
	if err != nil {
		return sc, err
	}
	nprog, nuse := n.prog, n.use
	final, err := e.watch.committed(ctx, "bench-a-naive", e.partitions)
	if err != nil {
		return sc, err
	}
	ndone := sum(final)
	r.logf("scenario a: naive committed %d records in %s (%.0f/s), CPU %.2fs", ndone, naiveFor, nprog.rate(), nuse.CPU.Seconds())

	cpuPerM := use.CPU.Seconds() / float64(total) * 1e6
	nCPUPerM := nan()
	if ndone > 0 {
		nCPUPerM = nuse.CPU.Seconds() / float64(ndone) * 1e6
	}
	cores := float64(runtime.NumCPU())
	sc.Figures = []Figure{
		figure("events/s (steady)", "/s", prog.rate()).vs(nprog.rate()).goal(">=", goalEventsPerSecond),
		figure("events/s (from process start)", "/s", float64(total)/wall),
		figure("CPU seconds per 1M events", "s", cpuPerM).vs(nCPUPerM),
		figure("events per CPU-second", "/s", 1e6/cpuPerM).vs(1e6/nCPUPerM).goal(">=", goalEventsPerCPUSecond),
		figure(fmt.Sprintf("events/s on %.0f cores of its own (projected)", cores), "/s", cores*1e6/cpuPerM).vs(cores * 1e6 / nCPUPerM),
		figure("harness CPU share while receiptd ran", "%", 100*harness.Seconds()/(harness.Seconds()+use.CPU.Seconds())),
		figure("peak RSS", "MiB", mib(use.PeakRSS)).vs(mib(nuse.PeakRSS)),
		figure("API calls per 1k events", "", float64(zs.Calls)/float64(total)*1000),
		figure("ideal / calls, whole backlog (no goal: calls leave after linger)", "", float64(tally.IdealCalls(10))/float64(zs.Calls)),
		figure("seqs per accepted call", "", ratioOf(zs.AcceptedReceipts, zs.AcceptedCalls)),
		figure("expected receipts not acknowledged", "", float64(missing)).goal("<=", 0),
	}
	sc.Notes = []string{
		fmt.Sprintf("%d records preloaded on 8 partitions (%d malformed, %d rejected by ZIM); receiptd with rate_limit_rps 50000, max_in_flight 16; simulator without limit or latency",
			total, tally.Malformed(), tally.Rejected()),
		fmt.Sprintf("steady = records committed between the first and the last commit seen, over that time; the baseline ran %s and committed %d records",
			naiveFor, ndone),
	}
	return sc, nil
}

// missingReceipts counts the receipts tally expects that the simulator never
// accepted: anything but zero is a receipt lost.
func missingReceipts(tally *traffic.Tally, zim *zimfake.Server) int {
	n := 0
	for r := range tally.Expected() {
		if !zim.Seen(r.Action, r.UserID, r.ConvID, r.Seq) {
			n++
		}
	}
	return n
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func ratioOf(a, b int64) float64 {
	if b == 0 {
		return nan()
	}
	return float64(a) / float64(b)
}

// selfCPU returns the CPU time this process (the harness: Kafka, the
// simulator, the producer) has used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
