package consumer_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/receiptd/receiptd/consumer"
	"github.com/receiptd/receiptd/internal/kafkatest"
)

// SIGTERM: fetching stops, the pipeline is drained within DrainTimeout, the
// done prefix is committed, the member leaves the group and Run returns nil;
// what could not be drained stays uncommitted and is consumed by the next
// member (invariant 5).
func TestShutdownDrainsCommitsAndLeaves(t *testing.T) {
	const partitions, perPartition = 4, 100
	addrs, want := seededCluster(t, partitions, perPartition, nil)

	cfg := testConfig(addrs, "shutdown")
	cfg.DrainTimeout = 500 * time.Millisecond
	l := newLedger()
	stages := newFakeStages(l, 4)
	obs, r := startHolding(t, cfg, stages, want, 1, 30)

	if err := r.stop(); err != nil {
		t.Fatalf("Run after shutdown = %v, want nil", err)
	}
	if n := len(obs.drained); n != 1 || obs.drained[0].Reason != consumer.RevokeShutdown || obs.drained[0].Abandoned != 1 {
		t.Errorf("drains %+v, want one shutdown drain abandoning the held record", obs.drained)
	}
	if d := stages.drains; len(d) != 1 || d[0] > cfg.DrainTimeout || d[0] < cfg.DrainTimeout/2 {
		t.Errorf("Drain deadlines %v, want one of about %v", d, cfg.DrainTimeout)
	}
	got := committedOffsets(t, addrs, cfg.GroupID, partitions)
	for p := range partitions {
		wantOff := int64(perPartition)
		if p == 1 {
			wantOff = 30
		}
		if got[p] != wantOff {
			t.Errorf("partition %d committed at %d, want %d", p, got[p], wantOff)
		}
	}
	if state := groupState(t, addrs, cfg.GroupID); state != "Empty" {
		t.Errorf("group state after shutdown = %q, want Empty (the member left)", state)
	}

	// The next member resumes exactly at the held record.
	pipe2 := newFakeStages(l, 5)
	var mu sync.Mutex
	seen := map[int][]int64{}
	pipe2.setHold(func(p int, off int64) bool {
		mu.Lock()
		defer mu.Unlock()
		if len(seen[p]) == 0 || seen[p][len(seen[p])-1] != off {
			seen[p] = append(seen[p], off)
		}
		return false
	})
	obs2, r2 := startOnFake(t, cfg, pipe2)
	obs2.waitCommitted(t, 30*time.Second, "partition 1 committed to the end", 1, perPartition)
	if err := r2.stop(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || len(seen[1]) == 0 || seen[1][0] != 30 {
		t.Errorf("the next member consumed %v, want partition 1 from offset 30 only", firstOffsets(seen))
	}
	l.check(t, want)
}

func firstOffsets(seen map[int][]int64) map[int]int64 {
	out := map[int]int64{}
	for p, offs := range seen {
		if len(offs) > 0 {
			out[p] = offs[0]
		}
	}
	return out
}

func groupState(t *testing.T, addrs []string, group string) string {
	t.Helper()
	cl := kafkatest.Client(t, addrs)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cl.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil || len(res.Groups) != 1 || res.Groups[0].Error != nil {
		t.Fatalf("describe group %q: %v %+v", group, err, res)
	}
	return res.Groups[0].GroupState
}

// kill -9 at random points: each consumer is abandoned without draining or
// committing, a new one takes over the group, and in the end every record is
// done (invariant 6). Duplicates are bounded by the uncommitted window.
func TestCrashLosesNothing(t *testing.T) {
	const partitions, perPartition, rounds = 8, 1500, 6
	addrs, want := seededCluster(t, partitions, perPartition, func(p, i int) string {
		if i%250 == 17 {
			return "{}"
		}
		return ""
	})
	cfg := testConfig(addrs, "crash")
	dlq := newDLQWriter(t, cfg, nil)
	l := newLedger()
	rng := rand.New(rand.NewPCG(42, 42))

	crashRounds(t, l, rng, want, rounds, func(round int) (*recorder, *running, func()) {
		stages := newFakeStages(l, uint64(round))
		stages.dlq = dlq
		stages.bound = 200 + rng.IntN(800)
		stages.window = 1 + rng.IntN(64)
		stopPipe := stages.start(t)
		obs := newRecorder(l)
		return obs, startConsumer(t, cfg, stages, obs), stopPipe
	})
	l.check(t, want)
	distinct, done := l.doneCount()
	t.Logf("crash test: %d records, %d crashes, %d completions, %d duplicates (%.1f%%)",
		distinct, rounds-1, done, done-distinct, 100*float64(done-distinct)/float64(distinct))
	if got := committedOffsets(t, addrs, cfg.GroupID, partitions); !equalOffsets(got, want.perPartition) {
		t.Errorf("committed offsets = %v, want %v", got, want.perPartition)
	}
}

// Two members share the group, one leaves, another joins, all mid-stream:
// nothing is lost, no commit passes undone work, and no commit moves
// backwards, which a stale commit after a rejoin would do (invariant 7).
func TestRebalanceMidStream(t *testing.T) {
	const partitions, perPartition = 8, 2000
	addrs, want := seededCluster(t, partitions, perPartition, nil)
	total := int(want.total())
	cfg := testConfig(addrs, "rebalance")
	l := newLedger()

	type member struct {
		*running
		stages *fakeStages
		obs    *recorder
	}
	start := func(seed uint64) *member {
		stages := newFakeStages(l, seed)
		stages.bound = 300
		stages.window = 8
		stages.pace = time.Millisecond // slow enough that rebalances land mid-stream
		obs, r := startOnFake(t, cfg, stages)
		return &member{running: r, stages: stages, obs: obs}
	}
	lastJoined := func(m *member) consumer.Joined {
		m.obs.mu.Lock()
		defer m.obs.mu.Unlock()
		if len(m.obs.joined) == 0 {
			return consumer.Joined{}
		}
		return m.obs.joined[len(m.obs.joined)-1]
	}

	a := start(1)
	l.waitDistinct(t, 60*time.Second, "member A's progress", total/5)
	b := start(2)
	b.obs.waitFor(t, 30*time.Second, "B owning partitions", func() bool {
		return len(b.obs.joined) > 0 && len(b.obs.joined[len(b.obs.joined)-1].Partitions) > 0
	})
	jb := lastJoined(b)
	a.obs.waitFor(t, 30*time.Second, "A in B's generation", func() bool {
		return len(a.obs.joined) > 0 && a.obs.joined[len(a.obs.joined)-1].GenerationID == jb.GenerationID
	})
	if ja := lastJoined(a); len(ja.Partitions)+len(jb.Partitions) != partitions || len(ja.Partitions) == 0 {
		t.Errorf("A owns %v and B %v, want the %d partitions split between them", ja.Partitions, jb.Partitions, partitions)
	}
	l.waitDistinct(t, 60*time.Second, "progress with two members", total/2)
	if err := a.stop(); err != nil { // A leaves
		t.Fatalf("A: %v", err)
	}
	c := start(3)
	c.obs.waitFor(t, 30*time.Second, "C owning partitions", func() bool {
		return len(c.obs.joined) > 0 && len(c.obs.joined[len(c.obs.joined)-1].Partitions) > 0
	})
	b.obs.waitAllCommitted(t, 60*time.Second, want)
	b.cancel(nil)
	c.cancel(nil)
	for _, m := range []*member{b, c} {
		if err := m.wait(); err != nil {
			t.Fatal(err)
		}
	}
	l.check(t, want)
	rebalances, abandoned, commitFailures := 0, 0, 0
	for _, m := range []*member{a, b, c} {
		for _, d := range m.obs.drained {
			if d.Reason == consumer.RevokeRebalance {
				rebalances++
			}
			abandoned += d.Abandoned
		}
		commitFailures += len(m.obs.failed)
	}
	if rebalances < 2 {
		t.Errorf("%d rebalance drains, want at least 2 (B joining, A leaving, C joining)", rebalances)
	}
	distinct, done := l.doneCount()
	t.Logf("rebalance test: %d records, %d rebalance drains, %d duplicates", distinct, rebalances, done-distinct)
	// A drain that finished everything, followed by a commit that
	// succeeded, leaves nothing for the next owner to redo.
	if abandoned == 0 && commitFailures == 0 && done != distinct {
		t.Errorf("%d records done twice although every drain finished and every commit succeeded", done-distinct)
	}
}

// Back-pressure: when the pipeline is full every fetcher blocks in Submit
// with one record in hand; the consumer buffers nothing else and fetching
// pauses (invariant 8).
func TestBackPressureHoldsThePendingBound(t *testing.T) {
	const partitions, perPartition, bound = 8, 100, 50
	addrs, want := seededCluster(t, partitions, perPartition, nil)
	cfg := testConfig(addrs, "backpressure")
	l := newLedger()
	stages := newFakeStages(l, 6)
	obs, r := startPaused(t, cfg, stages, bound, partitions)
	stages.mu.Lock()
	pending, submitted, maxBlocked := len(stages.pending), stages.submitted, stages.maxBlocked
	stages.mu.Unlock()
	if pending != bound || submitted != bound+partitions || maxBlocked != partitions {
		t.Errorf("pending %d, submit calls %d, most blocked %d; want %d, %d, %d",
			pending, submitted, maxBlocked, bound, bound+partitions, partitions)
	}
	// Nothing is done, so nothing past the start is committed: the lag is
	// every record, fetched or not.
	var lag int64
	for _, n := range r.c.Lag() {
		lag += n
	}
	if lag != want.total() {
		t.Errorf("total lag %d, want %d (nothing done while fetching is paused)", lag, want.total())
	}

	stages.setPaused(false)
	obs.waitAllCommitted(t, 30*time.Second, want)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if stages.maxBlocked > partitions {
		t.Errorf("%d Submit calls blocked at once, want at most one per partition (%d)", stages.maxBlocked, partitions)
	}
	l.check(t, want)
}
