package deadletter

// The events the Writer and the Stage report, and the interfaces that
// receive them.
//
// Lock and goroutine contract: see Observer and StageObserver: both are
// called synchronously, from the goroutine that writes.

import "time"

// Observer receives the Writer's events, for logs and metrics. Methods are
// called synchronously from the goroutine that writes, and must return
// quickly. Embed NopObserver to implement only some of them.
type Observer interface {
	// WriteFailed: a dead-letter write failed; the caller retries it.
	WriteFailed(WriteFailed)
	// LimitLearned: the writer learned the dead-letter topic's size limit,
	// before its first write or after the brokers refused a record as too
	// large.
	LimitLearned(LimitLearned)
	// Truncated: a dead letter was cut to fit the dead-letter topic, and
	// written.
	Truncated(Truncated)
}

// WriteFailed describes a failed dead-letter write.
type WriteFailed struct {
	Topic   string // the dead-letter topic
	Records int
	Err     error
}

// LimitLearned describes the dead-letter topic's size limit, as the writer
// learned it.
type LimitLearned struct {
	Topic           string
	MaxMessageBytes int
	From            string // LimitFromTopic, LimitFromConfig or LimitFromDefault
	Err             error  // for LimitFromDefault: why the topic's own limit could not be read
}

// Truncated describes a dead letter cut to fit the dead-letter topic.
type Truncated struct {
	Topic           string // the dead-letter topic
	MaxMessageBytes int    // its limit
	SourceTopic     string
	SourcePartition int
	SourceOffset    int64
	Cut             []string // what was cut: value, then headers (the source's own), then key
	LetterBytes     int      // the letter's size before cutting, as a record batch of its own
	WrittenBytes    int      // its size as written
}

// NopObserver ignores every event.
type NopObserver struct{}

func (NopObserver) WriteFailed(WriteFailed)   {}
func (NopObserver) LimitLearned(LimitLearned) {}
func (NopObserver) Truncated(Truncated)       {}

// StageObserver is told what a Stage does when writes fail, for logs. Its
// methods are called from the Stage's writing goroutine without its lock
// held, and must return quickly. Embed NopStageObserver to implement only
// some of them.
type StageObserver interface {
	// OnDeadLetterError is told of every failed write and of what the
	// Stage does next.
	OnDeadLetterError(ErrorEvent)
	// OnDeadLetterPause is told when writes pause, because the topic
	// refuses a letter even alone, and when they resume.
	OnDeadLetterPause(PauseEvent)
}

// Next is what a Stage does after a failed write.
type Next string

// The Stage's reactions to a failed write.
const (
	NextRetry Next = "retry" // a transient error: the same letters are written again after RetryIn
	NextSplit Next = "split" // the topic refuses the write: each letter is now written alone
	NextPause Next = "pause" // the topic refuses a letter even alone: writes pause, it is written again after RetryIn
)

// ErrorEvent describes a failed write.
type ErrorEvent struct {
	Err     error
	Letters int
	Attempt int
	Next    Next
	RetryIn time.Duration // for NextRetry and NextPause
}

// PauseEvent describes a change of the pause.
type PauseEvent struct {
	Paused bool
	// Err is the refusal that paused writes; when they resume, the last
	// one seen.
	Err error
	// Letters is how many letters wait for the write: the refused one and
	// those queued behind it.
	Letters int
	// Written says, when writes resume, whether the topic took the refused
	// letter (true) or a drain handed its record back unfinished (false).
	Written bool
}

// NopStageObserver ignores everything.
type NopStageObserver struct{}

func (NopStageObserver) OnDeadLetterError(ErrorEvent) {}
func (NopStageObserver) OnDeadLetterPause(PauseEvent) {}
