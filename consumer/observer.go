package consumer

// What the Consumer tells its Observer. Goroutine contract: the Observer is
// called from Run's goroutine, the generation's goroutine, the fetchers and
// the log-end poller, with no lock of the Consumer held, possibly
// concurrently.

import "time"

// Observer receives the consumer's lifecycle events, for logs and metrics.
// Methods are called synchronously from the consumer's goroutines, possibly
// concurrently, and must return quickly. Embed NopObserver to implement only
// some of them.
type Observer interface {
	// Joined: the member got a new generation and its partitions.
	Joined(Joined)
	// BrokersUnreachable: at start the brokers did not answer (or answered
	// with an error); Run retries after RetryIn and consumes once they do.
	BrokersUnreachable(BrokersUnreachable)
	// GroupError: joining or syncing the group failed; the member joins
	// again after RetryIn.
	GroupError(GroupError)
	// StaleMemberLeft: this process's member id of an ended generation was
	// removed from the group, so that a rebalance need not wait for it.
	StaleMemberLeft(StaleMemberLeft)
	// CarriedOver: a new generation found done work of an earlier one
	// above the group's committed offsets: work the member kept because its
	// commit failed, or done records the last commit listed.
	CarriedOver(CarriedOver)
	// Revoked: the generation ended; fetching has stopped.
	Revoked(Revoked)
	// Drained: the revoked work was drained, or the drain timed out.
	Drained(Drained)
	// Committed: offsets were committed.
	Committed(Committed)
	// CommitFailed: a commit failed; its Next says what becomes of it.
	CommitFailed(CommitFailed)
	// FetchError: a partition fetch failed; the fetcher retries with backoff.
	FetchError(FetchError)
	// OffsetReset: a partition's offset was out of range and was reset.
	OffsetReset(OffsetReset)
	// RecordsSkipped: a fetcher's first record came after the offset it
	// started from: the offsets between were deleted by retention before
	// they were consumed, compacted away, or held transaction markers.
	RecordsSkipped(RecordsSkipped)
	// InvalidEvent: a record broke an event rule and goes to the dead-letter topic.
	InvalidEvent(InvalidEvent)
	// Lag: records between the committed offset and the log end per owned
	// partition, reported every commit interval.
	Lag(Lag)
	// LagPollFailed: reading the log end offsets failed; the lag figures
	// stay as they were until a later poll succeeds.
	LagPollFailed(LagPollFailed)
}

// Joined describes a new generation.
type Joined struct {
	GenerationID int32
	MemberID     string
	Topic        string
	Partitions   []int // owned partitions, ascending
	Total        int   // partitions of the topic
}

// BrokersUnreachable describes a failed attempt to reach the brokers at
// start.
type BrokersUnreachable struct {
	Brokers []string
	Err     error
	Attempt int       // 1 for the first failure
	Since   time.Time // when the first attempt began
	RetryIn time.Duration
}

// GroupError describes a failed attempt to join or sync the group.
type GroupError struct {
	Group string
	Err   error
	// Rebalancing: the group is rebalancing; the member stays in it and
	// joins again at once. Otherwise the member has left the group.
	Rebalancing bool
	RetryIn     time.Duration
}

// StaleMemberLeft names a member id of this process that left the group
// after its generation ended.
type StaleMemberLeft struct {
	Group    string
	MemberID string
}

// CarriedOver describes done work of an earlier generation above the
// group's committed offsets, and what this generation does with it.
type CarriedOver struct {
	GenerationID int32
	Topic        string
	// Resumed partitions are assigned to this member again: consumption
	// resumes at these offsets, committed in this generation where they are
	// ahead of the group's.
	Resumed map[int]int64
	// Skipped records above the resumed offsets were done already: they
	// are marked done when fetched again, not handed to the pipeline.
	Skipped int
	// Dropped partitions, whose done work the member kept after a failed
	// commit, belong to another member now: this member never commits
	// them, and their new owner consumes them again from the group's
	// committed offset.
	Dropped map[int]int64
}

// RevokeReason says why a generation ended.
type RevokeReason string

