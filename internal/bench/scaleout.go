package bench

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/receiptd/receiptd/internal/promscrape"
	"github.com/receiptd/receiptd/zimapi/zimfake"
)

// Scale-out setup and goals.
const (
	scaleOutPartitions = 24
	scaleOutRPS        = 20
	scaleOutSkew       = 20 * time.Millisecond // each pod's clock, ahead or behind
	goalScaleOutCalls  = 0.975 * scaleOutRPS   // calls/s: 97.5 % of the limit
	goalScaleOutLimPct = 0.5                   // % of calls answered 660300005
)

// scaleOutPods are the pod counts of scenario (d); a run with --scale
// below 1 takes the fewest, the many and one between.
var (
	scaleOutPods      = []int{1, 2, 3, 5, 8, 12, 24}
	scaleOutPodsQuick = []int{1, 3, 24}
)

// scaleOutRun is one group of receiptd workers sharing the simulator's
// limit: how many, and how they are configured.
type scaleOutRun struct {
	pods     int
	skewed   bool // clocks alternately scaleOutSkew ahead and behind
	baseline bool // the former share: whole requests per second per pod
}

func (s scaleOutRun) String() string {
	switch {
	case s.baseline:
		return fmt.Sprintf("%d pods, floor share", s.pods)
	case s.skewed:
		return fmt.Sprintf("%d pods, clocks ±%v", s.pods, scaleOutSkew)
	}
	return fmt.Sprintf("%d pods", s.pods)
}

// scaleOutResult is what the simulator saw of one run.
type scaleOutResult struct {
	steady     float64 // accepted calls/s in the steady window
	peak       int64   // most calls in any 1 s span, the whole run
	limitedPct float64 // % of calls answered 660300005, the whole run
	calls      int64   // the whole run
	settled    time.Duration
	recovered  bool // every pod's rate was back at its ceiling when the window opened
}

// scaleOut is scenario (d): groups of 1 to 24 receiptd workers on 24
// partitions share one simulator limited to 20 requests/s, with a backlog
// deeper than they can send; each pod count runs with clocks in step, with
// clocks 20ms ahead and behind, and with the former floor share as the
// baseline. Every run starts a fresh group on a reset simulator, so that
// its peak and rate-limit answers count everything from the first join to
// the last pod's exit; the aggregate rate is measured over a steady window
// once every pod holds its share.
func (r *runner) scaleOut(ctx context.Context) (Scenario, error) {
	sc := Scenario{Title: "scale-out: 1 to 24 workers, 24 partitions, one 20/s limit"}
	// One action, so that one limit is shared: group reads, all valid.
	tcfg := r.seededTraffic()
	tcfg.C2CFraction, tcfg.DeliveryFraction, tcfg.MalformedFraction, tcfg.FailingFraction = 0, 0, 0, 0
	e, gen, err := r.startEnv(ctx, envSpec{id: "d", partitions: scaleOutPartitions, traffic: tcfg, rps: scaleOutRPS, delayed: true})
	if err != nil {
		return sc, err
	}
	defer e.close()
	// Far more than the runs can send: every run reads from the start of
	// the topic, and every pod stays busy.
	const backlog = 20_000
	if err := e.preload(ctx, backlog, generated(gen), nil); err != nil {
		return sc, err
	}

	pods := scaleOutPods
	if r.opts.Scale < 1 {
		pods = scaleOutPodsQuick
	}
	window := max(5*time.Second, r.scaled(20*time.Second))
	for _, n := range pods {
		runs := []scaleOutRun{{pods: n}, {pods: n, skewed: true}, {pods: n, baseline: true}}
		results := make([]scaleOutResult, len(runs))
		for i, run := range runs {
			if results[i], err = r.scaleOutOnce(ctx, e, run, window); err != nil {
				return sc, fmt.Errorf("%v: %w", run, err)
			}
			res := results[i]
			r.logf("scenario d: %v: %.2f calls/s, peak %d in 1 s, %.2f%% rate-limited of %d calls; window opened %s after start, rates recovered: %v",
				run, res.steady, res.peak, res.limitedPct, res.calls, res.settled.Round(100*time.Millisecond), res.recovered)
		}
		sc.Figures = append(sc.Figures, scaleOutFigures(runs[0], results[0], &results[2])...)
		sc.Figures = append(sc.Figures, scaleOutFigures(runs[1], results[1], nil)...)
	}
	sc.Notes = []string{
		fmt.Sprintf("%d group-read records preloaded on %d partitions; every run a fresh group, reading from the start, on a reset simulator; "+
			"aggregate = accepted calls over a %s window from 3 s after every pod holds its share, from the calls' own times; peak and rate-limited over the whole run, joins and exits included",
			backlog, scaleOutPartitions, window),
		fmt.Sprintf("baseline (the \"naive\" column): the former share, %d requests/s x partitions / %d rounded down per pod (receiptd run --test-floor-shares); clocks ±%v: receiptd run --test-clock-offset, alternately ahead and behind",
			scaleOutRPS, scaleOutPartitions, scaleOutSkew),
	}
	return sc, nil
}

