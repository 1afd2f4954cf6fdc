package consumer_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/receiptd/receiptd/consumer"
	"github.com/receiptd/receiptd/deadletter"
	"github.com/receiptd/receiptd/internal/kafkatest"
	"github.com/receiptd/receiptd/worker"
)

const (
	srcTopic = "events"
	dlqTopic = "events-dlq"
)

// newCluster starts an in-process Kafka with the source topic (partitions
// partitions) and a one-partition dead-letter topic.
func newCluster(t testing.TB, partitions int32, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	return kafkatest.NewCluster(t, append([]kfake.Opt{
		kfake.SeedTopics(partitions, srcTopic),
		kfake.SeedTopics(1, dlqTopic),
		kfake.GroupMinSessionTimeout(100 * time.Millisecond),
	}, opts...)...)
}

// seededCluster starts a cluster as newCluster does and writes n records to
// each partition as produce does; it returns the brokers' addresses and what
// was written.
func seededCluster(t testing.TB, partitions, n int, invalid func(p, i int) string) ([]string, produced) {
	t.Helper()
	addrs := newCluster(t, int32(partitions)).ListenAddrs()
	return addrs, produce(t, addrs, partitions, n, invalid)
}

// testConfig returns a consumer configuration with short timeouts.
func testConfig(addrs []string, group string) consumer.Config {
	return consumer.Config{
		Brokers:                addrs,
		Topic:                  srcTopic,
		DLQTopic:               dlqTopic,
		GroupID:                group,
		CommitInterval:         20 * time.Millisecond,
		SessionTimeout:         3 * time.Second,
		HeartbeatInterval:      100 * time.Millisecond,
		RebalanceTimeout:       8 * time.Second,
		JoinGroupBackoff:       100 * time.Millisecond,
		PartitionWatchInterval: time.Second,
		FetchMaxWait:           200 * time.Millisecond,
		ReadBatchTimeout:       time.Second,
		DialTimeout:            5 * time.Second,
		RebalanceDrainTimeout:  2 * time.Second,
		DrainTimeout:           2 * time.Second,
	}
}

// seqID is the conv_msg_seq a test record carries: it names the record's
// partition and offset, so that receipts can be traced back to records.
func seqID(partition int, offset int64) uint64 { return uint64(partition)<<32 | uint64(offset+1) }

// produced describes the records a test wrote to the source topic.
type produced struct {
	perPartition map[int]int64 // records per partition (offsets 0..n-1)
	invalid      map[int]map[int64]string
}

func (p produced) total() int64 {
	var n int64
	for _, c := range p.perPartition {
		n += c
	}
	return n
}

// produce writes n records to each partition; invalid(p, i) returns a
// non-empty value to write an invalid record instead of a valid one.
func produce(t testing.TB, addrs []string, partitions, n int, invalid func(p, i int) string) produced {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0), kgo.DefaultProduceTopic(srcTopic))
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	defer cl.Close()
	out := produced{perPartition: map[int]int64{}, invalid: map[int]map[int64]string{}}
	var recs []*kgo.Record
	for p := range partitions {
		out.invalid[p] = map[int64]string{}
		for i := range n {
			v := fmt.Sprintf(`{"type":"group_read","user_id":"u%d","group_id":"g%d","conv_msg_seq":[%d]}`, i%7, p, seqID(p, int64(i)))
			if invalid != nil {
				if bad := invalid(p, i); bad != "" {
					v = bad
					out.invalid[p][int64(i)] = bad
				}
			}
			recs = append(recs, &kgo.Record{Partition: int32(p), Key: fmt.Appendf(nil, "g%d", p), Value: []byte(v),
				Headers: []kgo.RecordHeader{{Key: "trace", Value: fmt.Appendf(nil, "t-%d-%d", p, i)}}})
		}
		out.perPartition[p] = int64(n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	return out
}

// notifier is a mutex whose holders announce every change to the state it
// guards, so that tests wait for a condition on that state without polling.
// Its zero value is ready to use.
type notifier struct {
	mu      sync.Mutex
	changed chan struct{} // closed at the next change; nil until someone waits
}

// changedLocked returns a channel closed at the next change.
func (n *notifier) changedLocked() <-chan struct{} {
	if n.changed == nil {
		n.changed = make(chan struct{})
	}
	return n.changed
}

// signalLocked announces a change.
func (n *notifier) signalLocked() {
	if n.changed != nil {
		close(n.changed)
		n.changed = nil
	}
}

// waitChangeLocked releases the lock until the next change or until ctx
// ends, and takes it again.
func (n *notifier) waitChangeLocked(ctx context.Context) {
	ch := n.changedLocked()
	n.mu.Unlock()
	select {
	case <-ctx.Done():
	case <-ch:
	}
	n.mu.Lock()
}

// waitFor waits until cond, evaluated under the lock after every change,
// holds, or fails the test after timeout.
func (n *notifier) waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		n.mu.Lock()
		ok, ch := cond(), n.changedLocked()
		n.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
	}
}

