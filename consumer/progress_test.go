package consumer_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/receiptd/receiptd/consumer"
)

// While fetching is paused at the pending bound, the lag keeps growing with
// what producers write (the poller reads the log end beside the blocked
// fetchers), and every partition reports how long its oldest record has
// been pending; once the backlog is done both fall to zero.
func TestProgressStaysCurrentWhileFetchingIsPaused(t *testing.T) {
	const partitions, before, during, bound = 4, 50, 30, 20
	addrs, want := seededCluster(t, partitions, before, nil)
	cfg := testConfig(addrs, "progress")
	cfg.LagPollInterval = 50 * time.Millisecond
	stages := newFakeStages(newLedger(), 11)
	obs, r := startPaused(t, cfg, stages, bound, partitions)
	fetchedBy := time.Now()
	progressIs := func(what string, ok func(p consumer.PartitionProgress) bool) {
		t.Helper()
		waitUntil(t, 30*time.Second, what, func() (bool, string) {
			ps := r.c.Progress()
			good := len(ps) == partitions
			for _, p := range ps {
				good = good && ok(p)
			}
			return good, fmt.Sprintf("%+v", ps)
		})
	}
	progressIs("lag of every record produced", func(p consumer.PartitionProgress) bool {
		return p.Lag == before && p.Pending > 0 && !p.OldestPending.IsZero() && !p.OldestPending.After(fetchedBy)
	})

	more := produce(t, addrs, partitions, during, nil)
	for p, n := range more.perPartition {
		want.perPartition[p] += n
	}
	progressIs("the lag grows while fetching is paused", func(p consumer.PartitionProgress) bool {
		return p.Lag == before+during
	})
	stages.mu.Lock()
	blocked := stages.blocked
	stages.mu.Unlock()
	if blocked != partitions {
		t.Fatalf("%d fetchers blocked, want %d: fetching resumed, so the test proves nothing", blocked, partitions)
	}

	stages.setPaused(false)
	obs.waitAllCommitted(t, 30*time.Second, want)
	progressIs("no lag and nothing pending once all is done", func(p consumer.PartitionProgress) bool {
		return p.Lag == 0 && p.Pending == 0 && p.OldestPending.IsZero()
	})
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if ps := r.c.Progress(); len(ps) != 0 {
		t.Errorf("Progress after Run returned = %+v, want none: nothing is owned", ps)
	}
}

// waitUntil polls cond, which has no event to wait for (the poller reports
// nothing), failing t with cond's last description after timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %s; last state: %s", what, timeout, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
