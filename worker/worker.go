// Package worker turns receipt records into the fewest ZIM calls the rate
// budget allows and decides what happens to every outcome: it batches seqs
// per (action, reader, conversation), sends the oldest ready batch first,
// retries, splits or dead-letters by outcome class, and reports each record
// done exactly once, after all its parts have finished.
//
// The Worker knows neither Kafka nor HTTP: it talks to the rest of receiptd
// through the Sender, DeadLetterer, Completer and Pacer interfaces.
package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/receiptd/receiptd/retry"
)

// ErrInvalidRecord is returned by Submit for a record without a valid
// action or without seqs: a bug in the caller, never a data problem, since
// the caller validates events.
var ErrInvalidRecord = errors.New("invalid record")

// Pacer decides when a request may leave. *retry.Budget implements it.
type Pacer interface {
	// Wait blocks until one request for bucket may be sent.
	Wait(ctx context.Context, bucket string) (retry.Grant, error)
	// RateLimited reports a rate-limit answer to a request sent under g and
	// returns the global pause it started, if any.
	RateLimited(g retry.Grant) time.Duration
	// Succeeded reports a successful answer to a request sent under g.
	Succeeded(g retry.Grant)
	// Sent reports when the request made under g was written, after its
	// answer; zero if it never was.
	Sent(g retry.Grant, at time.Time)
	// SetShare sets the partitions this pod owns, out of total: its share
	// of the rate.
	SetShare(partitions []int, total int)
}

// Config configures a Worker. The zero value of a field selects its
// default, except where noted.
type Config struct {
	// MaxSeqsPerCall caps the seqs in one request; overriding the default of
	// 10, the API's own cap.
	MaxSeqsPerCall int
	// Linger is how long a batch that is not full waits for more seqs
	// before it is ready. Zero sends at once (no default applies).
	Linger time.Duration
	// MaxInFlight caps concurrent requests; overriding the default of 8.
	MaxInFlight int
	// MaxPendingRecords caps records submitted and not yet done; Submit and
	// Reject block at the cap. Overriding the default of 50000.
	MaxPendingRecords int
	// UnknownMaxAttempts is how many answers with an undocumented code a
	// batch gets before its records are dead-lettered; overriding the
	// default of 5.
	UnknownMaxAttempts int
	// IsolatedFailureMaxAge is how long a key may fail alone, while other
	// keys of its action succeed, before its records are dead-lettered as
	// exhausted; overriding the default of 10m. See isolation.go.
	IsolatedFailureMaxAge time.Duration
	// Backoff spaces the holds of a key after transient answers and of a
	// group after its rate-limit answers, and the retries of one batch
	// after unknown outcomes.
	Backoff retry.Policy
	// SystemicBackoff spaces the probes while dispatch is paused for a
	// systemic outcome; overriding the default of 10s initial, 5m max.
	SystemicBackoff retry.Policy
	// DeadLetterBackoff spaces retries of a failed dead-letter write;
	// overriding the default of 250ms initial, 30s max.
	DeadLetterBackoff retry.Policy
}

func (c *Config) setDefaults() {
	if c.MaxSeqsPerCall == 0 {
		c.MaxSeqsPerCall = 10
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 8
	}
	if c.MaxPendingRecords == 0 {
		c.MaxPendingRecords = 50000
	}
	if c.UnknownMaxAttempts == 0 {
		c.UnknownMaxAttempts = 5
	}
	if c.IsolatedFailureMaxAge == 0 {
		c.IsolatedFailureMaxAge = 10 * time.Minute
	}
	if c.SystemicBackoff.Initial == 0 {
		c.SystemicBackoff.Initial = 10 * time.Second
	}
	if c.SystemicBackoff.Max == 0 {
		c.SystemicBackoff.Max = 5 * time.Minute
	}
}

