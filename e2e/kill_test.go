package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// kill -9 of the worker at three random moments, each followed by a restart
// on the same group (invariant 6): nothing is lost, every record that must
// be dead-lettered is, and the group finally commits every record. The
// duplicates that the redelivered uncommitted window causes are counted.
func TestKillNineAndRestart(t *testing.T) {
	const events, kills = 60_000, 3
	s := newScenario(t, setup{traffic: realisticTraffic, events: events, zim: zimOptions{RPS: fastRPS}, rejectFailing: true})
	w, b, n, z := s.w, s.b, s.n, s.z
	s.produce(t)

	// The moments are points of progress (share of the expected receipts
	// at ZIM), so that each kill lands while work is in flight however
	// fast the machine is: one random point in each of three spans, so
	// that every run delivers something before it dies.
	moments := make([]float64, kills)
	for i := range moments {
		moments[i] = 0.1 + 0.25*float64(i) + 0.2*s.rng.Float64()
	}
	t.Logf("kill -9 when these shares of the receipts have reached zimfake: %.3f", moments)

	want := w.tally.Receipts()
	// Each run starts from what the previous one committed before it was
	// killed: that commit is final, since a dead process commits nothing.
	runStarts := [][]int64{noCommits()}
	for i, m := range moments {
		p := startWorker(t, fmt.Sprintf("worker-%d", i+1), n, z, fastRPS, nil)
		p.waitJoined(t, 1, joinTimeout)
		waitReceipts(t, z, int(m*float64(want)), 5*time.Minute)
		p.kill()
		st := z.stats(t)
		committed := b.committed(t, n.Group, n.Source, sourcePartitions)
		runStarts = append(runStarts, committed)
		t.Logf("kill -9 #%d (%s) at %s: %d of %d receipts at zimfake (%.1f%%); committed %s", i+1, p.name,
			time.Since(s.start).Round(time.Millisecond), st.DistinctReceipts, want, 100*float64(st.DistinctReceipts)/float64(want),
			offsetsString(committed))
	}
	last := startWorker(t, fmt.Sprintf("worker-%d", kills+1), n, z, fastRPS, nil)
	last.waitJoined(t, 1, joinTimeout)
	waitCaughtUp(t, b, n, z, 5*time.Minute)

	d, dl := s.checkOutcome(t, runStarts, false)
	stopWorker(t, last, 30*time.Second)
	if c, hw := b.committed(t, n.Group, n.Source, sourcePartitions), b.highWater(t, n.Source, sourcePartitions); !slices.Equal(c, hw) {
		t.Errorf("after the last shutdown: committed %s, want the high-water marks %s", offsetsString(c), offsetsString(hw))
	}
	figures{events: events, delivered: d.distinct, duplicates: d.duplicates, deadLetter: dl.records, start: s.start,
		extra: fmt.Sprintf("kills=%d receipts_expected=%d dlq_expected=%d dlq_duplicates=%d %s",
			kills, want, w.wantDeadLetters(), dl.duplicates, summarizeCalls(z.stats(t)))}.log(t)
}
