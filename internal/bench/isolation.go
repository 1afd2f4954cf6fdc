package bench

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/receiptd/receiptd/internal/traffic"
	"github.com/receiptd/receiptd/zimapi/zimfake"
)

// Settings of the isolation scenario (g).
const (
	isolationRecords = 20_000
	isolationRPS     = 200
	// goalIsolation bounds the other groups' finishing time with the bad
	// groups, as a multiple of their time without them.
	goalIsolation = 1.10
)

// isolation is scenario (g): a backlog of valid records through one worker
// at 200 requests/s per action, twice: as it is, and with the two busiest
// groups at a group limit of one request per second for 30 s (660300006)
// and the next two answered "busy" (code 1) for 60 s, both from the
// worker's start. The figure is when the other groups' receipts are all
// set, from the worker's start, with the bad groups against without them.
func (r *runner) isolation(ctx context.Context) (Scenario, error) {
	sc := Scenario{Title: "isolation: groups at their limit and busy groups"}
	tcfg := traffic.DefaultConfig()
	tcfg.Seed, tcfg.MalformedFraction, tcfg.FailingFraction = r.opts.Seed, 0, 0
	gen, err := traffic.New(tcfg)
	if err != nil {
		return sc, err
	}
	records := make([]traffic.Record, int(isolationRecords*r.opts.Scale))
	now := time.Now()
	for i := range records {
		records[i] = gen.Next(now)
	}
	groups := traffic.BusiestGroups(records, 4)
	if len(groups) < 4 {
		return sc, fmt.Errorf("the traffic has %d groups, want 4", len(groups))
	}
	limited, busy := groups[:2], groups[2:]
	limitFor, busyFor := r.scaled(30*time.Second), r.scaled(60*time.Second)

	base, err := r.isolationRun(ctx, "g-without", records, groups, nil)
	if err != nil {
		return sc, fmt.Errorf("without bad groups: %w", err)
	}
	with, err := r.isolationRun(ctx, "g-with", records, groups, func(z *zimfake.Server) {
		for _, g := range limited {
			z.SetGroupLimit(g, 1, limitFor)
		}
		for _, g := range busy {
			z.SetBusy(g, busyFor)
		}
	})
	if err != nil {
		return sc, fmt.Errorf("with bad groups: %w", err)
	}
	r.logf("scenario g: other groups done after %s with the bad groups, %s without (x%.3f)",
		with.othersLast.Round(time.Millisecond), base.othersLast.Round(time.Millisecond), with.othersLast.Seconds()/base.othersLast.Seconds())
	sec := func(d time.Duration) float64 { return d.Seconds() }
	sc.Figures = []Figure{
		figure("other groups' receipts all set", "s", sec(with.othersLast)).vs(sec(base.othersLast)),
		figure("other groups' receipts, median", "s", sec(with.othersP50)).vs(sec(base.othersP50)),
		figure("all set, with bad groups / without", "", sec(with.othersLast)/sec(base.othersLast)).goal("<=", goalIsolation),
		figure("bad groups' receipts all set", "s", sec(with.badLast)).vs(sec(base.badLast)),
		figure("660300006 answers", "", float64(with.zim.GroupRateLimited)),
		figure("busy answers (code 1)", "", float64(with.zim.ByCode[zimfake.CodeBusy])),
		figure("660300005 answers", "", float64(with.zim.RateLimited)).goal("<=", 0),
		figure("calls", "", float64(with.zim.Calls)).vs(float64(base.zim.Calls)),
		figure("expected receipts not acknowledged", "", float64(with.missing+base.missing)).goal("<=", 0),
	}
	sc.Notes = []string{fmt.Sprintf("%d valid records preloaded on 8 partitions, receiptd at %d requests/s per action (simulator latency log-normal p50 15ms p99 120ms), run twice; with bad groups: %s at a group limit of 1 request/s for %s, %s busy for %s (%d of the records), both from the worker's start; times from the worker's start to the simulator's first acceptance of each receipt; the baseline column is the run without bad groups",
		len(records), isolationRPS, strings.Join(limited, " and "), limitFor, strings.Join(busy, " and "), busyFor, traffic.RecordsAbout(records, groups))}
	return sc, nil
}

// isolationResult is one run of scenario g.
type isolationResult struct {
	othersP50, othersLast time.Duration // receipts of groups other than the bad ones, and of c2c chats
	badLast               time.Duration
	zim                   zimfake.Stats
	missing               int
}

// isolationRun preloads records into a fresh environment, runs one worker
// until it has committed them all, and measures when each receipt was set.
// trouble, if set, is applied to the simulator right after the worker
// starts.
func (r *runner) isolationRun(ctx context.Context, id string, records []traffic.Record, bad []string, trouble func(*zimfake.Server)) (isolationResult, error) {
	var res isolationResult
	zcfg := zimfake.DefaultConfig()
	zcfg.RPS, zcfg.Latency = isolationRPS, simulatorLatency
	e, err := r.newEnv(ctx, id, 8, zcfg)
	if err != nil {
		return res, err
	}
	defer e.close()
	tally := traffic.NewTally(traffic.DefaultConfig())
	if err := e.preload(ctx, len(records), replayed(records), func(rec traffic.Record, _ int) { tally.Add(rec) }); err != nil {
		return res, err
	}
	spec := workerSpec{name: id + "-receiptd", group: "bench-" + id + "-receiptd", set: map[string]string{
		"zim.rate_limit_rps":     fmt.Sprint(isolationRPS),
		"shutdown.drain_timeout": "5s",
	}}
	if trouble != nil {
		spec.afterStart = func() { trouble(e.box.ZIM) }
	}
	w, err := e.run(ctx, spec, int64(len(records)), r.scaled(3*time.Minute)+time.Minute)
	if err != nil {
		return res, err
	}
	seen := make(map[traffic.Receipt]bool)
	var others []time.Duration
	for _, a := range e.box.ZIM.Receipts() {
		k := traffic.Receipt{Action: a.Action, UserID: a.UserID, ConvID: a.ConvID, Seq: a.Seq}
		if seen[k] {
			continue
		}
		seen[k] = true
		d := a.At.Sub(w.started)
		if strings.HasPrefix(a.Action, "Group") && slices.Contains(bad, a.ConvID) {
			res.badLast = max(res.badLast, d)
			continue
		}
		others = append(others, d)
	}
	slices.Sort(others)
	res.othersP50, res.othersLast = quantile(others, 0.5), quantile(others, 1)
	res.zim = e.box.ZIM.Stats()
	res.missing = missingReceipts(tally, e.box.ZIM)
	return res, nil
}