// Validate reports every problem of c, after defaults are applied.
func (c Config) Validate() error {
	c.setDefaults()
	var errs []error
	if c.MaxSeqsPerCall < 1 {
		errs = append(errs, fmt.Errorf("field MaxSeqsPerCall must be at least 1, got %d", c.MaxSeqsPerCall))
	}
	if c.Linger < 0 {
		errs = append(errs, fmt.Errorf("field Linger must not be negative, got %v", c.Linger))
	}
	if c.MaxInFlight < 1 {
		errs = append(errs, fmt.Errorf("field MaxInFlight must be at least 1, got %d", c.MaxInFlight))
	}
	if c.MaxPendingRecords < 1 {
		errs = append(errs, fmt.Errorf("field MaxPendingRecords must be at least 1, got %d", c.MaxPendingRecords))
	}
	if c.UnknownMaxAttempts < 1 {
		errs = append(errs, fmt.Errorf("field UnknownMaxAttempts must be at least 1, got %d", c.UnknownMaxAttempts))
	}
	if c.IsolatedFailureMaxAge < 0 {
		errs = append(errs, fmt.Errorf("field IsolatedFailureMaxAge must not be negative, got %v", c.IsolatedFailureMaxAge))
	}
	return errors.Join(errs...)
}

// Worker batches records, sends them through a Sender within a Pacer's
// budget, and reports each record to a Completer. Its methods are safe for
// concurrent use. Run must be running for records to make progress.
type Worker struct {
	cfg    Config
	sender Sender
	dlq    DeadLetterer
	done   Completer
	pacer  Pacer // nil: no pacing
	obs    Observer

	slots    chan struct{} // one per pending record: the memory bound
	inflight chan struct{} // one per request under way
	calls    chan call     // dispatchers hand batches to the callers; unbuffered
	wake     [len(Actions) + 1]chan struct{}
	dlqWake  chan struct{}

	mu       sync.Mutex
	b        *batcher
	gen      uint64 // bumped by Drain: older batches and items are abandoned
	live     item   // sentinel of the list of live items
	pending  int
	idle     chan struct{} // closed when pending reaches zero during Drain
	dlqQueue []*item
	dlqPause error // the refusal that pauses dead-letter writes; nil while they flow
	sys      systemic
	holds    *holds
	iso      isolation
	stats    counters
}

type counters struct {
	recordsIn, recordsDone, abandoned uint64
	deadLettered                      map[FailureClass]uint64
	calls, seqsSent, seqsAcked        uint64
	byClass                           [numClasses]uint64
	rateLimited, groupRateLimited     uint64
	dlqErrors                         uint64
	inFlight                          int
}

// New returns a Worker. pacer may be nil for unpaced sending (tests and
// benchmarks only); obs may be nil.
func New(cfg Config, sender Sender, dlq DeadLetterer, done Completer, pacer Pacer, obs Observer) (*Worker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("worker config: %w", err)
	}
	if sender == nil || dlq == nil || done == nil {
		return nil, errors.New("worker: sender, dead-letterer and completer are required")
	}
	cfg.setDefaults()
	if obs == nil {
		obs = NopObserver{}
	}
	w := &Worker{
		cfg: cfg, sender: sender, dlq: dlq, done: done, pacer: pacer, obs: obs,
		slots:    make(chan struct{}, cfg.MaxPendingRecords),
		inflight: make(chan struct{}, cfg.MaxInFlight),
		calls:    make(chan call),
		dlqWake:  make(chan struct{}, 1),
		holds:    newHolds(cfg.Backoff),
	}
	w.b = newBatcher(cfg.MaxSeqsPerCall, cfg.Linger, w.holds)
	for i := range w.wake {
		w.wake[i] = make(chan struct{}, 1)
	}
	w.live.next, w.live.prev = &w.live, &w.live
	w.stats.deadLettered = make(map[FailureClass]uint64)
	w.sys.bo = cfg.SystemicBackoff.New()
	w.iso = newIsolation(cfg.IsolatedFailureMaxAge, cfg.MaxPendingRecords)
	return w, nil
}

