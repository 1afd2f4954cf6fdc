package worker

import (
	"context"
	"errors"
	"time"
)

// Action is one of the four ZIM receipt actions. Its String form is the ZIM
// action name, so the edge that talks to ZIM can map it without a table.
type Action uint8

// The receipt actions, in the order of DESIGN.md's event types.
const (
	GroupRead      Action = iota + 1 // GroupReadReceipt
	C2CRead                          // C2cReadReceipt
	GroupDelivered                   // GroupDeliveryReceipt
	C2CDelivered                     // C2cDeliveryReceipt
)

// Actions lists every valid Action.
var Actions = [...]Action{GroupRead, C2CRead, GroupDelivered, C2CDelivered}

var actionNames = [...]string{
	GroupRead:      "GroupReadReceipt",
	C2CRead:        "C2cReadReceipt",
	GroupDelivered: "GroupDeliveryReceipt",
	C2CDelivered:   "C2cDeliveryReceipt",
}

// String returns the ZIM action name, or "" for an invalid Action.
func (a Action) String() string {
	if !a.Valid() {
		return ""
	}
	return actionNames[a]
}

// Valid reports whether a is one of the four receipt actions.
func (a Action) Valid() bool { return a >= GroupRead && a <= C2CDelivered }

// IsGroup reports whether the action addresses a group (GroupId) rather than a
// one-to-one conversation (ConvId).
func (a Action) IsGroup() bool { return a == GroupRead || a == GroupDelivered }

// Key identifies what one API request is about: one action, one reader, one
// conversation. Batches are keyed by it.
type Key struct {
	Action Action
	UserID string // the reader, sent as FromUserId
	ConvID string // the group id for group actions, the peer's user id for c2c actions
}

// Record is one source record's receipts, as submitted to the Worker.
//
// The Worker never reads Ref: it hands the same *Record back to the Completer
// and the DeadLetterer, which use Ref to find the source record (its topic,
// partition, offset, key, value and headers).
type Record struct {
	Key    Key
	Seqs   []uint64  // sorted ascending, de-duplicated, non-empty for Submit
	ReadAt time.Time // when the user read the messages; zero if unknown
	Ref    any
}

// Class is what the Worker does with an API outcome. The edge that talks to
// ZIM maps every return code to exactly one Class.
type Class uint8

// Outcome classes; see DESIGN.md, "Outcomes".
const (
	ClassSuccess          Class = iota // the receipts are set: done
	ClassRateLimited                   // too fast for the app: slow the action down, pause, retry with no attempt cap
	ClassGroupRateLimited              // too fast for one group: back off that group alone, retry with no attempt cap
	ClassTransient                     // the server or the network is sick: back off and retry, no attempt cap
	ClassResign                        // the signature expired: retry at once with a fresh one
	ClassTooMany                       // more seqs than the API takes: split and retry
	ClassDeadLetter                    // the data is bad: dead-letter the batch's records
	ClassSystemic                      // receiptd's own configuration is wrong: pause everything, probe
	ClassUnknown                       // a code nobody documented: bounded retries, then dead-letter
	numClasses
)

var classNames = [...]string{
	ClassSuccess:          "success",
	ClassRateLimited:      "rate_limited",
	ClassGroupRateLimited: "group_rate_limited",
	ClassTransient:        "transient",
	ClassResign:           "resign",
	ClassTooMany:          "too_many",
	ClassDeadLetter:       "dead_letter",
	ClassSystemic:         "systemic",
	ClassUnknown:          "unknown",
}

func (c Class) String() string {
	if c >= numClasses {
		return "unknown"
	}
	return classNames[c]
}

// Request is one API call: at most Config.MaxSeqsPerCall seqs for one Key.
type Request struct {
	Key  Key
	Seqs []uint64 // sorted ascending, de-duplicated; the Sender must not modify it
}

// Result is what a Sender learned from one API call.
type Result struct {
	Class     Class
	Code      int64  // the ZIM return code; 0 when no answer was decoded
	Message   string // the ZIM message or a description of the transport failure
	RequestID string
	Err       error // the transport error, if any
	Latency   time.Duration
	Sent      time.Time // when the request was written; zero if it never was
}

// Sender makes one API call. It must be safe for concurrent use and must
// return when ctx is done.
type Sender interface {
	Send(ctx context.Context, req Request) Result
}

// FailureClass says why a record was dead-lettered; it becomes the DLQ header
// receiptd-error-class.
type FailureClass string

// The failure classes of DESIGN.md, "Dead-letter record".
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

// DeadLetter is one record with the reason it failed.
type DeadLetter struct {
	Record  *Record
	Failure Failure
}

// DeadLetterer writes records durably to the dead-letter topic. A nil error
// means every letter is durable; any error means none may be assumed durable.
// An error that wraps ErrDeadLetterRefused says the topic refuses the write
// for good: the Worker then writes each of the letters alone, and a
// DeadLetterer given one letter alone writes it in the smallest form it can
// (its value cut, say). Any other error is taken as transient: the Worker
// retries the same letters with backoff. It must be safe for concurrent use.
type DeadLetterer interface {
	DeadLetter(ctx context.Context, letters []DeadLetter) error
}

// ErrDeadLetterRefused, wrapped in a DeadLetterer's error, says that
// retrying the same write cannot succeed: the dead-letter topic refuses it
// (a record too large, a topic that is invalid or that receiptd may not
// write to).
var ErrDeadLetterRefused = errors.New("the dead-letter topic refuses the write")

// Completer is told when a record is done: every part acknowledged by ZIM or
// the record durably dead-lettered. Done is called exactly once per finished
// record, never for a record that Drain returned as unfinished. It is called
// with the Worker's lock held, so it must be quick and must not call back into
// the Worker.
type Completer interface {
	Done(rec *Record)
}