// ledger is the ground truth shared by every pipeline and observer of a
// test: which records were done, how often, and every commit seen. It checks
// invariants 1 and 2 at every commit.
type ledger struct {
	notifier // guards the fields below

	done       map[int]map[int64]int // partition -> offset -> times done
	contiguous map[int]int64         // partition -> lowest offset never done
	committed  map[int]int64         // partition -> last commit seen
	commits    int
	violations []string
}

func newLedger() *ledger {
	return &ledger{done: map[int]map[int64]int{}, contiguous: map[int]int64{}, committed: map[int]int64{}}
}

func (l *ledger) markDone(partition int, offset int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done[partition] == nil {
		l.done[partition] = map[int64]int{}
	}
	l.done[partition][offset]++
	for l.done[partition][l.contiguous[partition]] > 0 {
		l.contiguous[partition]++
	}
	l.signalLocked()
}

// commit checks a commit against invariant 1 (everything below it is done)
// and invariant 2 (it does not move backwards).
func (l *ledger) commit(c consumer.Committed) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.commits++
	for p, off := range c.Offsets {
		if off > l.contiguous[p] {
			l.violations = append(l.violations, fmt.Sprintf("generation %d committed partition %d at %d, but offset %d is not done",
				c.GenerationID, p, off, l.contiguous[p]))
		}
		if last, ok := l.committed[p]; ok && off < last {
			l.violations = append(l.violations, fmt.Sprintf("generation %d moved partition %d back from %d to %d",
				c.GenerationID, p, last, off))
		}
		l.committed[p] = off
	}
}

func (l *ledger) doneCount() (distinct, total int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.doneCountLocked()
}

func (l *ledger) doneCountLocked() (distinct, total int) {
	for _, offs := range l.done {
		for _, n := range offs {
			distinct++
			total += n
		}
	}
	return distinct, total
}

// waitDistinct waits until at least n distinct records are done.
func (l *ledger) waitDistinct(t testing.TB, timeout time.Duration, what string, n int) {
	t.Helper()
	l.waitFor(t, timeout, what, func() bool {
		d, _ := l.doneCountLocked()
		return d >= n
	})
}

// waitAllButHeld waits until every record of want but the one the pipeline
// holds back is done.
func (l *ledger) waitAllButHeld(t testing.TB, want produced) {
	t.Helper()
	l.waitDistinct(t, 30*time.Second, "all but the held record done", int(want.total())-1)
}

// waitCrashPoint waits until a random number of further records is done, up
// to about an even share of those left for each round left, so that crashes
// land at random points spread over the whole log.
func (l *ledger) waitCrashPoint(t testing.TB, rng *rand.Rand, total, rounds, round int) {
	t.Helper()
	distinct, _ := l.doneCount()
	l.waitDistinct(t, 60*time.Second, "progress before the crash", distinct+1+rng.IntN((total-distinct)/(rounds-round)))
}

