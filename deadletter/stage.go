package deadletter

// The dead-letter stage: the records that cannot succeed wait here until a
// LetterWriter made their letters durable, then are reported done.
//
// Lock and goroutine contract: s.mu guards the queue, the live letters, the
// pause and the counters; it is held only for bookkeeping, never across a
// write, a wait or an Observer call, but it is held across Completer.Done,
// whose contract allows it. Run owns the one goroutine that writes
// (settle.go), so the backoff and the timer are its own. Reject, DeadLetter,
// Drain and the accessors are called from other goroutines: the consumer's
// fetchers, the worker (with its own lock held: DeadLetter never blocks and
// never calls back into the worker), the consumer's generation loop,
// metrics.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/receiptd/receiptd/retry"
	"github.com/receiptd/receiptd/worker"
)

// Letter is one record with the reason it failed.
type Letter struct {
	Record  *worker.Record
	Failure worker.Failure
}

// LetterWriter writes letters durably to the dead-letter topic; *Writer
// implements it. A nil error means every letter is durable; any error means
// none may be assumed durable. An error that wraps ErrRefused says the
// topic refuses the write for good: the Stage then writes each of the
// letters alone, and a LetterWriter given one letter alone writes it in the
// smallest form it can (its value cut, say). Any other error is taken as
// transient: the Stage writes the same letters again after a backoff. It
// must be safe for concurrent use.
type LetterWriter interface {
	DeadLetter(ctx context.Context, letters []Letter) error
}

// ErrRefused, wrapped in a LetterWriter's error, says that retrying the
// same write cannot succeed: the dead-letter topic refuses it (a record too
// large, a topic that is invalid or that receiptd may not write to).
var ErrRefused = errors.New("the dead-letter topic refuses the write")

// StageConfig configures a Stage.
type StageConfig struct {
	// Slots bounds the records held by the Stage and the worker together:
	// Reject takes one, DeadLetter takes over the worker's, and a record
	// gives its slot back when it is done or drained. Required.
	Slots *worker.Slots
	// Backoff spaces the retries of a failed write and, while paused, of
	// the refused letter; overriding the default of 250ms initial, 30s max.
	Backoff retry.Policy
}

// maxLettersPerWrite bounds one write, so that it stays well under the
// producer's request size.
const maxLettersPerWrite = 500

// Stage writes the letters of the records it is given to a LetterWriter
// and reports each record to a Completer once its letter is durable,
// exactly once. A failed write is retried, never dropped; one the topic
// refuses is split so that one letter cannot hold back the others; a letter
// refused even alone pauses the Stage (see Pause). Its methods are safe for
// concurrent use; Run must be running for letters to be written.
type Stage struct {
	cfg   StageConfig
	w     LetterWriter
	done  worker.Completer
	obs   StageObserver
	slots *worker.Slots
	wake  chan struct{} // size one: a pending wake-up is enough

	mu      sync.Mutex
	queue   []*letter            // waiting for a write, in arrival order
	live    map[*letter]struct{} // queued or being written
	idle    chan struct{}        // closed when live empties during Drain
	paused  error                // the refusal that pauses writes; nil while they flow
	counted Stats                // the counters of Stats; Pending and Paused are computed
}

// letter is the Stage's state for one record.
type letter struct {
	Letter
	abandoned bool // handed back by Drain: never reported done
}

// NewStage returns a Stage writing through w and reporting to done. obs
// may be nil.
func NewStage(cfg StageConfig, w LetterWriter, done worker.Completer, obs StageObserver) (*Stage, error) {
	if cfg.Slots == nil || w == nil || done == nil {
		return nil, errors.New("dead-letter stage: slots, writer and completer are required")
	}
	if obs == nil {
		obs = NopStageObserver{}
	}
	return &Stage{
		cfg: cfg, w: w, done: done, obs: obs, slots: cfg.Slots,
		wake:    make(chan struct{}, 1),
		live:    make(map[*letter]struct{}),
		counted: Stats{DeadLettered: make(map[worker.FailureClass]uint64)},
	}, nil
}