// scaleOutOnce runs one group until its shares settle, measures a steady
// window, and stops every worker.
func (r *runner) scaleOutOnce(ctx context.Context, e *env, run scaleOutRun, window time.Duration) (scaleOutResult, error) {
	var res scaleOutResult
	e.box.ZIM.Reset()
	group := fmt.Sprintf("bench-d-%d", run.pods)
	args := []string(nil)
	switch {
	case run.baseline:
		group += "-floor"
		args = append(args, "--test-floor-shares")
	case run.skewed:
		group += "-skewed"
	}
	var kids []*child
	defer func() {
		for _, k := range kids {
			k.kill()
		}
	}()
	began := time.Now()
	addrs := make([]string, run.pods)
	for i := range run.pods {
		var err error
		if addrs[i], err = promscrape.FreeAddr(); err != nil {
			return res, err
		}
		keys := e.keys(group)
		keys["http.listen"] = addrs[i]
		keys["zim.rate_limit_rps"] = fmt.Sprint(scaleOutRPS)
		keys["kafka.client_id"] = fmt.Sprintf("receiptd-%d", i+1)
		// Quick rebalances while two dozen pods join one by one.
		keys["kafka.heartbeat_interval"] = "1s"
		keys["kafka.session_timeout"] = "10s"
		keys["kafka.join_group_backoff"] = "1s"
		keys["shutdown.rebalance_drain_timeout"] = "3s"
		keys["shutdown.drain_timeout"] = "2s"
		a := args
		if run.skewed {
			skew := scaleOutSkew
			if i%2 == 1 {
				skew = -skew
			}
			a = append(slices.Clone(args), "--test-clock-offset", skew.String())
		}
		w, err := e.startWorker(fmt.Sprintf("d-%s-receiptd-%d", group, i+1), keys, a...)
		if err != nil {
			return res, err
		}
		kids = append(kids, w)
	}
	if err := waitFor(ctx, 3*time.Minute, 100*time.Millisecond, kids, func(ctx context.Context) (bool, error) {
		n, err := e.watch.members(ctx, group)
		return n == run.pods, err
	}); err != nil {
		return res, fmt.Errorf("group of %d: %w", run.pods, err)
	}
	// The window opens once the pods' shares add up to the whole limit
	// (a partition gained at a rebalance is used a little over a second
	// later) and every pod's rate is back at its ceiling after any
	// rate-limit answer, or after half a minute: the former share draws
	// rate-limit answers all the time with many pods, and never settles.
	const action = `{action="GroupReadReceipt"}`
	if err := waitFor(ctx, 2*time.Minute, 250*time.Millisecond, kids, func(ctx context.Context) (bool, error) {
		var shares float64
		for _, addr := range addrs {
			share, err := promscrape.Series(ctx, addr, "receiptd_rate_share_ratio"+action)
			if err != nil {
				return false, err
			}
			shares += share
		}
		return math.Abs(shares-1) < 1e-9, nil
	}); err != nil {
		return res, fmt.Errorf("shares settling: %w", err)
	}
	err := waitFor(ctx, 30*time.Second, 250*time.Millisecond, kids, func(ctx context.Context) (bool, error) {
		for _, addr := range addrs {
			cur, err := promscrape.Series(ctx, addr, "receiptd_rate_current_requests_per_second"+action)
			if err != nil {
				return false, err
			}
			ceil, err := promscrape.Series(ctx, addr, "receiptd_rate_ceiling_requests_per_second"+action)
			if err != nil {
				return false, err
			}
			if cur < ceil {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil && !isNotReached(err) {
		return res, err
	}
	res.recovered = err == nil
	// A pod's first second after it got its partitions is not the steady
	// state: its first calls hold their places longer (cold), which the
	// next round makes up. The window starts a few rounds later.
	if err := waitFor(ctx, 3*time.Second, 250*time.Millisecond, kids, func(context.Context) (bool, error) { return false, nil }); err != nil && !isNotReached(err) {
		return res, err
	}
	res.settled = time.Since(began)
	t0 := time.Now()
	if err := waitFor(ctx, window, 250*time.Millisecond, kids, func(context.Context) (bool, error) { return false, nil }); err != nil && !isNotReached(err) {
		return res, err
	}
	t1 := time.Now()
	if err := stopAll(kids, 30*time.Second); err != nil {
		return res, err
	}
	kids = nil
	z := e.box.ZIM.Stats()
	// The counters' rate depends on where the window's edges fall between
	// calls; the accepted calls' own times do not.
	res.steady = callRate(e.box.ZIM.Receipts(), t0, t1)
	res.peak = z.PeakPerSecond["GroupReadReceipt"]
	res.calls = z.Calls
	res.limitedPct = 100 * ratioOf(z.RateLimited, z.Calls)
	return res, nil
}

// stopAll stops the workers together, as a rollout deleting every pod
// does, and returns the first error.
func stopAll(kids []*child, grace time.Duration) error {
	errs := make([]error, len(kids))
	var wg sync.WaitGroup
	for i, k := range kids {
		wg.Go(func() { _, errs[i] = k.stop(grace) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// scaleOutFigures are one run's figures with their goals, beside the
// baseline's where there is one.
func scaleOutFigures(run scaleOutRun, res scaleOutResult, base *scaleOutResult) []Figure {
	name := run.String()
	figs := []Figure{
		figure(name+": aggregate accepted calls/s", "/s", res.steady).goal(">=", goalScaleOutCalls),
		figure(name+": peak calls in any 1 s", "", float64(res.peak)).goal("<=", scaleOutRPS),
		figure(name+": answered 660300005", "%", res.limitedPct).goal("<=", goalScaleOutLimPct),
	}
	if base != nil {
		figs[0] = figs[0].vs(base.steady)
		figs[1] = figs[1].vs(float64(base.peak))
		figs[2] = figs[2].vs(base.limitedPct)
	}
	return figs
}

// callRate returns the rate of the accepted calls between from and to,
// from their own times: calls less one over the time from the first to the
// last. The receipts of one call share its time.
func callRate(receipts []zimfake.Receipt, from, to time.Time) float64 {
	var times []time.Time
	for _, r := range receipts {
		if r.At.Before(from) || r.At.After(to) {
			continue
		}
		if n := len(times); n == 0 || !times[n-1].Equal(r.At) {
			times = append(times, r.At)
		}
	}
	slices.SortFunc(times, time.Time.Compare)
	times = slices.CompactFunc(times, time.Time.Equal)
	if len(times) < 2 {
		return nan()
	}
	return float64(len(times)-1) / times[len(times)-1].Sub(times[0]).Seconds()
}
