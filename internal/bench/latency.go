package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/receiptd/receiptd/internal/promscrape"
	"github.com/receiptd/receiptd/internal/traffic"
	"github.com/receiptd/receiptd/retry"
	"github.com/receiptd/receiptd/zimapi"
	"github.com/receiptd/receiptd/zimapi/zimfake"
)

// latencyRate is the light load of scenario (c), in events per second.
const latencyRate = 20

// goalLatencySlack is what the p99 may add to worker.linger.
const goalLatencySlack = 50 * time.Millisecond

// defaultLinger is worker.linger's default, which the scenario runs with.
const defaultLinger = 200 * time.Millisecond

// latency is scenario (c): receiptd with its defaults, joined and idle,
// then events produced one by one at 20/s (Poisson arrivals) for a fixed
// time; latency runs from an event's read_at to the API call that
// carried its receipt, as the simulator recorded it.
func (r *runner) latency(ctx context.Context) (Scenario, error) {
	sc := Scenario{Title: "light-load latency, read_at to API call"}
	e, gen, err := r.startEnv(ctx, envSpec{id: "c", partitions: 8, traffic: r.seededTraffic(), rps: zimapi.RateLimitRPS, delayed: true})
	if err != nil {
		return sc, err
	}
	defer e.close()

	group := "bench-c-receiptd"
	keys := e.keys(group)
	keys["shutdown.drain_timeout"] = "5s"
	addr, err := promscrape.FreeAddr()
	if err != nil {
		return sc, err
	}
	keys["http.listen"] = addr
	w, err := e.startWorker("c-receiptd", keys)
	if err != nil {
		return sc, err
	}
	defer w.kill()
	// The figure is the steady state: traffic starts once the worker has
	// joined (it commits the start of every partition it was assigned at
	// once) and its rate budget has its share, which a pod receives one
	// window after it joined.
	if err := waitFor(ctx, time.Minute, 50*time.Millisecond, []*child{w}, func(ctx context.Context) (bool, error) {
		c, err := e.watch.committed(ctx, group, e.partitions)
		if err != nil || len(c) < e.partitions {
			return false, err
		}
		for _, action := range actionNames {
			ceiling, err := promscrape.Series(ctx, addr, `receiptd_rate_ceiling_requests_per_second{action="`+action+`"}`)
			if err != nil || ceiling == 0 {
				return false, err
			}
		}
		return true, nil
	}); err != nil {
		return sc, fmt.Errorf("receiptd worker joining: %w", err)
	}

	p, err := newProducer(e.box.Brokers, e.topic, e.partitions, 0)
	if err != nil {
		return sc, err
	}
	defer p.close()
	duration := r.scaled(45 * time.Second)
	readAt := make(map[traffic.Receipt]time.Time)
	rng := rand.New(rand.NewPCG(uint64(r.opts.Seed), 0x6c6174656e6379)) // "latency"
	began := time.Now()
	at := began
	produced := 0
	for at.Sub(began) < duration {
		at = at.Add(time.Duration(rng.ExpFloat64() / latencyRate * float64(time.Second)))
		if err := sleepUntil(ctx, at); err != nil {
			return sc, err
		}
		rec := gen.Next(time.Now())
		if !rec.Malformed {
			ev := rec.Event
			for _, seq := range ev.Seqs {
				k := traffic.Receipt{Action: ev.Action(), UserID: ev.UserID, ConvID: ev.Conv(), Seq: seq}
				if _, seen := readAt[k]; !seen {
					readAt[k] = ev.ReadAt
				}
			}
		}
		if err := p.produceSync(ctx, rec); err != nil {
			return sc, err
		}
		produced++
	}
	r.logf("scenario c: produced %d events in %s", produced, time.Since(began).Round(time.Millisecond))
	if _, err := e.follow(ctx, group, int64(produced), time.Minute, []*child{w}); err != nil {
		return sc, fmt.Errorf("receiptd worker: %w", err)
	}
	if _, err := w.stop(30 * time.Second); err != nil {
		return sc, err
	}

	lat := receiptLatencies(e.box.ZIM.Receipts(), readAt)
	zs := e.box.ZIM.Stats()
	p50, p99, worst := quantile(lat, 0.50), quantile(lat, 0.99), quantile(lat, 1)
	r.logf("scenario c: %d receipts, latency p50 %s p99 %s max %s", len(lat), p50, p99, worst)
	sc.Figures = []Figure{
		figure("latency p50", "ms", ms(p50)),
		figure("latency p99", "ms", ms(p99)).goal("<=", ms(defaultLinger+goalLatencySlack)),
		figure("latency max", "ms", ms(worst)),
		figure("receipts measured", "", float64(len(lat))),
		figure("seqs per accepted call", "", ratioOf(zs.AcceptedReceipts, zs.AcceptedCalls)),
		figure("660300005 answers", "", float64(zs.RateLimited)),
	}
	sc.Notes = []string{fmt.Sprintf("%d events at %d/s (Poisson arrivals) for %s, each produced on its own, from when the worker had joined and had its rate share; receiptd defaults (linger %s, 20 requests/s per action); simulator latency log-normal p50 15ms p99 120ms (not part of the figure: the call is timed when it reaches the simulator)",
		produced, latencyRate, duration, defaultLinger)}
	return sc, nil
}

// actionNames are the four receipt actions as receiptd's metrics label them.
var actionNames = []string{"GroupReadReceipt", "C2cReadReceipt", "GroupDeliveryReceipt", "C2cDeliveryReceipt"}

// receiptLatencies returns, for every receipt of readAt that the simulator
// accepted, the time from its read_at to the first call that carried it.
func receiptLatencies(accepted []zimfake.Receipt, readAt map[traffic.Receipt]time.Time) []time.Duration {
	seen := make(map[traffic.Receipt]bool, len(readAt))
	out := make([]time.Duration, 0, len(readAt))
	for _, a := range accepted {
		k := traffic.Receipt{Action: a.Action, UserID: a.UserID, ConvID: a.ConvID, Seq: a.Seq}
		t, ok := readAt[k]
		if !ok || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, a.At.Sub(t))
	}
	slices.Sort(out)
	return out
}

// quantile returns the q-quantile of sorted by the nearest-rank method; 0
// for no values.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(rank, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// sleepUntil waits until t or ctx ends.
func sleepUntil(ctx context.Context, t time.Time) error { return retry.Sleep(ctx, time.Until(t)) }
