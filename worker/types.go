package worker

// What the Worker takes and whom it talks to. Goroutine contract: a Record
// belongs to the Worker from Submit until it hands the record to the
// Completer or the DeadLetterer, and is not changed by anyone meanwhile.
// The Sender is called from the callers, concurrently and without w.mu;
// the Completer and the DeadLetterer are called with w.mu held, so they
// must not block or call back into the Worker.

import (
	"context"
	"time"

	"github.com/receiptd/receiptd/receipt"
)

// Record is one source record's receipts, as submitted to the Worker.
//
// The Worker never calls Completion itself: it hands the same *Record back
// to the Completer and the DeadLetterer, and the Completer completes it.
type Record struct {
	Key    receipt.Key
	Seqs   []uint64  // sorted ascending, de-duplicated, non-empty for Submit
	ReadAt time.Time // when the user read the messages; zero if unknown
	// Completion is attached by whoever submits the record (the consumer
	// attaches its entry for the source record); nil when nobody waits for
	// the record.
	Completion Completion
}

// Completion is how a finished record tells its source so: every part
// acknowledged by ZIM, or its dead letter durable. Like the Ack of a
// Watermill message, Done is idempotent (calls after the first do nothing),
// cheap, and safe to call from any goroutine, with any lock held.
type Completion interface {
	Done()
}

// Complete calls r's Completion, if it has one.
func (r *Record) Complete() {
	if r.Completion != nil {
		r.Completion.Done()
	}
}

// numClasses sizes the per-class counters.
const numClasses = len(receipt.Classes)

// Sender makes one API call. It must be safe for concurrent use and must
// return when ctx is done.
type Sender interface {
	Send(ctx context.Context, req receipt.Request) receipt.Result
}

// FailureClass says why a record was dead-lettered; it becomes the DLQ header
// receiptd-error-class.
type FailureClass string

// The failure classes of a dead letter (docs/architecture.md, "The input
// event and the dead letter").
const (
	FailInvalidEvent FailureClass = "invalid_event" // the record could not be decoded or broke a rule
	FailRejected     FailureClass = "rejected"      // ZIM rejected the data (a dead-letter code)
	FailExhausted    FailureClass = "exhausted"     // an unknown code persisted past the attempt limit, or the key failed alone (isolation.go)
)

// Failure describes why a record goes to the dead-letter topic.
type Failure struct {
	Class          FailureClass
	Code           int64  // the ZIM return code, 0 for invalid events
	Message        string // the ZIM message, or the validation error
	RequestID      string
	FailedSeqs     []uint64 // the seqs of the record that failed; all of them for an invalid event
	Attempts       int
	FirstAttemptAt time.Time // zero for invalid events
	FailedAt       time.Time
}

// DeadLetterer takes the records the Worker gives up on: those ZIM
// rejected (FailRejected) and those exhausted (FailExhausted). DeadLetter
// takes over rec, with its slot of Config.Slots, and returns at once; from
// then on the DeadLetterer, not the Worker, reports rec done once its
// letter is durable, and releases the slot. It is called with the Worker's
// lock held, so it must not block and must not call back into the Worker.
type DeadLetterer interface {
	DeadLetter(rec *Record, f Failure)
}

// Completer is told when a record is done: every part acknowledged by ZIM
// (told by the Worker) or the record durably dead-lettered (told by the
// DeadLetterer). Done is called exactly once per finished record, never for
// a record that a Drain returned as unfinished. It is called with the
// caller's lock held, so it must be quick and must not call back into the
// Worker or the DeadLetterer.
type Completer interface {
	Done(rec *Record)
}
