package telemetry

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/receiptd/receiptd/consumer"
	"github.com/receiptd/receiptd/deadletter"
)

// ConsumerObserver logs the lifecycle of the consumer and of the
// dead-letter writer and counts their events. It implements
// consumer.Observer and deadletter.Observer. The per-partition gauges are
// read from the consumer at scrape time instead (RegisterConsumerMetrics).
type ConsumerObserver struct {
	log     *zap.Logger
	sampled *zap.Logger // for per-record lines, which a bad producer can flood

	commits, commitFailures, fetchErrors, rebalances, invalid, skipped, truncated prometheus.Counter

	mu sync.Mutex
	// logCommit: the next commit is one an operator follows (the end of a
	// generation, or work carried over from one), logged at info.
	logCommit  bool
	joined     bool
	outOfReach string // why the consumer is not in its group, "" when it is
}

// NewConsumerObserver registers the consumer's counters on reg, and
// receiptd_kafka_out_of_reach, which follows Ready.
func NewConsumerObserver(log *zap.Logger, reg prometheus.Registerer) *ConsumerObserver {
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
		reg.MustRegister(c)
		return c
	}
	o := &ConsumerObserver{
		log: log,
		sampled: log.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
			return zapcore.NewSamplerWithOptions(c, time.Second, 10, 100)
		})),
		commits:        counter("receiptd_commits_total", "Successful offset commits."),
		commitFailures: counter("receiptd_commit_failures_total", "Failed offset commits (retried at the next tick)."),
		fetchErrors:    counter("receiptd_fetch_errors_total", "Failed partition fetches (retried with backoff)."),
		rebalances:     counter("receiptd_generations_total", "Consumer group generations joined."),
		invalid:        counter("receiptd_invalid_events_total", "Records that broke an event rule (dead-lettered)."),
		skipped:        counter("receiptd_records_skipped_total", "Offsets never delivered: deleted by retention or compacted before being consumed."),
		truncated:      counter("receiptd_dead_letters_truncated_total", "Dead letters cut to fit the dead-letter topic's max.message.bytes."),
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "receiptd_kafka_out_of_reach",
		Help: "1 while the consumer is out of its group because the Kafka brokers are out of reach or joining the group failed; /readyz says why.",
	}, func() float64 {
		o.mu.Lock()
		defer o.mu.Unlock()
		return boolFloat(o.outOfReach != "")
	}))
	return o
}

// ProgressSource reports where each owned partition stands; the consumer
// implements it.
type ProgressSource interface {
	Progress() []consumer.PartitionProgress
}

var (
	lagDesc = prometheus.NewDesc("receiptd_consumer_lag_records",
		"Records between the committed offset and the log end, per owned partition; kept current while fetching is paused.",
		[]string{"partition"}, nil)
	oldestPendingDesc = prometheus.NewDesc("receiptd_oldest_pending_age_seconds",
		"Seconds since the oldest record not yet done was fetched, per owned partition; 0 when nothing is pending.",
		[]string{"partition"}, nil)
	ownedDesc = prometheus.NewDesc("receiptd_owned_partitions", "Partitions this pod owns in the current generation.", nil, nil)
)

// RegisterConsumerMetrics registers the per-partition gauges, read from src
// at scrape time: lag, the age of the oldest pending record, and the
// number of partitions owned.
func RegisterConsumerMetrics(reg prometheus.Registerer, src ProgressSource) {
	reg.MustRegister(progressCollector{src: src, now: time.Now})
}

type progressCollector struct {
	src ProgressSource
	now func() time.Time
}

func (c progressCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- lagDesc
	ch <- oldestPendingDesc
	ch <- ownedDesc
}

func (c progressCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.now()
	progress := c.src.Progress()
	for _, p := range progress {
		partition := strconv.Itoa(p.Partition)
		if p.Lag >= 0 {
			ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, float64(p.Lag), partition)
		}
		age := 0.0
		if !p.OldestPending.IsZero() {
			age = max(now.Sub(p.OldestPending).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(oldestPendingDesc, prometheus.GaugeValue, age, partition)
	}
	ch <- prometheus.MustNewConstMetric(ownedDesc, prometheus.GaugeValue, float64(len(progress)))
}

// Ready reports whether the consumer is a member of its group: not before
// it first joined, nor while the brokers are out of reach or a join failed.
// It is a ReadyFunc for /readyz.
func (o *ConsumerObserver) Ready() (bool, string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case o.outOfReach != "":
		return false, o.outOfReach
	case !o.joined:
		return false, "consumer group not joined yet"
	}
	return true, ""
}