// Reject dead-letters rec, which the caller found invalid, with failure f
// (FailedAt defaults to now). It takes one of the shared slots, blocking
// while none is free, and returns ctx's error if ctx ends first.
func (s *Stage) Reject(ctx context.Context, rec *worker.Record, f worker.Failure) error {
	if rec == nil {
		return fmt.Errorf("dead-letter stage: %w", worker.ErrInvalidRecord)
	}
	if err := s.slots.Acquire(ctx); err != nil {
		return err
	}
	if f.FailedAt.IsZero() {
		f.FailedAt = time.Now()
	}
	s.mu.Lock()
	s.counted.Rejected++
	s.add(rec, f)
	s.mu.Unlock()
	signal(s.wake)
	return nil
}

// DeadLetter takes over rec, which the worker gave up on, with the slot it
// holds. It never blocks and never calls back into the worker
// (worker.DeadLetterer).
func (s *Stage) DeadLetter(rec *worker.Record, f worker.Failure) {
	s.mu.Lock()
	s.counted.Handed++
	s.add(rec, f)
	s.mu.Unlock()
	signal(s.wake)
}

// add queues rec's letter. s.mu held.
func (s *Stage) add(rec *worker.Record, f worker.Failure) {
	l := &letter{Letter: Letter{Record: rec, Failure: f}}
	s.live[l] = struct{}{}
	s.queue = append(s.queue, l)
}

// Drain waits until every letter is written or ctx ends, and returns the
// records still unfinished and forgets them: Done is never called for them
// and their slots are free. Call it after the worker's Drain, so that the
// worker hands over nothing more of the ending generation.
func (s *Stage) Drain(ctx context.Context) []*worker.Record {
	s.mu.Lock()
	var idle chan struct{}
	if len(s.live) > 0 {
		idle = make(chan struct{})
		s.idle = idle
	}
	s.mu.Unlock()
	if idle != nil {
		select {
		case <-idle:
		case <-ctx.Done():
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.idle = nil
	var unfinished []*worker.Record
	for l := range s.live {
		l.abandoned = true
		unfinished = append(unfinished, l.Record)
		s.forget(l)
	}
	s.queue = nil
	s.counted.Abandoned += uint64(len(unfinished))
	return unfinished
}

// forget removes a live letter and frees its slot. s.mu held.
func (s *Stage) forget(l *letter) {
	delete(s.live, l)
	s.slots.Release()
	if len(s.live) == 0 && s.idle != nil {
		close(s.idle)
		s.idle = nil
	}
}

// Pause returns the error that pauses dead-letter writes, or nil while they
// flow: the dead-letter topic refuses a letter even written alone. The
// records waiting for a dead-letter write stay unfinished, and so
// uncommitted, until the topic takes the letter or a drain hands them back.
func (s *Stage) Pause() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.paused
}

// Stats is a snapshot of a Stage's counters (totals since NewStage) and
// gauges.
type Stats struct {
	Rejected     uint64                         // records taken by Reject: invalid events
	Handed       uint64                         // records the worker gave up on
	DeadLettered map[worker.FailureClass]uint64 // records whose letter is durable, by class: done
	Abandoned    uint64                         // records handed back unfinished by Drain
	WriteErrors  uint64                         // failed writes
	Pending      int                            // records waiting for their letter to be durable
	Paused       bool                           // writes are paused (see Stage.Pause)
}

// Done counts the records whose letter is durable, of every class.
func (st Stats) Done() uint64 {
	var n uint64
	for _, c := range st.DeadLettered {
		n += c
	}
	return n
}

// Stats returns a snapshot of the Stage's counters and gauges.
func (s *Stage) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.counted
	st.DeadLettered = make(map[worker.FailureClass]uint64, len(s.counted.DeadLettered))
	for k, v := range s.counted.DeadLettered {
		st.DeadLettered[k] = v
	}
	st.Pending = len(s.live)
	st.Paused = s.paused != nil
	return st
}

// signal wakes the goroutine waiting on ch, if it is not already woken.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
