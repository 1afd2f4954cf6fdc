package worker_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/receiptd/receiptd/deadletter"
	"github.com/receiptd/receiptd/deadletter/deadlettertest"
	"github.com/receiptd/receiptd/receipt"
	"github.com/receiptd/receiptd/worker"
)

// fakeSender answers each request with respond's Result and records what
// it was asked. A nil respond answers success.
type fakeSender struct {
	respond func(req receipt.Request, call int) receipt.Result

	mu    sync.Mutex
	calls []sentCall
}

type sentCall struct {
	req receipt.Request
	at  time.Time
}

func (f *fakeSender) Send(ctx context.Context, req receipt.Request) receipt.Result {
	f.mu.Lock()
	n := len(f.calls)
	f.calls = append(f.calls, sentCall{req: receipt.Request{Key: req.Key, Seqs: slices.Clone(req.Seqs)}, at: time.Now()})
	respond := f.respond
	f.mu.Unlock()
	if respond == nil {
		return receipt.Result{Class: receipt.ClassSuccess, RequestID: fmt.Sprint("req-", n)}
	}
	return respond(req, n)
}

func (f *fakeSender) sent() []sentCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// doneLog records every Done call and fails the test on a second one for
// the same record.
type doneLog struct {
	t     *testing.T
	mu    sync.Mutex
	count map[*worker.Record]int
	at    map[*worker.Record]time.Time
	order []*worker.Record
	hook  func(*worker.Record)
}

func (d *doneLog) Done(r *worker.Record) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.count == nil {
		d.count = make(map[*worker.Record]int)
		d.at = make(map[*worker.Record]time.Time)
	}
	d.count[r]++
	d.at[r] = time.Now()
	if d.count[r] > 1 {
		d.t.Errorf("record %v %v reported done %d times", r.Key, r.Seqs, d.count[r])
	}
	d.order = append(d.order, r)
	if d.hook != nil {
		d.hook(r)
	}
}

func (d *doneLog) isDone(r *worker.Record) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.count[r] > 0
}

// doneAt returns when r was reported done, or the zero time.
func (d *doneLog) doneAt(r *worker.Record) time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.at[r]
}

func (d *doneLog) n() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.order)
}

// recorder is an Observer that keeps every event: the worker's, and the
// dead-letter stage's beside it.
type recorder struct {
	deadlettertest.Events
	calls    deadlettertest.Log[worker.CallEvent]
	systemic deadlettertest.Log[worker.SystemicEvent]
}

func (r *recorder) OnCall(e worker.CallEvent)         { r.calls.Add(e) }
func (r *recorder) OnSystemic(e worker.SystemicEvent) { r.systemic.Add(e) }

type harness struct {
	t      *testing.T
	w      *worker.Worker
	stage  *deadletter.Stage // the dead-letter stage beside the worker, writing to dlq
	sender *fakeSender
	dlq    *deadlettertest.Writer
	done   *doneLog
	obs    *recorder
	stop   func()
}

// start runs a Worker, and the dead-letter stage beside it, until the test
// ends. Call it inside a synctest bubble when the test depends on time.
func start(t *testing.T, cfg worker.Config, sender worker.Sender, pacer worker.Pacer) *harness {
	t.Helper()
	return startStaged(t, cfg, deadletter.StageConfig{}, sender, pacer)
}

// startStaged is start with the dead-letter stage configured by dcfg.
func startStaged(t *testing.T, cfg worker.Config, dcfg deadletter.StageConfig, sender worker.Sender, pacer worker.Pacer) *harness {
	t.Helper()
	h := &harness{t: t, dlq: &deadlettertest.Writer{}, done: &doneLog{t: t}, obs: &recorder{}}
	if fs, ok := sender.(*fakeSender); ok {
		h.sender = fs
	}
	if sender == nil {
		h.sender = &fakeSender{}
		sender = h.sender
	}
	if cfg.MaxPendingRecords == 0 {
		cfg.MaxPendingRecords = worker.DefaultMaxPendingRecords
	}
	cfg.Slots = worker.NewSlots(cfg.MaxPendingRecords)
	dcfg.Slots = cfg.Slots
	stage, err := deadletter.NewStage(dcfg, h.dlq, h.done, h.obs)
	if err != nil {
		t.Fatal(err)
	}
	w, err := worker.New(cfg, sender, stage, h.done, worker.WithPacer(pacer), worker.WithObserver(h.obs))
	if err != nil {
		t.Fatal(err)
	}
	h.w, h.stage = w, stage
	ctx, cancel := context.WithCancel(context.Background())
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		var wg sync.WaitGroup
		wg.Go(func() { _ = stage.Run(ctx) })
		if err := w.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
		wg.Wait()
	}()
	var once sync.Once
	h.stop = func() { once.Do(func() { cancel(); <-ended }) }
	t.Cleanup(h.stop)
	return h
}

func (h *harness) submit(recs ...*worker.Record) {
	h.t.Helper()
	for _, r := range recs {
		if err := h.w.Submit(context.Background(), r); err != nil {
			h.t.Fatalf("Submit: %v", err)
		}
	}
}

// waitFor polls cond; inside a synctest bubble the waiting costs no real
// time.
func (h *harness) waitFor(what string, limit time.Duration, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out after %v waiting for %s; stats %+v, dead-letter stats %+v", limit, what, h.w.Stats(), h.stage.Stats())
		}
		time.Sleep(time.Millisecond)
	}
}

func record(a receipt.Action, user, conv string, seqs ...uint64) *worker.Record {
	return &worker.Record{Key: receipt.Key{Action: a, UserID: user, ConvID: conv}, Seqs: seqs}
}

func seqRange(from, to uint64) []uint64 {
	var s []uint64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

// results answers the calls in order with classes, then success.
func results(classes ...receipt.Class) func(receipt.Request, int) receipt.Result {
	return func(_ receipt.Request, call int) receipt.Result {
		if call < len(classes) {
			c := classes[call]
			return receipt.Result{Class: c, Code: codeOf[c], Message: "answer " + c.String(), RequestID: fmt.Sprint("req-", call)}
		}
		return receipt.Result{Class: receipt.ClassSuccess, RequestID: fmt.Sprint("req-", call)}
	}
}

var codeOf = map[receipt.Class]int64{
	receipt.ClassRateLimited:      660300005,
	receipt.ClassGroupRateLimited: 660300006,
	receipt.ClassTransient:        1,
	receipt.ClassResign:           100000004,
	receipt.ClassTooMany:          660400102,
	receipt.ClassDeadLetter:       660400103,
	receipt.ClassSystemic:         100000005,
	receipt.ClassUnknown:          424242,
}
