package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/receiptd/receiptd/internal/traffic"
)

// SIGTERM with work pending (invariant 5): a slow ZIM and a large backlog
// leave the worker with records in flight when the signal comes. It exits
// 0 within shutdown.drain_timeout, and its committed offsets cover only
// records whose receipts reached ZIM; what it could not drain is consumed
// again by the next worker, so nothing is lost.
func TestSIGTERMCommitsOnlyWhatWasDone(t *testing.T) {
	const (
		events = 20000
		rps    = 20
		drain  = 4 * time.Second // plus the heartbeat interval, within the 6 s session
		// Committing, leaving the group and closing connections after the
		// drain.
		margin = 3 * time.Second
	)
	s := newScenario(t, setup{traffic: cleanTraffic, events: events,
		zim: zimOptions{RPS: rps, LatencyP50: 200 * time.Millisecond, LatencyP99: 800 * time.Millisecond}})
	w, b, n, z := s.w, s.b, s.n, s.z
	s.produce(t)

	p := startWorker(t, "worker-1", n, z, rps, map[string]string{"RECEIPTD_SHUTDOWN_DRAIN_TIMEOUT": drain.String()})
	p.waitJoined(t, 1, joinTimeout)
	waitUntil(t, time.Minute, "a first commit", func() (bool, string) {
		c := b.committed(t, n.Group, n.Source, sourcePartitions)
		for _, o := range c {
			if o > 0 {
				return true, ""
			}
		}
		return false, "committed " + offsetsString(c)
	})

	code, took := p.terminate(t, 2*(drain+margin))
	if code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	if took > drain+margin {
		t.Errorf("exited %s after SIGTERM, want within the drain timeout %s plus %s", took.Round(time.Millisecond), drain, margin)
	}
	if p.stderr.count(msgShutdownComplete) != 1 {
		t.Errorf("no %q line in the log", msgShutdownComplete)
	}
	// The worker must have had work in flight when the signal came, or
	// this test would show nothing about draining.
	revoked := p.stderr.matching(func(l logLine) bool { return l.Msg == msgRevoked && l.Fields["reason"] == "shutdown" })
	if len(revoked) != 1 || number(revoked[0].Fields["outstanding"]) == 0 {
		t.Errorf("want one %q line with reason shutdown and records outstanding, got %d: %v", msgRevoked, len(revoked), revoked)
	}
	committed := b.committed(t, n.Group, n.Source, sourcePartitions)
	below, above, aboveDone := checkCommittedDelivered(t, b, n, z, w, committed)
	t.Logf("SIGTERM: exit %d after %s; committed %s: %d records below, %d above (%d of them delivered anyway)",
		code, took.Round(time.Millisecond), offsetsString(committed), below, above, aboveDone)
	if above == 0 {
		t.Fatalf("nothing was left uncommitted at SIGTERM: the backlog was too small to test a drain with work pending")
	}

	// The next worker, against a ZIM without a rate limit and with many
	// calls in flight to hide its latency, finishes the rest.
	z.setRPS(t, 0)
	next := startWorker(t, "worker-2", n, z, fastRPS, map[string]string{"RECEIPTD_WORKER_MAX_IN_FLIGHT": "256"})
	next.waitJoined(t, 1, joinTimeout)
	waitCaughtUp(t, b, n, z, 5*time.Minute)
	// The second worker sends again only what the first left uncommitted.
	d, dl := s.checkOutcome(t, [][]int64{noCommits(), committed}, true)
	stopWorker(t, next, 30*time.Second)
	figures{events: events, delivered: d.distinct, duplicates: d.duplicates, deadLetter: dl.records, start: s.start,
		extra: fmt.Sprintf("sigterm_exit=%d sigterm_took=%s drain_timeout=%s committed_at_sigterm=%d left_uncommitted=%d %s",
			code, took.Round(time.Millisecond), drain, below, above, summarizeCalls(z.stats(t)))}.log(t)
}

// checkCommittedDelivered fails t unless every record below the committed
// offsets has all its receipts at zimfake (invariant 1). It returns how
// many records lie below and above the committed offsets, and how many of
// those above had their receipts delivered all the same.
func checkCommittedDelivered(t *testing.T, b *broker, n names, z *zimFake, w *workload, committed []int64) (below, above, aboveDone int) {
	t.Helper()
	have := make(map[traffic.Receipt]bool)
	for _, r := range z.receipts(t) {
		have[traffic.Receipt{Action: r.Action, UserID: r.UserID, ConvID: r.ConvID, Seq: r.Seq}] = true
	}
	var lost []string
	for p, msgs := range b.readAll(t, n.Source, sourcePartitions) {
		for _, m := range msgs {
			ev := w.byValue[string(m.Value)].event
			delivered := true
			for _, seq := range ev.Seqs {
				delivered = delivered && have[traffic.Receipt{Action: ev.Action(), UserID: ev.UserID, ConvID: ev.Conv(), Seq: seq}]
			}
			switch {
			case m.Offset >= committed[p]:
				above++
				if delivered {
					aboveDone++
				}
			case delivered:
				below++
			default:
				below++
				lost = append(lost, fmt.Sprintf("%s (%s)", coord{p, m.Offset}, m.Value))
			}
		}
	}
	if len(lost) > 0 {
		t.Errorf("%d records below the committed offsets %s lack receipts at zimfake, e.g. %s",
			len(lost), offsetsString(committed), lost[:min(5, len(lost))])
	}
	return below, above, aboveDone
}