func (o *ConsumerObserver) Joined(e consumer.Joined) {
	o.rebalances.Inc()
	o.mu.Lock()
	o.joined = true
	o.outOfReach = ""
	o.mu.Unlock()
	share := 0.0
	if e.Total > 0 {
		share = float64(len(e.Partitions)) / float64(e.Total)
	}
	o.log.Info("joined consumer group", zap.Int32("generation", e.GenerationID), zap.String("member", e.MemberID),
		zap.String("topic", e.Topic), zap.Ints("partitions", e.Partitions), zap.Int("total_partitions", e.Total),
		zap.Float64("rate_share", round(share)))
}

func (o *ConsumerObserver) BrokersUnreachable(e consumer.BrokersUnreachable) {
	o.mu.Lock()
	o.outOfReach = fmt.Sprintf("kafka brokers %s out of reach since %s (attempt %d, next in %s): %v",
		strings.Join(e.Brokers, ","), e.Since.UTC().Format(time.RFC3339), e.Attempt, e.RetryIn.Round(time.Millisecond), e.Err)
	o.mu.Unlock()
	o.log.Warn("kafka brokers out of reach; retrying, and consuming as soon as they answer",
		zap.Strings("brokers", e.Brokers), zap.Int("attempt", e.Attempt), durationField("down_for", time.Since(e.Since)),
		zap.Duration("retry_in", e.RetryIn), zap.Error(e.Err))
}

func (o *ConsumerObserver) GroupError(e consumer.GroupError) {
	if e.Rebalancing {
		o.log.Info("the consumer group is rebalancing; joining again", zap.String("group", e.Group), zap.Error(e.Err))
		return
	}
	o.mu.Lock()
	o.outOfReach = fmt.Sprintf("not a member of consumer group %q since a join failed at %s (next attempt in %s): %v",
		e.Group, time.Now().UTC().Format(time.RFC3339), e.RetryIn, e.Err)
	o.mu.Unlock()
	o.log.Warn("joining the consumer group failed; joining again after the backoff", zap.String("group", e.Group),
		zap.Duration("retry_in", e.RetryIn), zap.Error(e.Err))
}

func (o *ConsumerObserver) StaleMemberLeft(e consumer.StaleMemberLeft) {
	o.log.Info("removed this pod's member of the ended generation from the group, so that the rebalance does not wait for it",
		zap.String("group", e.Group), zap.String("member", e.MemberID))
}

func (o *ConsumerObserver) CarriedOver(e consumer.CarriedOver) {
	if len(e.Resumed) > 0 {
		o.mu.Lock()
		o.logCommit = true
		o.mu.Unlock()
		o.log.Info("resuming after work done earlier: none of it is sent again",
			zap.Int32("generation", e.GenerationID), zap.String("topic", e.Topic), zap.Any("offsets", offsetsField(e.Resumed)),
			zap.Int("done_records_skipped", e.Skipped))
	}
	if len(e.Dropped) > 0 {
		o.log.Warn("dropping done work an earlier generation could not commit: its partitions belong to another member now, "+
			"which consumes them again from the group's committed offsets",
			zap.Int32("generation", e.GenerationID), zap.String("topic", e.Topic), zap.Any("offsets", offsetsField(e.Dropped)))
	}
}

func (o *ConsumerObserver) Revoked(e consumer.Revoked) {
	o.mu.Lock()
	o.logCommit = e.Reason != consumer.RevokeAbandon
	o.mu.Unlock()
	o.log.Info("partitions revoked", zap.Int32("generation", e.GenerationID), zap.Ints("partitions", e.Partitions),
		zap.String("reason", string(e.Reason)), zap.Int("outstanding", e.Outstanding))
}

func (o *ConsumerObserver) Drained(e consumer.Drained) {
	level := zapcore.InfoLevel
	msg := "drained revoked work"
	if e.Abandoned > 0 {
		level = zapcore.WarnLevel
		msg = "drain timed out; unfinished records stay uncommitted and will be consumed again"
	}
	o.log.Check(level, msg).Write(zap.Int32("generation", e.GenerationID), zap.String("reason", string(e.Reason)),
		zap.Int("done", e.Done), zap.Int("abandoned", e.Abandoned), durationField("took", e.Duration))
}

func (o *ConsumerObserver) Committed(e consumer.Committed) {
	o.commits.Inc()
	o.mu.Lock()
	logged := o.logCommit
	o.logCommit = false
	o.mu.Unlock()
	level := zapcore.DebugLevel
	if logged {
		level = zapcore.InfoLevel
	}
	if ce := o.log.Check(level, "committed offsets"); ce != nil {
		ce.Write(zap.Int32("generation", e.GenerationID), zap.String("topic", e.Topic), zap.Any("offsets", offsetsField(e.Offsets)))
	}
}