func (l *ledger) lastCommit(p int) (int64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	off, ok := l.committed[p]
	return off, ok
}

// committedAll reports whether every partition of want is committed to its
// end.
func (l *ledger) committedAll(want produced) bool {
	for p, n := range want.perPartition {
		if off, ok := l.lastCommit(p); !ok || off != n {
			return false
		}
	}
	return true
}

// check reports every invariant violation seen and that every record was
// done at least once.
func (l *ledger) check(t *testing.T, want produced) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, v := range l.violations {
		t.Error(v)
	}
	for p, n := range want.perPartition {
		if l.contiguous[p] < n {
			t.Errorf("partition %d: offset %d of %d records was never done", p, l.contiguous[p], n)
		}
	}
}

// recorder is an Observer that feeds commits to a ledger and keeps events.
type recorder struct {
	consumer.NopObserver
	l *ledger

	notifier // guards the fields below

	joined  []consumer.Joined
	drained []consumer.Drained
	resets  []consumer.OffsetReset
	skipped []consumer.RecordsSkipped
	invalid []consumer.InvalidEvent
	failed  []consumer.CommitFailed
	ticks   int // Lag reports: one per commit tick
}

func newRecorder(l *ledger) *recorder { return &recorder{l: l} }

func (r *recorder) event(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f()
	r.signalLocked()
}

func (r *recorder) Committed(c consumer.Committed) {
	r.l.commit(c)
	r.event(func() {})
}
func (r *recorder) Joined(j consumer.Joined)   { r.event(func() { r.joined = append(r.joined, j) }) }
func (r *recorder) Drained(d consumer.Drained) { r.event(func() { r.drained = append(r.drained, d) }) }
func (r *recorder) OffsetReset(o consumer.OffsetReset) {
	r.event(func() { r.resets = append(r.resets, o) })
}
func (r *recorder) RecordsSkipped(s consumer.RecordsSkipped) {
	r.event(func() { r.skipped = append(r.skipped, s) })
}
func (r *recorder) InvalidEvent(e consumer.InvalidEvent) {
	r.event(func() { r.invalid = append(r.invalid, e) })
}
func (r *recorder) Lag(consumer.Lag) { r.event(func() { r.ticks++ }) }

func (r *recorder) tickCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ticks
}

func (r *recorder) CommitFailed(f consumer.CommitFailed) {
	r.event(func() { r.failed = append(r.failed, f) })
}

// waitCommitted waits until partition p is committed at off.
func (r *recorder) waitCommitted(t testing.TB, timeout time.Duration, what string, p int, off int64) {
	t.Helper()
	r.waitFor(t, timeout, what, func() bool {
		got, _ := r.l.lastCommit(p)
		return got == off
	})
}

// waitAllCommitted waits until every partition of want is committed to its
// end.
func (r *recorder) waitAllCommitted(t testing.TB, timeout time.Duration, want produced) {
	t.Helper()
	r.waitFor(t, timeout, "every record committed", func() bool { return r.l.committedAll(want) })
}

// stopAllCommitted waits until every partition of want is committed to its
// end, stops run, whose Run must return nil, and checks the ledger: the
// invariants held at every commit and every record was done.
func (r *recorder) stopAllCommitted(t *testing.T, timeout time.Duration, want produced, run *running) {
	t.Helper()
	r.waitAllCommitted(t, timeout, want)
	if err := run.stop(); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	r.l.check(t, want)
}

// fakeStages stands in for the worker: it admits records up to a bound,
// completes them in a shuffled order from its own goroutine, writes rejected
// records through a LetterWriter (retrying until it succeeds, like the
// dead-letter stage), and honours Drain's contract.
type fakeStages struct {
	l      *ledger
	dlq    deadletter.LetterWriter // nil: rejected records are done at once
	bound  int                     // most records pending; 0: unbounded
	window int                     // records completed together in shuffled order
	pace   time.Duration           // simulated processing time per window
	rng    *rand.Rand              // used by run only

	notifier // guards the fields below

	queue      []*worker.Record
	pending    map[*worker.Record]*worker.Failure
	hold       func(partition int, offset int64) bool // records it must not complete yet
	paused     bool
	blocked    int // calls waiting for room
	maxBlocked int
	submitted  int
	dlqFails   int
	shares     []share
	drains     []time.Duration // the deadline each Drain was given
}

