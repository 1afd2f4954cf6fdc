package worker

// What the Worker tells its Observer. Goroutine contract: the Observer is
// called from the dispatchers, the callers and Submit's caller, never with
// w.mu held, possibly concurrently.

import (
	"time"

	"github.com/receiptd/receiptd/receipt"
)

// Observer is told what the Worker does, for logs and metrics. Its methods
// are called from the Worker's goroutines without the Worker's lock held;
// they must be safe for concurrent use and return quickly. Embed
// NopObserver to implement only some of them.
type Observer interface {
	// OnCall is told of every API call once its outcome is handled,
	// successes included.
	OnCall(CallEvent)
	// OnSystemic is told when dispatch pauses for a systemic outcome and
	// when a probe succeeds and dispatch resumes.
	OnSystemic(SystemicEvent)
}

// Next is what the Worker does after an API call.
type Next string

// The Worker's reactions to an outcome.
const (
	NextDone       Next = "done"        // the seqs are acknowledged
	NextRetry      Next = "retry"       // sent again after RetryIn
	NextSplit      Next = "split"       // split in halves, each sent again
	NextDeadLetter Next = "dead_letter" // the batch's records go to the DLQ
	NextPause      Next = "pause"       // all dispatch paused; this batch is the next probe
	NextDropped    Next = "dropped"     // the batch's records were abandoned by Drain meanwhile
)

// CallEvent describes one API call and what the Worker did next.
type CallEvent struct {
	Key     receipt.Key
	Seqs    int // seqs in the request
	Records int // records whose seqs the request carried
	Attempt int // 1 for the first send of these seqs
	Result  receipt.Result
	Next    Next
	RetryIn time.Duration // for NextRetry and NextPause
	// RateLimitPause is the global pause this answer started, if any.
	RateLimitPause time.Duration
	// ReadToReceipt holds, for each record whose last seqs this call set
	// (every seq of the record is acknowledged), the time from the record's
	// ReadAt to ZIM's answer; records without ReadAt are left out.
	ReadToReceipt []time.Duration
	// Reason says why the records were dead-lettered when the answer
	// alone would not have: the key failed alone (see FailingAloneEvent).
	Reason string
}

// SystemicEvent describes a change of the systemic pause.
type SystemicEvent struct {
	Paused    bool
	Result    receipt.Result // the answer that paused, or the probe's answer that resumed
	NextProbe time.Duration  // when paused: time until the next probe
}

// FailingAloneObserver is an optional interface of an Observer: it is told
// when a key begins to fail alone (its calls keep failing while other keys
// of its action succeed), and when that key's records begin to be
// dead-lettered, once each per run of failures.
type FailingAloneObserver interface {
	OnFailingAlone(FailingAloneEvent)
}

// FailingAloneEvent describes a key failing alone.
type FailingAloneEvent struct {
	Key     receipt.Key
	For     time.Duration  // how long its calls have been failing
	Records int            // records of the key pending
	Result  receipt.Result // its last failed answer
	// DeadLettering is empty when the key began to fail alone, and says
	// why when its records begin to be dead-lettered.
	DeadLettering string
}

// NopObserver ignores everything.
type NopObserver struct{}

func (NopObserver) OnCall(CallEvent)         {}
func (NopObserver) OnSystemic(SystemicEvent) {}

// Stats is a snapshot of the Worker's counters (totals since New) and
// gauges.
type Stats struct {
	RecordsIn        uint64 // records submitted
	RecordsDone      uint64 // records reported done: every seq acknowledged by ZIM
	RecordsFailed    uint64 // records handed to the DeadLetterer
	RecordsAbandoned uint64 // records handed back unfinished by Drain

	Calls        uint64 // API calls answered or failed
	CallsByClass map[receipt.Class]uint64
	SeqsSent     uint64 // seqs in all calls
	SeqsAcked    uint64 // seqs in successful calls: receipts set
	RateLimited  uint64 // calls answered with an app-level rate-limit code (660300005, 7, HTTP 429)
	// GroupRateLimited counts calls answered with a group's rate limit
	// (660300006).
	GroupRateLimited uint64

	Pending      int // records submitted and not yet done or handed to the DeadLetterer
	MaxPending   int // the bound on Pending: Config.MaxPendingRecords
	InFlight     int // calls under way
	OpenBatches  int // batches still absorbing seqs
	ReadyBatches int // full batches waiting for their turn
	RetryBatches int // batches waiting to be sent again, or for their group's hold to end
	HeldGroups   int // groups held back after their rate-limit answers
	HeldKeys     int // keys held back after transient answers
	// FailingAloneKeys counts keys whose calls keep failing while other
	// keys of their action succeed; FailingAloneRecords the records they
	// hold, at most half of MaxPendingRecords.
	FailingAloneKeys    int
	FailingAloneRecords int
	SystemicPause       bool
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
