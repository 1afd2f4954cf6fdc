package consumer_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/receiptd/receiptd/consumer"
	"github.com/receiptd/receiptd/deadletter"
	"github.com/receiptd/receiptd/internal/kafkatest"
	"github.com/receiptd/receiptd/internal/pipeline"
	"github.com/receiptd/receiptd/retry"
	"github.com/receiptd/receiptd/worker"
	"github.com/receiptd/receiptd/zimapi"
	"github.com/receiptd/receiptd/zimapi/zimfake"
)

const (
	zimAppID  = 1234
	zimSecret = "0123456789abcdef0123456789abcdef"
	badUser   = "blocked-user" // zimfake rejects this reader's receipts (660400103)
)

// newZIM starts the ZIM simulator, without a rate limit unless cfg sets one.
func newZIM(t testing.TB, cfg zimfake.Config) (*zimfake.Server, *zimapi.Client) {
	t.Helper()
	cfg.AppID, cfg.Secret = zimAppID, zimSecret
	sim := zimfake.New(cfg)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	client, err := zimapi.NewClient(zimapi.Config{Endpoint: srv.URL, AppID: zimAppID, ServerSecret: zimSecret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	return sim, client
}

// recordingCompleter tells the ledger before passing Done to the consumer.
type recordingCompleter struct{ l *ledger }

func (c recordingCompleter) Done(rec *worker.Record) {
	if _, p, off, ok := consumer.Origin(rec); ok {
		c.l.markDone(p, off)
	}
	consumer.Completer{}.Done(rec)
}

// stack is one receiptd process: consumer, worker, ZIM client, dead-letter
// stage and writer.
type stack struct {
	*running
	w          *worker.Worker
	stopWorker func()
}

func startStack(t testing.TB, cfg consumer.Config, wcfg worker.Config, dcfg deadletter.StageConfig, client *zimapi.Client, l *ledger, obs consumer.Observer) *stack {
	t.Helper()
	dlq, err := deadletter.NewWriter(deadletterConfig(cfg), consumer.SourceMessage, nil)
	if err != nil {
		t.Fatal(err)
	}
	if wcfg.MaxPendingRecords == 0 {
		wcfg.MaxPendingRecords = worker.DefaultMaxPendingRecords
	}
	wcfg.Slots = worker.NewSlots(wcfg.MaxPendingRecords)
	dcfg.Slots = wcfg.Slots
	dead, err := deadletter.NewStage(dcfg, dlq, recordingCompleter{l}, nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := worker.New(wcfg, client, dead, recordingCompleter{l})
	if err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithCancel(context.Background())
	var wwg sync.WaitGroup
	wwg.Go(func() { _ = w.Run(wctx) })
	wwg.Go(func() { _ = dead.Run(wctx) })
	var once sync.Once
	stopWorker := func() {
		once.Do(func() {
			wcancel()
			wwg.Wait()
			_ = dlq.Close()
		})
	}
	t.Cleanup(stopWorker)
	return &stack{running: startConsumer(t, cfg, pipeline.Stages{Worker: w, DeadLetters: dead}, obs), w: w, stopWorker: stopWorker}
}

// End to end through the real worker: every receipt reaches ZIM, invalid
// and rejected records are dead-lettered with their headers while the rest
// flows on (invariants 1, 4, 10), and dead-letter writes refused by the
// broker hold the commit back until they succeed.
func TestEndToEndThroughWorker(t *testing.T) {
	const partitions, perPartition = 8, 2500
	cluster := newCluster(t, partitions)
	addrs := cluster.ListenAddrs()
	want := produce(t, addrs, partitions, perPartition, func(p, i int) string {
		switch {
		case i%500 == 7:
			return fmt.Sprintf(`{"user_id":"u","group_id":"g%d","conv_msg_seq":[0,%d]}`, p, seqID(p, int64(i)))
		case i%500 == 300:
			return fmt.Sprintf(`{"user_id":%q,"group_id":"g%d","conv_msg_seq":[%d]}`, badUser, p, seqID(p, int64(i)))
		}
		return ""
	})
	// The "blocked-user" records are valid events that ZIM rejects: they
	// reach the dead-letter topic as "rejected", not "invalid_event".
	rejected := map[int]map[int64]bool{}
	for p, offs := range want.invalid {
		rejected[p] = map[int64]bool{}
		for off, v := range offs {
			if _, err := consumer.DecodeEvent([]byte(v), consumer.Limits{}); err == nil {
				rejected[p][off] = true
			}
		}
	}
	refused := kafkatest.RefuseProduces(cluster, dlqTopic, 3)
	sim, client := newZIM(t, zimfake.Config{FailUsers: []string{badUser}})

	cfg := testConfig(addrs, "e2e")
	l := newLedger()
	obs := newRecorder(l)
	began := time.Now()
	s := startStack(t, cfg, worker.Config{Linger: 5 * time.Millisecond}, deadletter.StageConfig{Backoff: fastRetry}, client, l, obs)
	obs.waitAllCommitted(t, 60*time.Second, want)
	elapsed := time.Since(began)
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	s.stopWorker()
	l.check(t, want)
	if refused.Load() != 3 {
		t.Errorf("the broker refused %d dead-letter writes, want 3", refused.Load())
	}

	var receipts, dead int
	for p, n := range want.perPartition {
		for off := range n {
			if _, bad := want.invalid[p][off]; bad {
				dead++
				continue
			}
			receipts++
			if !sim.Seen("GroupReadReceipt", fmt.Sprintf("u%d", off%7), fmt.Sprintf("g%d", p), seqID(p, off)) {
				t.Errorf("receipt of partition %d offset %d never reached ZIM", p, off)
			}
		}
	}
	st := sim.Stats()
	t.Logf("end to end: %d records (%d receipts, %d dead letters) in %v: %.0f records/s; %d calls, %.1f seqs/call",
		want.total(), receipts, dead, elapsed.Round(time.Millisecond), float64(want.total())/elapsed.Seconds(),
		st.AcceptedCalls, float64(st.AcceptedReceipts)/float64(max(st.AcceptedCalls, 1)))

	letters := readDLQ(t, addrs, dead)
	checkE2EDeadLetters(t, letters, want, rejected)
}

var fastRetry = retry.Policy{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond}

// checkE2EDeadLetters verifies the dead letters of the whole stack: a
// rejected record's carries ZIM's answer, an invalid one's the decoder's
// reason.
func checkE2EDeadLetters(t *testing.T, msgs []kafka.Message, want produced, rejected map[int]map[int64]bool) {
	t.Helper()
	eachDeadLetter(t, msgs, want, func(m kafka.Message, info deadletter.Info, p int, off int64, value string) {
		switch {
		case string(m.Value) != value:
			t.Errorf("dead letter %d/%d value %q, want %q", p, off, m.Value, value)
		case rejected[p][off]:
			if info.Class != worker.FailRejected || info.Code != 660400103 || info.RequestID == "" ||
				info.Action != "GroupReadReceipt" || info.Attempts < 1 || info.FirstAttemptAt.IsZero() ||
				len(info.FailedSeqs) != 1 || info.FailedSeqs[0] != seqID(p, off) {
				t.Errorf("rejected record %d/%d: %+v", p, off, info)
			}
		default:
			if info.Class != worker.FailInvalidEvent || info.Message != "conv_msg_seq[0]: 0 is below 1" {
				t.Errorf("invalid record %d/%d: %+v", p, off, info)
			}
		}
	})
}

// kill -9 through the real worker: processes die at random points; in the
// end every receipt has reached ZIM (invariant 6). Duplicate receipts are
// counted by the simulator.
func TestCrashEndToEnd(t *testing.T) {
	const partitions, perPartition, rounds = 8, 1500, 5
	addrs, want := seededCluster(t, partitions, perPartition, nil)
	total := int(want.total())
	sim, client := newZIM(t, zimfake.Config{Latency: zimfake.UniformLatency(0, 3*time.Millisecond), TransientRate: 0.02, Seed: 9})
	cfg := testConfig(addrs, "crash-e2e")
	l := newLedger()
	rng := rand.New(rand.NewPCG(7, 7))
	crashRounds(t, l, rng, want, rounds, func(int) (*recorder, *running, func()) {
		obs := newRecorder(l)
		s := startStack(t, cfg, worker.Config{Linger: 5 * time.Millisecond, MaxPendingRecords: 500 + rng.IntN(2000),
			Backoff: fastRetry}, deadletter.StageConfig{}, client, l, obs)
		return obs, s.running, s.stopWorker
	})
	l.check(t, want)
	for p, n := range want.perPartition {
		for off := range n {
			if !sim.Seen("GroupReadReceipt", fmt.Sprintf("u%d", off%7), fmt.Sprintf("g%d", p), seqID(p, off)) {
				t.Fatalf("receipt of partition %d offset %d never reached ZIM", p, off)
			}
		}
	}
	st := sim.Stats()
	t.Logf("crash end to end: %d records, %d crashes, %d receipts accepted, %d duplicate receipts (%.1f%%)",
		total, rounds-1, st.AcceptedReceipts, st.DuplicateReceipts, 100*float64(st.DuplicateReceipts)/float64(total))
}

// The worker's pending bound holds while the consumer keeps fetching: when
// the worker is full the consumer stops fetching (invariant 8).
func TestPendingBoundEndToEnd(t *testing.T) {
	const partitions, perPartition, bound = 4, 1000, 100
	addrs, want := seededCluster(t, partitions, perPartition, nil)
	_, client := newZIM(t, zimfake.Config{Latency: zimfake.FixedLatency(2 * time.Millisecond)})
	cfg := testConfig(addrs, "bound-e2e")
	l := newLedger()
	obs := &boundObserver{recorder: newRecorder(l), bound: bound}
	s := startStack(t, cfg, worker.Config{Linger: 5 * time.Millisecond, MaxPendingRecords: bound, MaxInFlight: 1}, deadletter.StageConfig{}, client, l, obs)
	obs.w.Store(s.w)
	obs.stopAllCommitted(t, 60*time.Second, want, s.running)
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.maxPending > bound || obs.maxPending < bound/2 {
		t.Errorf("most records pending %d, want at most and near %d", obs.maxPending, bound)
	}
	if obs.lagWhenFull == 0 {
		t.Error("no backlog seen while the worker was full: fetching did not pause")
	}
}

// boundObserver samples the worker's pending count at every commit tick.
type boundObserver struct {
	*recorder
	w           atomic.Pointer[worker.Worker]
	bound       int
	maxPending  int
	lagWhenFull int64
}

func (o *boundObserver) Lag(lag consumer.Lag) {
	if w := o.w.Load(); w != nil {
		pending := w.Stats().Pending
		var backlog int64
		for _, n := range lag.Partitions {
			backlog += n
		}
		o.mu.Lock()
		o.maxPending = max(o.maxPending, pending)
		if pending == o.bound {
			o.lagWhenFull = max(o.lagWhenFull, backlog)
		}
		o.mu.Unlock()
	}
	o.recorder.Lag(lag)
}

// BenchmarkEndToEnd measures records/s from kfake through the consumer, the
// worker and the ZIM client to an unlimited simulator, 8 partitions, 20000
// records per iteration (a new consumer group each time).
func BenchmarkEndToEnd(b *testing.B) {
	const partitions, perPartition = 8, 2500
	addrs, want := seededCluster(b, partitions, perPartition, nil)
	_, client := newZIM(b, zimfake.Config{})
	var elapsed time.Duration
	n := 0
	for b.Loop() {
		n++
		cfg := testConfig(addrs, fmt.Sprintf("bench-%d", n))
		l := newLedger()
		obs := newRecorder(l)
		began := time.Now()
		s := startStack(b, cfg, worker.Config{Linger: 5 * time.Millisecond}, deadletter.StageConfig{}, client, l, obs)
		obs.waitAllCommitted(b, 60*time.Second, want)
		elapsed += time.Since(began)
		if err := s.stop(); err != nil {
			b.Fatal(err)
		}
		s.stopWorker()
	}
	b.ReportMetric(float64(want.total())*float64(n)/elapsed.Seconds(), "records/s")
}
