package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/receiptd/receiptd/internal/traffic"
)

// Goals of the efficiency scenario.
const (
	goalEfficiency20    = 0.99
	goalEfficiency200   = 0.98
	goalRateLimitedPerc = 0.5
)

// efficiencyRates are the API limits the scenario runs at: ZIM's default,
// and ten times it, where calls leave every 5ms and coalescing has less
// time to work.
var efficiencyRates = []int{20, 200}

// efficiency is scenario (b): a backlog that takes about a minute to send
// at the API's limit, preloaded, and the calls it took against the fewest
// that can carry its receipts; then the baseline, paced at the same limit,
// on the same backlog for a fixed time.
func (r *runner) efficiency(ctx context.Context) (Scenario, error) {
	sc := Scenario{Title: "API efficiency under backlog"}
	for _, rps := range efficiencyRates {
		figs, notes, err := r.efficiencyAt(ctx, rps)
		sc.Figures = append(sc.Figures, figs...)
		sc.Notes = append(sc.Notes, notes...)
		if err != nil {
			return sc, fmt.Errorf("at %d/s: %w", rps, err)
		}
	}
	return sc, nil
}

func (r *runner) efficiencyAt(ctx context.Context, rps int) ([]Figure, []string, error) {
	id := fmt.Sprintf("b%d", rps)
	// Valid traffic only: rejected events cost calls that no ideal counts,
	// and the throughput scenario covers them.
	tcfg := r.seededTraffic()
	tcfg.MalformedFraction, tcfg.FailingFraction = 0, 0
	e, gen, err := r.startEnv(ctx, envSpec{id: id, partitions: 8, traffic: tcfg, rps: float64(rps), delayed: true})
	if err != nil {
		return nil, nil, err
	}
	defer e.close()

	// A backlog whose ideal number of calls keeps the API busy for about
	// 45 seconds.
	wantCalls := int(float64(rps) * r.scaled(45*time.Second).Seconds())
	records, tally := backlogFor(gen, tcfg, wantCalls)
	parts := make([][]traffic.Record, e.partitions)
	if err := e.preload(ctx, len(records), replayed(records), func(rec traffic.Record, p int) {
		parts[p] = append(parts[p], rec)
	}); err != nil {
		return nil, nil, err
	}
	total := int64(len(records))
	ideal := tally.IdealCalls(10)

	limit := time.Duration(float64(ideal)/float64(rps)*3*float64(time.Second)) + time.Minute
	w, err := e.run(ctx, workerSpec{name: id + "-receiptd", group: "bench-" + id + "-receiptd", set: map[string]string{
		"zim.rate_limit_rps":     fmt.Sprint(rps),
		"shutdown.drain_timeout": "5s",
	}}, total, limit)
	if err != nil {
		return nil, nil, err
	}
	zs := e.box.ZIM.Stats()
	took := w.prog.last.Sub(w.started)
	missing := missingReceipts(tally, e.box.ZIM)
	eff := float64(ideal) / float64(zs.Calls)
	r.logf("scenario b: at %d/s receiptd sent %d records in %d calls (ideal %d, efficiency %.4f) in %s, %d rate-limited",
		rps, total, zs.Calls, ideal, eff, took.Round(time.Millisecond), zs.RateLimited)

	// The baseline: one paced call per event, on the same backlog, for a
	// fixed time; its ideal is that of the records it committed.
	e.box.ZIM.Reset()
	naiveFor := r.scaled(20 * time.Second)
	ngroup := "bench-" + id + "-naive"
	if _, err := e.run(ctx, workerSpec{name: id + "-naive", group: ngroup, naive: true, pace: true,
		set: map[string]string{"zim.rate_limit_rps": fmt.Sprint(rps)}}, 0, naiveFor); err != nil {
		return nil, nil, err
	}
	final, err := e.watch.committed(ctx, ngroup, e.partitions)
	if err != nil {
		return nil, nil, err
	}
	nzs := e.box.ZIM.Stats()
	ntally := traffic.NewTally(tcfg)
	for p, off := range final {
		for _, rec := range parts[p][:min(int(off), len(parts[p]))] {
			ntally.Add(rec)
		}
	}
	nIdeal := ntally.IdealCalls(10)
	nEff := nan()
	if nzs.Calls > 0 {
		nEff = float64(nIdeal) / float64(nzs.Calls)
	}
	r.logf("scenario b: at %d/s the baseline committed %d records in %d calls (ideal %d, efficiency %.4f)",
		rps, ntally.Records(), nzs.Calls, nIdeal, nEff)

	goal := goalEfficiency20
	if rps != 20 {
		goal = goalEfficiency200
	}
	at := fmt.Sprintf(" @%d/s", rps)
	figs := []Figure{
		figure("efficiency (ideal / calls)"+at, "", eff).vs(nEff).goal(">=", goal),
		figure("API calls per 1k records"+at, "", 1000*ratioOf(zs.Calls, total)).
			vs(1000 * ratioOf(nzs.Calls, int64(ntally.Records()))),
		figure("seqs per accepted call"+at, "", ratioOf(zs.AcceptedReceipts, zs.AcceptedCalls)).
			vs(ratioOf(nzs.AcceptedReceipts, nzs.AcceptedCalls)),
		figure("660300005 answers"+at, "%", 100*ratioOf(zs.RateLimited, zs.Calls)).
			vs(100*ratioOf(nzs.RateLimited, nzs.Calls)).goal("<=", goalRateLimitedPerc),
		figure("receipts per second"+at, "/s", float64(zs.DistinctReceipts)/took.Seconds()).
			vs(float64(nzs.DistinctReceipts) / naiveFor.Seconds()),
		figure("expected receipts not acknowledged"+at, "", float64(missing)).goal("<=", 0),
	}
	notes := []string{fmt.Sprintf("at %d/s: %d valid records (%d receipts, ideal %d calls) preloaded on 8 partitions, receiptd made %d calls; simulator latency log-normal p50 15ms p99 120ms; the baseline ran %s, committed %d records (ideal %d calls) in %d calls",
		rps, total, tally.Receipts(), ideal, zs.Calls, naiveFor, ntally.Records(), nIdeal, nzs.Calls)}
	return figs, notes, nil
}

// backlogFor generates records until the fewest calls that carry their
// receipts reach wantCalls, and returns them with their tally.
func backlogFor(gen *traffic.Generator, cfg traffic.Config, wantCalls int) ([]traffic.Record, *traffic.Tally) {
	tally := traffic.NewTally(cfg)
	var records []traffic.Record
	now := time.Now()
	for {
		for range 500 {
			rec := gen.Next(now)
			tally.Add(rec)
			records = append(records, rec)
		}
		if tally.IdealCalls(10) >= wantCalls {
			return records, tally
		}
	}
}