// Revoke reasons.
const (
	RevokeRebalance RevokeReason = "rebalance" // the group rebalances; the member rejoins
	RevokeShutdown  RevokeReason = "shutdown"  // Run's context ended; the member leaves
	RevokeAbandon   RevokeReason = "abandon"   // Run's context ended with ErrAbandon: no drain, no commit
)

// Revoked describes the end of a generation.
type Revoked struct {
	GenerationID int32
	Partitions   []int
	Reason       RevokeReason
	Outstanding  int // records fetched and not yet done
}

// Drained describes a drain of revoked work.
type Drained struct {
	GenerationID int32
	Reason       RevokeReason
	Done         int // records finished during the drain
	Abandoned    int // records left unfinished and uncommitted: they will be redelivered
	Duration     time.Duration
}

// Committed lists the offsets of one successful commit: the next offset to
// consume per partition.
type Committed struct {
	GenerationID int32
	Topic        string
	Offsets      map[int]int64
}

// CommitFailed describes a failed commit.
type CommitFailed struct {
	GenerationID int32
	Topic        string
	Offsets      map[int]int64
	Err          error
	Next         CommitNext
	RetryIn      time.Duration // with CommitRetryTick: the commit interval
}

// CommitNext says what becomes of the offsets of a failed commit.
type CommitNext string

// What becomes of a failed commit.
const (
	// CommitRetryTick: the generation goes on; the next tick commits them
	// again, with whatever was done since.
	CommitRetryTick CommitNext = "retry_at_next_tick"
	// CommitCarry: the generation ended; the member keeps them and commits
	// them in the next generation that assigns it these partitions (see
	// CarriedOver).
	CommitCarry CommitNext = "carry_to_next_generation"
	// CommitAbandon: the member is leaving the group; what lies above the
	// last commit is consumed again by the group.
	CommitAbandon CommitNext = "consume_again"
)

// FetchError describes a failed fetch of one partition.
type FetchError struct {
	Topic     string
	Partition int
	Offset    int64 // the offset the fetcher asked for; negative if not yet known
	Err       error
	RetryIn   time.Duration
}

// OffsetReset describes an out-of-range offset and what was done about it.
type OffsetReset struct {
	Topic       string
	Partition   int
	Offset      int64  // the offset asked for
	LogStart    int64  // the partition's first offset
	LogEnd      int64  // the partition's last stable offset (its end for committed data)
	ResetTo     int64  // where consumption resumes
	StartOffset string // the reset policy applied: earliest or latest
}

// RecordsSkipped describes offsets that were never delivered: [From, To).
type RecordsSkipped struct {
	Topic     string
	Partition int
	From, To  int64
}

// InvalidEvent describes a record that broke an event rule.
type InvalidEvent struct {
	Topic     string
	Partition int
	Offset    int64
	Reason    string
}

// Lag is the number of records between the committed offset and the log
// end per owned partition (see Consumer.Progress); partitions whose log end
// is not known yet are absent.
type Lag struct {
	Topic      string
	Partitions map[int]int64
}

// LagPollFailed describes a failed read of the log end offsets.
type LagPollFailed struct {
	Topic      string
	Partitions []int
	Err        error
}

// NopObserver ignores every event. Embed it to implement part of Observer.
type NopObserver struct{}

func (NopObserver) Joined(Joined)                         {}
func (NopObserver) BrokersUnreachable(BrokersUnreachable) {}
func (NopObserver) GroupError(GroupError)                 {}
func (NopObserver) CarriedOver(CarriedOver)               {}
func (NopObserver) StaleMemberLeft(StaleMemberLeft)       {}
func (NopObserver) Revoked(Revoked)                       {}
func (NopObserver) Drained(Drained)                       {}
func (NopObserver) Committed(Committed)                   {}
func (NopObserver) CommitFailed(CommitFailed)             {}
func (NopObserver) FetchError(FetchError)                 {}
func (NopObserver) OffsetReset(OffsetReset)               {}
func (NopObserver) RecordsSkipped(RecordsSkipped)         {}
func (NopObserver) InvalidEvent(InvalidEvent)             {}
func (NopObserver) Lag(Lag)                               {}
func (NopObserver) LagPollFailed(LagPollFailed)           {}
