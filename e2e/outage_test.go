package e2e

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// A 30-second ZIM outage (HTTP 503 to every call) while events keep
// arriving, then recovery: the worker retries without dead-lettering
// anything (invariant 3) and, once ZIM is back, every receipt reaches it.
func TestZIMOutage(t *testing.T) {
	const (
		events  = 6000
		perSec  = 150 // events/s: 40 s of traffic, spanning the outage
		outage  = 30 * time.Second
		backoff = 5 * time.Second
	)
	s := newScenario(t, setup{traffic: cleanTraffic, events: events, zim: zimOptions{RPS: fastRPS}})
	w, b, n, z := s.w, s.b, s.n, s.z
	// A shorter longest backoff than the default 30 s keeps the recovery
	// after the outage within seconds; the backoff's growth itself is the
	// worker's unit tests' business.
	p := startWorker(t, "worker", n, z, fastRPS, map[string]string{"RECEIPTD_WORKER_BACKOFF_MAX": backoff.String()})
	p.waitJoined(t, 1, joinTimeout)

	ctx, cancel := context.WithCancel(context.Background())
	waitProduced := b.producePaced(ctx, n.Source, w.records, perSec, time.Second)
	t.Cleanup(func() {
		cancel()
		_ = waitProduced()
	})
	waitReceipts(t, z, 1, time.Minute)

	z.outage(t, true)
	t.Logf("outage on at %s", time.Since(s.start).Round(time.Millisecond))
	before := z.stats(t)
	// The outage lasts a fixed time by design: this is not a wait for an
	// event.
	timer := time.NewTimer(outage)
	select {
	case <-timer.C:
	case <-p.exited:
		t.Fatalf("the worker exited during the outage: %v", p.waitErr)
	}
	during := z.stats(t)
	z.outage(t, false)
	outageEnd := time.Now()
	unavailable := during.ByHTTPStatus[http.StatusServiceUnavailable]
	t.Logf("outage off at %s: %d calls answered 503 during it; %d receipts accepted before it",
		time.Since(s.start).Round(time.Millisecond), unavailable, before.DistinctReceipts)
	if unavailable == 0 {
		t.Errorf("no call reached zimfake during the %s outage: the worker stopped calling instead of retrying", outage)
	}

	if err := waitProduced(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	waitCaughtUp(t, b, n, z, 3*time.Minute)
	recovery := time.Since(outageEnd)
	// The failed calls were never accepted, so retrying them repeats
	// nothing: one worker run sends each receipt once.
	d, dl := s.checkOutcome(t, [][]int64{noCommits()}, true)
	stopWorker(t, p, 30*time.Second)
	figures{events: events, delivered: d.distinct, duplicates: d.duplicates, deadLetter: dl.records, start: s.start,
		extra: fmt.Sprintf("outage=%s calls_answered_503=%d caught_up_after_outage=%s %s",
			outage, unavailable, recovery.Round(100*time.Millisecond), summarizeCalls(z.stats(t)))}.log(t)
}
