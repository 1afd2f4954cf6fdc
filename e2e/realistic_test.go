package e2e

import (
	"fmt"
	"testing"
	"time"
)

// fastRPS is the rate limit, per action, of scenarios that are not about
// the rate limit: high enough that the pipeline, not the budget, sets the
// pace.
const fastRPS = 2000

// Realistic traffic through one worker: every receipt the traffic must
// produce reaches ZIM, exactly; the dead-letter topic holds exactly the
// malformed records (invalid_event) and the ones ZIM rejects (rejected,
// 660400103/660400104), once each, with their source coordinates and the
// source record's key and value.
func TestRealisticTraffic(t *testing.T) {
	const events = 100_000
	s := newScenario(t, setup{traffic: realisticTraffic, events: events, zim: zimOptions{RPS: fastRPS}, rejectFailing: true})
	w, b, n, z := s.w, s.b, s.n, s.z

	s.produce(t)
	p := startWorker(t, "worker", n, z, fastRPS, nil)
	p.waitJoined(t, 1, joinTimeout)
	waitCaughtUp(t, b, n, z, 5*time.Minute)
	processed := time.Since(s.start)

	// One worker run without crashes, rebalances or failed calls: a
	// receipt reaches ZIM twice only where the traffic holds it twice.
	d, dl := s.checkOutcome(t, [][]int64{noCommits()}, true)
	stopWorker(t, p, 30*time.Second)
	st := z.stats(t)
	figures{events: events, delivered: d.distinct, duplicates: d.duplicates, deadLetter: dl.records, start: s.start,
		extra: fmt.Sprintf("receipts_expected=%d malformed=%d rejected=%d ideal_calls=%d %s processed_in=%s",
			w.tally.Receipts(), w.tally.Malformed(), w.tally.Rejected(), w.tally.IdealCalls(10), summarizeCalls(st),
			processed.Round(100*time.Millisecond))}.log(t)
}