func (o *ConsumerObserver) CommitFailed(e consumer.CommitFailed) {
	o.commitFailures.Inc()
	fields := []zap.Field{zap.Int32("generation", e.GenerationID), zap.Any("offsets", offsetsField(e.Offsets)),
		zap.String("next", string(e.Next)), zap.Error(e.Err)}
	switch e.Next {
	case consumer.CommitRetryTick:
		o.log.Warn("offset commit failed; retrying at the next tick with whatever is done by then",
			append(fields, zap.Duration("retry_in", e.RetryIn))...)
	case consumer.CommitCarry:
		o.mu.Lock()
		o.logCommit = false
		o.mu.Unlock()
		o.log.Warn("offset commit failed as the generation ended; the done work is kept and committed in the next "+
			"generation that assigns these partitions to this pod, never redone by it", fields...)
	default:
		o.log.Error("offset commit failed at shutdown; the records above the last commit will be consumed again", fields...)
	}
}

func (o *ConsumerObserver) FetchError(e consumer.FetchError) {
	o.fetchErrors.Inc()
	o.sampled.Warn("fetch failed; retrying", zap.String("topic", e.Topic), zap.Int("partition", e.Partition),
		zap.Int64("offset", e.Offset), zap.Error(e.Err), zap.Duration("retry_in", e.RetryIn))
}

func (o *ConsumerObserver) OffsetReset(e consumer.OffsetReset) {
	o.log.Error("committed offset out of range; consumption reset", zap.String("topic", e.Topic), zap.Int("partition", e.Partition),
		zap.Int64("offset", e.Offset), zap.Int64("log_start", e.LogStart), zap.Int64("log_end", e.LogEnd),
		zap.Int64("reset_to", e.ResetTo), zap.String("policy", e.StartOffset))
}

func (o *ConsumerObserver) RecordsSkipped(e consumer.RecordsSkipped) {
	o.skipped.Add(float64(e.To - e.From))
	o.log.Warn("offsets never delivered (retention deleted them before they were consumed, or compaction)",
		zap.String("topic", e.Topic), zap.Int("partition", e.Partition), zap.Int64("from", e.From), zap.Int64("to", e.To))
}

func (o *ConsumerObserver) InvalidEvent(e consumer.InvalidEvent) {
	o.invalid.Inc()
	o.sampled.Warn("invalid event; dead-lettered", zap.String("topic", e.Topic), zap.Int("partition", e.Partition),
		zap.Int64("offset", e.Offset), zap.String("reason", e.Reason))
}

func (o *ConsumerObserver) WriteFailed(e deadletter.WriteFailed) {
	o.log.Warn("dead-letter write failed", zap.String("topic", e.Topic), zap.Int("records", e.Records), zap.Error(e.Err))
}

// LimitLearned logs the dead-letter topic's limit, and warns when it is a
// guess.
func (o *ConsumerObserver) LimitLearned(e deadletter.LimitLearned) {
	fields := []zap.Field{zap.String("topic", e.Topic), zap.Int("max_message_bytes", e.MaxMessageBytes), zap.String("from", e.From)}
	if e.From != deadletter.LimitFromDefault {
		o.log.Info("dead-letter topic limit", fields...)
		return
	}
	o.log.Warn("dead-letter topic limit unknown; assuming Kafka's default", append(fields, zap.Error(e.Err),
		zap.String("hint", "allow this principal to describe the topic's configuration, or set kafka.dlq_max_message_bytes to its max.message.bytes"))...)
}

// Truncated counts a dead letter cut to fit and logs it, sampled.
func (o *ConsumerObserver) Truncated(e deadletter.Truncated) {
	o.truncated.Inc()
	o.sampled.Warn("dead letter cut to fit the dead-letter topic; the whole record stays in the source topic",
		zap.String("topic", e.Topic), zap.String("source_topic", e.SourceTopic), zap.Int("partition", e.SourcePartition),
		zap.Int64("offset", e.SourceOffset), zap.Strings("cut", e.Cut), zap.Int("letter_bytes", e.LetterBytes),
		zap.Int("written_bytes", e.WrittenBytes), zap.Int("max_message_bytes", e.MaxMessageBytes))
}

// Lag ignores the consumer's lag reports: the metrics and the summary read
// the lag from the consumer when they need it.
func (o *ConsumerObserver) Lag(consumer.Lag) {}

func (o *ConsumerObserver) LagPollFailed(e consumer.LagPollFailed) {
	o.sampled.Warn("reading the log end offsets failed; the lag figures stay as they were until a read succeeds",
		zap.String("topic", e.Topic), zap.Ints("partitions", e.Partitions), zap.Error(e.Err))
}

func offsetsField(m map[int]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for p, off := range m {
		out[strconv.Itoa(p)] = off
	}
	return out
}
