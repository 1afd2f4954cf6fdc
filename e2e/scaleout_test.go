package e2e

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/receiptd/receiptd/internal/promscrape"
	"github.com/receiptd/receiptd/internal/traffic"
)

// Five workers in one group on 24 partitions share ZIM's limit of 20
// requests per second and action, through the slot schedule: their shares
// of the limit add up to the whole, every pod uses its own, ZIM answers
// 660300005 to at most 0.5 % of the calls, and every receipt arrives. Five
// does not divide 24 or 20: the former share, rounded down per pod, used
// 19 of the 20 requests per second here.
//
// The peak of calls in one second that zimfake saw is logged, not
// asserted: the pods keep every second within the limit as long as calls
// reach ZIM within a few milliseconds of leaving (the retry package's
// tests prove that bound under controlled delays), but on a machine shared
// with the broker and the simulator a call now and then arrives tens of
// milliseconds late, and ZIM then answers one call in a second 660300005,
// which receiptd retries after slowing down.
func TestFivePodsShareTheWholeLimit(t *testing.T) {
	const (
		pods, partitions, rps = 5, 24, 20
		action                = "GroupReadReceipt"
	)
	// Group reads only, so that one action's limit is the one shared, and
	// enough of them to keep it busy for about half a minute.
	groupReads := func(seed uint64) traffic.Config {
		cfg := cleanTraffic(seed)
		cfg.C2CFraction, cfg.DeliveryFraction = 0, 0
		return cfg
	}
	s := newScenario(t, setup{traffic: groupReads, events: 2500, partitions: partitions, zim: zimOptions{RPS: rps}})
	w, b, n, z := s.w, s.b, s.n, s.z

	var ps []*process
	var addrs []string
	for i := range pods {
		addr := freeAddr(t)
		addrs = append(addrs, addr)
		ps = append(ps, startWorker(t, fmt.Sprintf("worker-%d", i+1), n, z, rps, map[string]string{"RECEIPTD_HTTP_LISTEN": addr}))
	}
	waitBalancedOn(t, ps, partitions, joinTimeout)
	// A partition a pod gained is used a little over a second after it
	// joined; then every pod holds its share, and the shares add up to 1.
	var shares []float64
	waitUntil(t, 30*time.Second, "the pods' shares add up to the whole limit", func() (bool, string) {
		shares = shares[:0]
		sum := 0.0
		for _, addr := range addrs {
			v, err := scrapeMetric(addr, `receiptd_rate_share_ratio{action="`+action+`"}`)
			if err != nil {
				return false, err.Error()
			}
			shares = append(shares, v)
			sum += v
		}
		return math.Abs(sum-1) < 1e-9, fmt.Sprintf("shares %v", shares)
	})
	t.Logf("shares of the limit per pod: %v", shares)

	s.produce(t)
	// The steady window: from a few seconds after the backlog is there
	// until most of its calls are made.
	time.Sleep(3 * time.Second)
	z0, t0 := z.stats(t), time.Now()
	waitReceipts(t, z, 3*w.tally.Receipts()/4, 3*time.Minute)
	z1, t1 := z.stats(t), time.Now()
	steady := float64(z1.AcceptedCalls-z0.AcceptedCalls) / t1.Sub(t0).Seconds()

	hw := b.highWater(t, n.Source, partitions)
	waitUntil(t, 3*time.Minute, "committed offsets reach the high-water marks", func() (bool, string) {
		c := b.committed(t, n.Group, n.Source, partitions)
		return slices.Equal(c, hw), fmt.Sprintf("committed %s; high-water %s", offsetsString(c), offsetsString(hw))
	})
	d := checkReceipts(t, z, w)
	perPod := make([]float64, pods)
	for i, addr := range addrs {
		v, err := scrapeMetric(addr, `receiptd_api_calls_total{action="`+action+`",class="success"}`)
		if err != nil {
			t.Fatal(err)
		}
		perPod[i] = v
		if v == 0 {
			t.Errorf("%s made no call: every pod owns partitions and must use its share", ps[i].name)
		}
	}
	stopWorkers(t, ps, 60*time.Second)

	st := z.stats(t)
	limitedPct := 100 * float64(st.RateLimited) / float64(max(st.Calls, 1))
	peak := st.PeakPerSecond[action]
	if limitedPct > 0.5 {
		t.Errorf("%d of %d calls (%.2f%%) were answered 660300005, want at most 0.5%%; peak %d calls in one second; %s",
			st.RateLimited, st.Calls, limitedPct, peak, strings.Join(rateLimitedCalls(ps), "; "))
	}
	figures{events: len(w.records), delivered: d.distinct, duplicates: d.duplicates, start: s.start,
		extra: fmt.Sprintf("pods=%d partitions=%d rps=%d steady_calls_per_sec=%.2f window=%s peak_per_second=%d rate_limited_share=%.2f%% calls_per_pod=%v %s",
			pods, partitions, rps, steady, t1.Sub(t0).Round(100*time.Millisecond), peak, limitedPct, perPod, summarizeCalls(st))}.log(t)
}

// scrapeMetric reads one series (name and labels exactly as exposed) from
// a worker's /metrics.
func scrapeMetric(addr, series string) (float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return promscrape.Series(ctx, addr, series)
}
