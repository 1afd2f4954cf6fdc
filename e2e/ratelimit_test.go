package e2e

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/receiptd/receiptd/zimapi/zimfake"
)

// Three workers in one group against a ZIM that allows 20 requests in any
// one-second span per action and counts rejected requests too; one worker
// is killed (-9) and one added during the run. Nothing is lost, and the
// workers together stay within the budget: each calls only in the time
// slots of the partitions it owns, so rate-limit answers (660300005) stay
// rare.
func TestSharedRateLimit(t *testing.T) {
	const events, rps = 4000, 20
	s := newScenario(t, setup{traffic: cleanTraffic, events: events, zim: zimOptions{RPS: rps}})
	w, b, n, z := s.w, s.b, s.n, s.z

	var live []*process
	for i := range 3 {
		live = append(live, startWorker(t, fmt.Sprintf("worker-%d", i+1), n, z, rps, nil))
	}
	all := slices.Clone(live)
	waitBalanced(t, live, joinTimeout)
	s.produce(t)
	want := w.tally.Receipts()

	waitReceipts(t, z, want/3, 5*time.Minute)
	victim := s.rng.IntN(len(live))
	live[victim].kill()
	t.Logf("kill -9 %s at %s, a third of the receipts at zimfake", live[victim].name, time.Since(s.start).Round(time.Millisecond))
	live = slices.Delete(live, victim, victim+1)

	waitReceipts(t, z, 2*want/3, 5*time.Minute)
	added := startWorker(t, "worker-4", n, z, rps, nil)
	live = append(live, added)
	all = append(all, added)
	t.Logf("added %s at %s, two thirds of the receipts at zimfake", added.name, time.Since(s.start).Round(time.Millisecond))
	waitBalanced(t, live, joinTimeout)

	waitCaughtUp(t, b, n, z, 5*time.Minute)
	d := checkReceipts(t, z, w)
	dl := checkDeadLetters(t, b, n, w, b.readAll(t, n.Source, sourcePartitions), true)
	stopWorkers(t, live, 60*time.Second)

	st := z.stats(t)
	var peaks []string
	for _, action := range slices.Sorted(maps.Keys(st.PeakPerSecond)) {
		peaks = append(peaks, fmt.Sprintf("%s=%d", action, st.PeakPerSecond[action]))
	}
	share := 0.0
	if st.Calls > 0 {
		share = float64(st.RateLimited) / float64(st.Calls)
	}
	// The workers call only in the time slots of the partitions they own,
	// and a partition gained at a rebalance (after the kill, after the
	// added worker joined) is used a little over a second later, so no
	// second of zimfake's holds more than the limit as long as calls reach
	// it within about 10ms of leaving. On this machine, shared with the
	// broker, calls sometimes arrive later than that while the workers
	// fetch a backlog: 1 to 6 of some 1,570 calls were answered 660300005
	// in three runs (up to 0.38 %). A worker that overran its share would
	// show many more.
	if share > 0.01 {
		t.Errorf("%d of %d calls (%.2f%%) were answered 660300005: the workers overran the %d/s budget; peaks per action: %s",
			st.RateLimited, st.Calls, 100*share, rps, strings.Join(peaks, " "))
	}
	const show = 20
	limited := rateLimitedCalls(all)
	for _, l := range limited[:min(show, len(limited))] {
		t.Logf("660300005: %s", l)
	}
	if len(limited) > show {
		t.Logf("660300005: ... %d more in the workers' logs", len(limited)-show)
	}
	figures{events: events, delivered: d.distinct, duplicates: d.duplicates, deadLetter: dl.records, start: s.start,
		extra: fmt.Sprintf("rps=%d rate_limited_share=%.3f%% peak_per_second: %s ideal_calls=%d %s",
			rps, 100*share, strings.Join(peaks, " "), w.tally.IdealCalls(10), summarizeCalls(st))}.log(t)
}

// rateLimitedCalls describes every 660300005 answer the workers logged: the
// worker, the action and how long after the worker's last join it came, the
// facts that explain where the shared budget was overrun.
func rateLimitedCalls(ps []*process) []string {
	var out []string
	for _, p := range ps {
		var joinedAt time.Time
		generation := -1
		for _, l := range p.stderr.matching(func(l logLine) bool { return l.Msg == msgJoined || l.Msg == msgNotAccepted }) {
			at, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(l.Fields["time"]))
			if l.Msg == msgJoined {
				joinedAt, generation = at, l.joined().Generation
				continue
			}
			if int64(number(l.Fields["code"])) != zimfake.CodeRateLimited {
				continue
			}
			out = append(out, fmt.Sprintf("%s %v, %s after joining generation %d", p.name, l.Fields["action"],
				at.Sub(joinedAt).Round(time.Millisecond), generation))
		}
	}
	return out
}
