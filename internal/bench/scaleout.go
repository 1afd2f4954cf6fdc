package bench

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/receiptd/receiptd/internal/traffic"
	"github.com/receiptd/receiptd/zimapi/zimfake"
)

// Scale-out setup and goals.
const (
	scaleOutWorkers    = 3
	scaleOutPartitions = 24
	scaleOutRPS        = 20
	goalScaleOutCalls  = 18  // calls/s: three pods at floor(20 x 8/24) = 6/s each
	goalScaleOutLimPct = 1.0 // % of calls answered 660300005
)

// scaleOut is scenario (d): three receiptd workers in one group on 24
// partitions, sharing one simulator limited to 20 requests/s, with a
// backlog deeper than they can send. Once the group is stable, the
// simulator's counters over a fixed window give the aggregate rate and the
// share of calls it rejected; the whole run, rebalances included, is
// reported too.
func (r *runner) scaleOut(ctx context.Context) (Scenario, error) {
	sc := Scenario{Title: "scale-out: 3 workers, 24 partitions, one 20/s limit"}
	// One action, so that one limit is shared: group reads, all valid.
	tcfg := traffic.DefaultConfig()
	tcfg.Seed, tcfg.C2CFraction, tcfg.DeliveryFraction = r.opts.Seed, 0, 0
	tcfg.MalformedFraction, tcfg.FailingFraction = 0, 0
	zcfg := zimfake.DefaultConfig()
	zcfg.RPS = scaleOutRPS
	zcfg.Latency = zimfake.LogNormalLatency(15*time.Millisecond, 120*time.Millisecond)
	e, err := r.newEnv(ctx, "d", scaleOutPartitions, zcfg)
	if err != nil {
		return sc, err
	}
	defer e.close()
	gen, err := traffic.New(tcfg)
	if err != nil {
		return sc, err
	}
	// Far more than the window can send: every worker stays busy.
	const backlog = 100_000
	next := func() traffic.Record { return gen.Next(time.Now()) }
	if err := e.preload(ctx, backlog, next, nil); err != nil {
		return sc, err
	}

	group := "bench-d"
	var kids []*child
	defer func() {
		for _, k := range kids {
			k.kill()
		}
	}()
	began := time.Now()
	addrs := make([]string, scaleOutWorkers)
	for i := range scaleOutWorkers {
		if addrs[i], err = freeAddr(); err != nil {
			return sc, err
		}
		keys := e.keys(group)
		keys["http.listen"] = addrs[i]
		keys["zim.rate_limit_rps"] = fmt.Sprint(scaleOutRPS)
		keys["kafka.client_id"] = fmt.Sprintf("receiptd-%d", i+1)
		keys["shutdown.drain_timeout"] = "2s"
		w, err := e.startWorker(fmt.Sprintf("d-receiptd-%d", i+1), keys)
		if err != nil {
			return sc, err
		}
		kids = append(kids, w)
	}
	if err := waitFor(ctx, 2*time.Minute, 100*time.Millisecond, kids, func(ctx context.Context) (bool, error) {
		n, err := e.watch.members(ctx, group)
		return n == scaleOutWorkers, err
	}); err != nil {
		return sc, fmt.Errorf("group of %d: %w", scaleOutWorkers, err)
	}
	joined := time.Since(began)
	// A rate-limit answer while the group formed halves a pod's rate,
	// which then climbs back over seconds: the window opens once every
	// pod is back at its ceiling, as it would be in the steady state.
	settleFrom := time.Now()
	if err := waitFor(ctx, time.Minute, 250*time.Millisecond, kids, func(ctx context.Context) (bool, error) {
		var sum float64
		for _, addr := range addrs {
			cur, err := scrape(ctx, addr, `receiptd_rate_current_requests_per_second{action="GroupReadReceipt"}`)
			if err != nil {
				return false, err
			}
			ceil, err := scrape(ctx, addr, `receiptd_rate_ceiling_requests_per_second{action="GroupReadReceipt"}`)
			if err != nil {
				return false, err
			}
			if cur < ceil {
				return false, nil
			}
			sum += ceil
		}
		return sum > 0 && sum <= scaleOutRPS, nil
	}); err != nil {
		return sc, fmt.Errorf("rates settling: %w", err)
	}
	settle := time.Since(settleFrom)
	window := r.scaled(30 * time.Second)
	z0, t0 := e.box.ZIM.Stats(), time.Now()
	if err := waitFor(ctx, window, 250*time.Millisecond, kids, func(context.Context) (bool, error) { return false, nil }); err != nil && !isNotReached(err) {
		return sc, err
	}
	z1, t1 := e.box.ZIM.Stats(), time.Now()
	whole := t1.Sub(began)
	for _, k := range kids {
		if _, err := k.stop(30 * time.Second); err != nil {
			return sc, err
		}
	}

	// The counters' rate depends on where the window's edges fall between
	// calls; the accepted calls' own times do not.
	steady := callRate(e.box.ZIM.Receipts(), t0, t1)
	calls := z1.Calls - z0.Calls
	limited := z1.RateLimited - z0.RateLimited
	perSec := float64(calls) / t1.Sub(t0).Seconds()
	accepted := float64(z1.AcceptedCalls-z0.AcceptedCalls) / t1.Sub(t0).Seconds()
	r.logf("scenario d: group stable after %s; in %s: %d calls (%.2f/s), %d rate-limited; whole run %d calls, %d rate-limited, peak %v",
		joined.Round(time.Millisecond), t1.Sub(t0).Round(time.Millisecond), calls, perSec, limited, z1.Calls, z1.RateLimited, z1.PeakPerSecond)
	sc.Figures = []Figure{
		figure("aggregate calls/s (stable group)", "/s", steady).goal(">=", goalScaleOutCalls),
		figure("calls in the window / its length", "/s", perSec),
		figure("accepted calls in the window / its length", "/s", accepted),
		figure("rate-limited (stable group)", "%", 100*ratioOf(limited, calls)).goal("<=", goalScaleOutLimPct),
		figure("rate-limited (whole run, rebalances included)", "%", 100*ratioOf(z1.RateLimited, z1.Calls)),
		figure("peak calls in any 1 s", "", float64(z1.PeakPerSecond["GroupReadReceipt"])),
		figure("seqs per accepted call", "", ratioOf(z1.AcceptedReceipts, z1.AcceptedCalls)),
	}
	sc.Notes = []string{fmt.Sprintf("%d group-read records preloaded on %d partitions; %d workers with rate_share partitions (each floor(20 x 8/24) = 6/s); group stable %s after start, every pod's rate back at its ceiling %s later; window %s; whole run %s",
		backlog, scaleOutPartitions, scaleOutWorkers, joined.Round(100*time.Millisecond), settle.Round(100*time.Millisecond), window, whole.Round(time.Second))}
	return sc, nil
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