func newFakeStages(l *ledger, seed uint64) *fakeStages {
	return &fakeStages{l: l, window: 16, rng: rand.New(rand.NewPCG(seed, 7)),
		pending: map[*worker.Record]*worker.Failure{}}
}

// start runs the pipeline's completion loop until stop is called or the test
// ends; stop returns once the loop has.
func (f *fakeStages) start(t testing.TB) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { f.run(ctx) })
	stop = func() { cancel(); wg.Wait() }
	t.Cleanup(stop)
	return stop
}

func (f *fakeStages) Submit(ctx context.Context, rec *worker.Record) error {
	return f.admit(ctx, rec, nil)
}

func (f *fakeStages) Reject(ctx context.Context, rec *worker.Record, fl worker.Failure) error {
	return f.admit(ctx, rec, &fl)
}

func (f *fakeStages) admit(ctx context.Context, rec *worker.Record, fl *worker.Failure) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.submitted++
	for f.bound > 0 && len(f.pending) >= f.bound {
		f.blocked++
		f.maxBlocked = max(f.maxBlocked, f.blocked)
		f.signalLocked()
		f.waitChangeLocked(ctx)
		f.blocked--
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	f.pending[rec] = fl
	f.queue = append(f.queue, rec)
	f.signalLocked()
	return nil
}

func (f *fakeStages) Drain(ctx context.Context) []*worker.Record {
	f.mu.Lock()
	defer f.mu.Unlock()
	if dl, ok := ctx.Deadline(); ok {
		f.drains = append(f.drains, time.Until(dl))
	}
	for len(f.pending) > 0 && ctx.Err() == nil {
		f.waitChangeLocked(ctx)
	}
	var left []*worker.Record
	for rec := range f.pending {
		left = append(left, rec)
	}
	clear(f.pending)
	f.queue = nil
	f.signalLocked()
	return left
}

// share is one SetShare call.
type share struct {
	partitions []int
	total      int
}

func (f *fakeStages) SetShare(partitions []int, total int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.shares = append(f.shares, share{slices.Clone(partitions), total})
}

func (f *fakeStages) setHold(hold func(partition int, offset int64) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hold = hold
	f.signalLocked()
}

// holdOne makes f complete no record but offset off of partition p.
func (f *fakeStages) holdOne(p int, off int64) {
	f.setHold(func(partition int, offset int64) bool { return partition == p && offset == off })
}

func (f *fakeStages) setPaused(p bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.paused = p
	f.signalLocked()
}

// run completes queued records, a shuffled window at a time, until ctx ends.
func (f *fakeStages) run(ctx context.Context) {
	for {
		f.mu.Lock()
		batch := f.takeLocked()
		ch := f.changedLocked()
		f.mu.Unlock()
		if len(batch) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-ch:
				continue
			}
		}
		f.rng.Shuffle(len(batch), func(i, j int) { batch[i], batch[j] = batch[j], batch[i] })
		if f.pace > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(f.pace):
			}
		}
		for _, rec := range batch {
			if !f.complete(ctx, rec) {
				return
			}
		}
	}
}

// takeLocked removes up to window completable records from the queue.
func (f *fakeStages) takeLocked() []*worker.Record {
	if f.paused {
		return nil
	}
	var batch, keep []*worker.Record
	for _, rec := range f.queue {
		_, p, off, _ := consumer.Origin(rec)
		if len(batch) < f.window && (f.hold == nil || !f.hold(p, off)) {
			batch = append(batch, rec)
		} else {
			keep = append(keep, rec)
		}
	}
	f.queue = keep
	return batch
}

