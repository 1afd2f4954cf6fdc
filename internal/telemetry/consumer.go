package telemetry

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/receiptd/receiptd/consumer"
)

// ConsumerObserver logs the consumer's lifecycle and counts its events. It
// implements consumer.Observer. The per-partition gauges are read from the
// consumer at scrape time instead (RegisterConsumerMetrics).
type ConsumerObserver struct {
	log     *zap.Logger
	sampled *zap.Logger // for per-record lines, which a bad producer can flood

	commits, commitFailures, fetchErrors, rebalances, invalid, skipped prometheus.Counter

	mu          sync.Mutex
	finalCommit bool // the next commit is the one at the end of a generation
	joined      bool
}

// NewConsumerObserver registers the consumer's counters on reg.
func NewConsumerObserver(log *zap.Logger, reg prometheus.Registerer) *ConsumerObserver {
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
		reg.MustRegister(c)
		return c
	}
	return &ConsumerObserver{
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
	}
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

// Ready reports whether the consumer has joined its group; it is a
// ReadyFunc for /readyz.
func (o *ConsumerObserver) Ready() (bool, string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.joined, "consumer group not joined yet"
}

func (o *ConsumerObserver) Joined(e consumer.Joined) {
	o.rebalances.Inc()
	o.mu.Lock()
	o.joined = true
	o.mu.Unlock()
	share := 0.0
	if e.Total > 0 {
		share = float64(len(e.Partitions)) / float64(e.Total)
	}
	o.log.Info("joined consumer group", zap.Int32("generation", e.GenerationID), zap.String("member", e.MemberID),
		zap.String("topic", e.Topic), zap.Ints("partitions", e.Partitions), zap.Int("total_partitions", e.Total),
		zap.Float64("rate_share", round(share)))
}

func (o *ConsumerObserver) GroupError(err error) {
	o.log.Warn("joining the consumer group failed; retrying", zap.Error(err))
}

func (o *ConsumerObserver) Revoked(e consumer.Revoked) {
	o.mu.Lock()
	o.finalCommit = e.Reason != consumer.RevokeAbandon
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
	final := o.finalCommit
	o.finalCommit = false
	o.mu.Unlock()
	level := zapcore.DebugLevel
	if final {
		level = zapcore.InfoLevel
	}
	if ce := o.log.Check(level, "committed offsets"); ce != nil {
		ce.Write(zap.Int32("generation", e.GenerationID), zap.String("topic", e.Topic), zap.Any("offsets", offsetsField(e.Offsets)))
	}
}

func (o *ConsumerObserver) CommitFailed(e consumer.CommitFailed) {
	o.commitFailures.Inc()
	o.log.Warn("offset commit failed; retrying at the next tick", zap.Int32("generation", e.GenerationID),
		zap.Any("offsets", offsetsField(e.Offsets)), zap.Error(e.Err))
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

func (o *ConsumerObserver) DLQWriteFailed(e consumer.DLQWriteFailed) {
	o.log.Warn("dead-letter write failed", zap.String("topic", e.Topic), zap.Int("records", e.Records), zap.Error(e.Err))
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