// Run dispatches batches and writes dead letters until ctx ends, then
// waits for its goroutines and returns nil. Calls under way are cancelled;
// their records stay unfinished.
func (w *Worker) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, a := range Actions {
		wg.Go(func() { w.dispatch(ctx, a) })
	}
	// One caller per in-flight slot, for the Worker's life: a goroutine
	// started per call would grow its stack anew through the HTTP client
	// on every call.
	for range w.cfg.MaxInFlight {
		wg.Go(func() { w.caller(ctx) })
	}
	wg.Go(func() { w.deadLetterLoop(ctx) })
	wg.Wait()
	return nil
}

// Submit adds rec's seqs to the batches. It blocks while MaxPendingRecords
// records are pending, and returns ctx's error if ctx ends first.
func (w *Worker) Submit(ctx context.Context, rec *Record) error {
	if rec == nil || !rec.Key.Action.Valid() || len(rec.Seqs) == 0 {
		return ErrInvalidRecord
	}
	if err := w.acquire(ctx); err != nil {
		return err
	}
	w.mu.Lock()
	now := time.Now()
	it := w.track(rec)
	it.ks = w.iso.track(rec.Key)
	if reason := w.iso.overShare(rec.Key, it.ks, now); reason != "" {
		// Its key fails alone and such keys hold their share already.
		res := exhausted(it.ks.last, reason)
		it.failure = &Failure{Class: FailExhausted, Code: res.Code, Message: res.Message, RequestID: res.RequestID,
			FailedSeqs: rec.Seqs, FailedAt: now}
		w.dlqQueue = append(w.dlqQueue, it)
		events := w.iso.takeEvents()
		w.mu.Unlock()
		signal(w.dlqWake)
		w.reportFailingAlone(events)
		return nil
	}
	changed := w.b.add(it, w.gen, now)
	events := w.iso.takeEvents()
	w.mu.Unlock()
	if changed {
		signal(w.wake[rec.Key.Action])
	}
	w.reportFailingAlone(events)
	return nil
}

// reportFailingAlone tells the observer of keys failing alone, if it
// listens. Call it without w.mu.
func (w *Worker) reportFailingAlone(events []FailingAloneEvent) {
	if o, ok := w.obs.(FailingAloneObserver); ok {
		for _, ev := range events {
			o.OnFailingAlone(ev)
		}
	}
}

// Reject dead-letters rec, which the caller found invalid, with failure f.
// Like Submit it counts toward MaxPendingRecords; rec is done once the
// dead-letter write succeeded.
func (w *Worker) Reject(ctx context.Context, rec *Record, f Failure) error {
	if rec == nil {
		return ErrInvalidRecord
	}
	if err := w.acquire(ctx); err != nil {
		return err
	}
	if f.FailedAt.IsZero() {
		f.FailedAt = time.Now()
	}
	w.mu.Lock()
	it := w.track(rec)
	it.failure = &f
	w.dlqQueue = append(w.dlqQueue, it)
	w.mu.Unlock()
	signal(w.dlqWake)
	return nil
}