// complete finishes one record: dead-letters it first if it was rejected.
// It reports false when ctx ended.
func (f *fakeStages) complete(ctx context.Context, rec *worker.Record) bool {
	f.mu.Lock()
	fl, ok := f.pending[rec]
	f.mu.Unlock()
	if !ok {
		return true // forgotten by Drain
	}
	if fl != nil && f.dlq != nil {
		if err := f.dlq.DeadLetter(ctx, []deadletter.Letter{{Record: rec, Failure: *fl}}); err != nil {
			// Retry later, as the worker does, and let other records pass.
			f.mu.Lock()
			f.dlqFails++
			if _, ok := f.pending[rec]; ok {
				f.queue = append(f.queue, rec)
			}
			f.signalLocked()
			f.mu.Unlock()
			select {
			case <-ctx.Done():
				return false
			case <-time.After(5 * time.Millisecond):
				return true
			}
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.pending[rec]; !ok {
		return true
	}
	_, p, off, _ := consumer.Origin(rec)
	f.l.markDone(p, off)
	consumer.Completer{}.Done(rec)
	delete(f.pending, rec)
	f.signalLocked()
	return true
}

// runConsumer starts c.Run on ctx and returns a function that waits for it
// to return and yields its error.
func runConsumer(t testing.TB, ctx context.Context, c *consumer.Consumer) func() error {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx) }()
	var once sync.Once
	var err error
	wait := func() error {
		once.Do(func() {
			select {
			case err = <-errc:
			case <-time.After(60 * time.Second):
				err = fmt.Errorf("Run did not return within 60s")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = wait() })
	return wait
}

// running is a consumer started by startConsumer.
type running struct {
	c      *consumer.Consumer
	cancel context.CancelCauseFunc // ends Run; consumer.ErrAbandon as the cause crashes it
	wait   func() error            // waits for Run to return and yields its error
}

// startConsumer runs a consumer of cfg that hands records to p, until it is
// cancelled or the test ends.
func startConsumer(t testing.TB, cfg consumer.Config, p consumer.Stages, obs consumer.Observer) *running {
	t.Helper()
	c, err := consumer.New(cfg, p, obs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	r := &running{c: c, cancel: cancel, wait: runConsumer(t, ctx, c)}
	t.Cleanup(func() { cancel(nil) }) // runs before runConsumer's wait
	return r
}

// startOnFake starts stages's completion loop and a consumer that hands records
// to it, observed by a new recorder on stages's ledger.
func startOnFake(t testing.TB, cfg consumer.Config, stages *fakeStages) (*recorder, *running) {
	t.Helper()
	stages.start(t)
	obs := newRecorder(stages.l)
	return obs, startConsumer(t, cfg, stages, obs)
}

// startHolding starts a consumer of cfg on stages, which complete every
// record but offset off of partition p until setHold(nil), and waits until
// all of want but that record is done.
func startHolding(t testing.TB, cfg consumer.Config, stages *fakeStages, want produced, p int, off int64) (*recorder, *running) {
	t.Helper()
	stages.holdOne(p, off)
	obs, r := startOnFake(t, cfg, stages)
	stages.l.waitAllButHeld(t, want)
	return obs, r
}

// startPaused starts a consumer of cfg on stages, which admit bound records
// and complete none until setPaused(false), and waits until the fetcher of
// each of the partitions is blocked in Submit with one record in hand.
func startPaused(t testing.TB, cfg consumer.Config, stages *fakeStages, bound, partitions int) (*recorder, *running) {
	t.Helper()
	stages.bound = bound
	stages.setPaused(true)
	obs, r := startOnFake(t, cfg, stages)
	stages.waitFor(t, 30*time.Second, "every fetcher blocked on a full pipeline", func() bool {
		return stages.blocked == partitions
	})
	return obs, r
}

// crashRounds runs the group through rounds processes, one after the other,
// each started by start with its consumer and the function that stops its
// pipeline. Every process but the last dies (kill -9: no drain, no commit)
// once a random number of records is done, its pipeline with it; the last
// runs until every record of want is committed and shuts down. Each Run must
// return nil.
func crashRounds(t *testing.T, l *ledger, rng *rand.Rand, want produced, rounds int, start func(round int) (*recorder, *running, func())) {
	t.Helper()
	total := int(want.total())
	for round := range rounds {
		obs, r, stopPipeline := start(round)
		last := round == rounds-1
		if last {
			obs.waitAllCommitted(t, 60*time.Second, want)
			r.cancel(nil)
		} else {
			l.waitCrashPoint(t, rng, total, rounds, round)
			r.cancel(consumer.ErrAbandon)
			stopPipeline()
		}
		if err := r.wait(); err != nil {
			t.Fatalf("round %d: Run = %v", round, err)
		}
		stopPipeline()
		if !last && len(obs.drained) != 0 {
			t.Errorf("round %d: abandoned consumer drained: %+v", round, obs.drained)
		}
	}
}

// stop shuts the consumer down and returns Run's error.
func (r *running) stop() error {
	r.cancel(nil)
	return r.wait()
}

// newDLQWriter returns a dead-letter writer to cfg's dead-letter topic,
// over cfg's dialer, closed when the test ends.
func newDLQWriter(t testing.TB, cfg consumer.Config, obs deadletter.Observer) *deadletter.Writer {
	t.Helper()
	dlq, err := deadletter.NewWriter(deadletterConfig(cfg), consumer.SourceMessage, obs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dlq.Close() })
	return dlq
}

// deadletterConfig returns the dead-letter configuration beside cfg.
func deadletterConfig(cfg consumer.Config) deadletter.Config {
	return deadletter.Config{Brokers: cfg.Brokers, Topic: cfg.DLQTopic, Dialer: cfg.Dialer(),
		WriteTimeout: 5 * time.Second, WorkerID: "test-worker"}
}

// committedOffsets reads the group's committed offsets from the brokers.
func committedOffsets(t *testing.T, addrs []string, group string, partitions int) map[int]int64 {
	t.Helper()
	cl := kafkatest.Client(t, addrs)
	ps := make([]int, partitions)
	for i := range ps {
		ps[i] = i
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{srcTopic: ps}})
	if err != nil {
		t.Fatalf("offset fetch: %v", err)
	}
	if res.Error != nil {
		t.Fatalf("offset fetch: %v", res.Error)
	}
	out := map[int]int64{}
	for _, p := range res.Topics[srcTopic] {
		if p.Error != nil {
			t.Fatalf("offset fetch partition %d: %v", p.Partition, p.Error)
		}
		out[p.Partition] = p.CommittedOffset
	}
	return out
}

// eachDeadLetter hands check each dead letter of msgs with the partition,
// offset and value of the invalid record of want it stands for. It reports a
// letter that does not parse or stands for a valid record, and every invalid
// record of want without a letter.
func eachDeadLetter(t *testing.T, msgs []kafka.Message, want produced, check func(m kafka.Message, info deadletter.Info, p int, off int64, value string)) {
	t.Helper()
	seen := map[[2]int64]bool{}
	for _, m := range msgs {
		info, err := deadletter.Parse(m)
		if err != nil {
			t.Errorf("parse dead letter: %v", err)
			continue
		}
		p, off := info.SourcePartition, info.SourceOffset
		seen[[2]int64{int64(p), off}] = true
		value, ok := want.invalid[p][off]
		if !ok {
			t.Errorf("dead letter for partition %d offset %d, which is a valid record", p, off)
			continue
		}
		check(m, info, p, off, value)
	}
	for p, offs := range want.invalid {
		for off := range offs {
			if !seen[[2]int64{int64(p), off}] {
				t.Errorf("no dead letter for invalid record %d/%d", p, off)
			}
		}
	}
}

// readDLQ reads n records from the dead-letter topic.
func readDLQ(t *testing.T, addrs []string, n int) []kafka.Message {
	t.Helper()
	return kafkatest.ReadTopic(t, addrs, dlqTopic, n)
}