func (w *Worker) acquire(ctx context.Context) error {
	select {
	case w.slots <- struct{}{}:
		return nil
	default:
	}
	select {
	case w.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// track registers a new live item for rec. w.mu held.
func (w *Worker) track(rec *Record) *item {
	it := &item{rec: rec, gen: w.gen}
	it.prev, it.next = w.live.prev, &w.live
	w.live.prev.next = it
	w.live.prev = it
	w.pending++
	w.stats.recordsIn++
	return it
}

// untrack removes a live item and frees its slot. w.mu held.
func (w *Worker) untrack(it *item) {
	it.prev.next = it.next
	it.next.prev = it.prev
	it.prev, it.next = nil, nil
	if it.ks != nil {
		w.iso.untrack(it.rec.Key, it.ks)
		it.ks = nil
	}
	w.pending--
	<-w.slots
	if w.pending == 0 && w.idle != nil {
		close(w.idle)
		w.idle = nil
	}
}

// complete reports a finished item done. w.mu held.
func (w *Worker) complete(it *item) {
	if it.abandoned {
		return
	}
	w.untrack(it)
	w.stats.recordsDone++
	w.done.Done(it.rec)
}

// Drain makes every open batch ready at once and waits until no record is
// pending or ctx ends. It returns the records still unfinished and forgets
// them: Done is never called for them, later answers to their calls are
// ignored, and the Worker is empty and ready for new records.
func (w *Worker) Drain(ctx context.Context) []*Record {
	w.mu.Lock()
	var idle chan struct{}
	if w.pending > 0 {
		idle = make(chan struct{})
		w.idle = idle
		w.b.flush = true
	}
	w.mu.Unlock()
	if idle != nil {
		for _, ch := range w.wake {
			signal(ch)
		}
		select {
		case <-idle:
		case <-ctx.Done():
		}
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.flush = false
	w.idle = nil
	var unfinished []*Record
	for it := w.live.next; it != &w.live; {
		next := it.next
		it.abandoned = true
		unfinished = append(unfinished, it.rec)
		w.untrack(it)
		it = next
	}
	w.stats.abandoned += uint64(len(unfinished))
	if len(unfinished) > 0 {
		w.gen++
		w.b.reset()
		w.dlqQueue = nil
	}
	return unfinished
}

// SetShare sets the partitions this pod owns, out of total: its share of
// the rate budget.
func (w *Worker) SetShare(partitions []int, total int) {
	if w.pacer != nil {
		w.pacer.SetShare(partitions, total)
	}
}

// Ready reports whether dispatch is running, that is, not paused for a
// systemic outcome.
func (w *Worker) Ready() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return !w.sys.paused
}

// DeadLetterPause returns the error that pauses dead-letter writes, or nil
// while they flow: the dead-letter topic refuses a letter even written
// alone. The records waiting for a dead-letter write stay unfinished, and
// so uncommitted, until the topic takes the letter or a drain hands them
// back.
func (w *Worker) DeadLetterPause() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dlqPause
}

// Stats returns a snapshot of the Worker's counters and gauges.
func (w *Worker) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := Stats{
		RecordsIn:        w.stats.recordsIn,
		RecordsDone:      w.stats.recordsDone,
		RecordsAbandoned: w.stats.abandoned,
		DeadLettered:     make(map[FailureClass]uint64, len(w.stats.deadLettered)),
		Calls:            w.stats.calls,
		CallsByClass:     make(map[Class]uint64),
		SeqsSent:         w.stats.seqsSent,
		SeqsAcked:        w.stats.seqsAcked,
		RateLimited:      w.stats.rateLimited,
		GroupRateLimited: w.stats.groupRateLimited,
		DeadLetterErrors: w.stats.dlqErrors,
		Pending:          w.pending,
		MaxPending:       w.cfg.MaxPendingRecords,
		InFlight:         w.stats.inFlight,
		SystemicPause:    w.sys.paused,
		DeadLetterPaused: w.dlqPause != nil,

		FailingAloneKeys:    w.iso.aloneKeys,
		FailingAloneRecords: w.iso.records,
	}
	for k, v := range w.stats.deadLettered {
		s.DeadLettered[k] = v
	}
	for c, n := range w.stats.byClass {
		if n > 0 {
			s.CallsByClass[Class(c)] = n
		}
	}
	s.OpenBatches, s.ReadyBatches, s.RetryBatches = w.b.counts()
	s.HeldGroups, s.HeldKeys = w.holds.held(time.Now())
	return s
}

// signal wakes the goroutine waiting on ch, if it is not already woken.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
