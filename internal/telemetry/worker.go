package telemetry

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/receiptd/receiptd/deadletter"
	"github.com/receiptd/receiptd/receipt"
	"github.com/receiptd/receiptd/worker"
	"github.com/receiptd/receiptd/zimapi"
)

// WorkerSource is what the metrics read from the worker at scrape time.
type WorkerSource interface {
	Stats() worker.Stats
	Ready() bool
}

// DeadLetterSource is what the metrics read from the dead-letter stage at
// scrape time.
type DeadLetterSource interface {
	Stats() deadletter.Stats
}

// records is a snapshot of the worker's and the dead-letter stage's stats:
// a record is in one or the other until it is done.
type records struct {
	w worker.Stats
	d deadletter.Stats
}

func snapshot(w WorkerSource, d DeadLetterSource) records { return records{w.Stats(), d.Stats()} }

// in counts the records taken from Kafka: submitted, or rejected as
// invalid.
func (r records) in() uint64 { return r.w.RecordsIn + r.d.Rejected }

// done counts the records finished: acknowledged by ZIM or durably
// dead-lettered.
func (r records) done() uint64 { return r.w.RecordsDone + r.d.Done() }

// pending counts the records taken from Kafka and not yet done.
func (r records) pending() int { return r.w.Pending + r.d.Pending }

// RateSource reports the rate budget, per action.
type RateSource interface {
	Rate(a receipt.Action) float64
	Ceiling(a receipt.Action) float64
	Share(a receipt.Action) float64
}

// WorkerObserver logs and counts what the worker and the dead-letter stage
// beside it do. It implements worker.Observer and
// deadletter.StageObserver.
type WorkerObserver struct {
	log           *zap.Logger
	ids           LogIDs
	calls         *prometheus.CounterVec
	seqsPerCall   prometheus.Histogram
	latency       *prometheus.HistogramVec
	readToReceipt *prometheus.HistogramVec
}

// ReadToReceiptBuckets are the bounds, in seconds, of the read-to-receipt
// histogram: from the linger at light load (a fraction of a second) to a
// backlog that takes hours to drain.
var ReadToReceiptBuckets = []float64{
	0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 2 * 3600, 4 * 3600, 8 * 3600, 24 * 3600,
}

// NewWorkerObserver registers the per-call metrics on reg; ids says how
// log lines show user and conversation IDs.
func NewWorkerObserver(log *zap.Logger, reg prometheus.Registerer, ids LogIDs) *WorkerObserver {
	o := &WorkerObserver{
		log: log,
		ids: ids,
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "receiptd_api_calls_total", Help: "ZIM calls by action and outcome class.",
		}, []string{"action", "class"}),
		seqsPerCall: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "receiptd_api_seqs_per_call", Help: "Sequence numbers carried by one ZIM call.",
			Buckets: prometheus.LinearBuckets(1, 1, 10),
		}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "receiptd_api_latency_seconds", Help: "ZIM call latency by action.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"action"}),
		readToReceipt: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "receiptd_read_to_receipt_seconds",
			Help:    "Time from an event's read_at to ZIM's acceptance of its last receipt, by action; events without read_at are not counted.",
			Buckets: ReadToReceiptBuckets,
		}, []string{"action"}),
	}
	reg.MustRegister(o.calls, o.seqsPerCall, o.latency, o.readToReceipt)
	// Every action has its series from the start, so that a dashboard or
	// an alert sees zeros rather than nothing before the first call.
	for _, a := range receipt.Actions {
		o.latency.WithLabelValues(a.String())
		o.readToReceipt.WithLabelValues(a.String())
	}
	return o
}

// RegisterWorkerMetrics registers the metrics that the Stats of the worker
// and of the dead-letter stage, and the rate budget, already keep; they are
// read at scrape time, so the summary line and /metrics share one source of
// truth. rates may be nil.
func RegisterWorkerMetrics(reg prometheus.Registerer, src WorkerSource, dead DeadLetterSource, rates RateSource) {
	stat := func(f func(records) float64) func() float64 {
		return func() float64 { return f(snapshot(src, dead)) }
	}
	counter := func(name, help string, f func(records) float64, labels prometheus.Labels) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels}, stat(f)))
	}
	gauge := func(name, help string, f func() float64, labels prometheus.Labels) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels}, f))
	}
	counter("receiptd_events_total", "Records taken from Kafka, valid or not.",
		func(r records) float64 { return float64(r.in()) }, nil)
	counter("receiptd_records_done_total", "Records finished: acknowledged by ZIM or durably dead-lettered.",
		func(r records) float64 { return float64(r.done()) }, nil)
	counter("receiptd_receipts_acknowledged_total", "Sequence numbers acknowledged by ZIM.",
		func(r records) float64 { return float64(r.w.SeqsAcked) }, nil)
	counter("receiptd_rate_limited_total", "ZIM calls answered with an app-level rate-limit code (660300005, 7, HTTP 429).",
		func(r records) float64 { return float64(r.w.RateLimited) }, nil)
	counter("receiptd_dead_letter_write_errors_total", "Failed writes to the dead-letter topic (retried).",
		func(r records) float64 { return float64(r.d.WriteErrors) }, nil)
	for _, c := range []worker.FailureClass{worker.FailInvalidEvent, worker.FailRejected, worker.FailExhausted} {
		counter("receiptd_dead_lettered_total", "Records durably written to the dead-letter topic, by class.",
			func(r records) float64 { return float64(r.d.DeadLettered[c]) }, prometheus.Labels{"class": string(c)})
	}
	gauge("receiptd_pending_records", "Records taken from Kafka and not yet done.",
		stat(func(r records) float64 { return float64(r.pending()) }), nil)
	gauge("receiptd_max_pending_records", "The bound on pending records (worker.max_pending_records); fetching pauses there.",
		stat(func(r records) float64 { return float64(r.w.MaxPending) }), nil)
	gauge("receiptd_retrying_batches", "Batches waiting to be sent again after a rate-limit, transient or unknown answer.",
		stat(func(r records) float64 { return float64(r.w.RetryBatches) }), nil)
	gauge("receiptd_held_groups", "Groups whose receipts wait out a backoff after the group's own rate-limit answer (660300006), probe included.",
		stat(func(r records) float64 { return float64(r.w.HeldGroups) }), nil)
	gauge("receiptd_held_keys", "Keys (action, reader, conversation) whose batches wait out a backoff after a transient answer, probe included.",
		stat(func(r records) float64 { return float64(r.w.HeldKeys) }), nil)
	gauge("receiptd_failing_alone_keys", "Keys whose calls keep failing while other keys of their action succeed; dead-lettered as exhausted after worker.isolated_failure_max_age.",
		stat(func(r records) float64 { return float64(r.w.FailingAloneKeys) }), nil)
	gauge("receiptd_failing_alone_records", "Records of keys failing alone; at most half of worker.max_pending_records.",
		stat(func(r records) float64 { return float64(r.w.FailingAloneRecords) }), nil)
	gauge("receiptd_in_flight_calls", "ZIM calls under way.",
		stat(func(r records) float64 { return float64(r.w.InFlight) }), nil)
	gauge("receiptd_dead_letter_paused", "1 while dead-letter writes are paused because the dead-letter topic refuses a record even written alone.",
		stat(func(r records) float64 { return boolFloat(r.d.Paused) }), nil)
	gauge("receiptd_systemic_pause", "1 while dispatch is paused because ZIM rejects receiptd's configuration.",
		func() float64 { return boolFloat(!src.Ready()) }, nil)
	if rates != nil {
		for _, a := range receipt.Actions {
			name := a.String()
			gauge("receiptd_rate_current_requests_per_second", "Request rate allowed now per action: the ceiling, or less after a rate-limit answer.",
				func() float64 { return rates.Rate(a) }, prometheus.Labels{"action": name})
			gauge("receiptd_rate_ceiling_requests_per_second", "This pod's share of the ZIM rate limit per action.",
				func() float64 { return rates.Ceiling(a) }, prometheus.Labels{"action": name})
			gauge("receiptd_rate_share_ratio", "This pod's fraction of zim.rate_limit_rps per action; the pods of a group add up to 1.",
				func() float64 { return rates.Share(a) }, prometheus.Labels{"action": name})
		}
	}
}

// OnCall counts every call and logs every one that did not succeed.
func (o *WorkerObserver) OnCall(ev worker.CallEvent) {
	action := ev.Key.Action.String()
	o.calls.WithLabelValues(action, ev.Result.Class.String()).Inc()
	o.seqsPerCall.Observe(float64(ev.Seqs))
	if ev.Result.Latency > 0 {
		o.latency.WithLabelValues(action).Observe(ev.Result.Latency.Seconds())
	}
	if len(ev.ReadToReceipt) > 0 {
		h := o.readToReceipt.WithLabelValues(action)
		for _, d := range ev.ReadToReceipt {
			h.Observe(d.Seconds())
		}
	}
	if ev.Result.Class == receipt.ClassSuccess {
		return
	}
	level := zapcore.WarnLevel
	if ev.Result.Class == receipt.ClassSystemic || ev.Result.Class == receipt.ClassUnknown {
		level = zapcore.ErrorLevel
	}
	ce := o.log.Check(level, "zim call not accepted")
	if ce == nil {
		return
	}
	user, conv := ev.Key.UserID, ev.Key.ConvID
	fields := []zap.Field{
		zap.Int64("code", ev.Result.Code),
		zap.String("class", ev.Result.Class.String()),
		zap.String("message", o.ids.scrub(ev.Result.Message, user, conv)),
		zap.String("request_id", ev.Result.RequestID),
		zap.String("action", action),
	}
	fields = append(fields, o.ids.fields(user, conv)...)
	fields = append(fields,
		zap.Int("seqs", ev.Seqs),
		zap.Int("records", ev.Records),
		zap.Int("attempt", ev.Attempt),
		zap.String("next", string(ev.Next)),
	)
	if ev.RetryIn > 0 {
		fields = append(fields, zap.Duration("retry_in", ev.RetryIn))
	}
	if ev.RateLimitPause > 0 {
		fields = append(fields, zap.Duration("rate_limit_pause", ev.RateLimitPause))
	}
	if ev.Reason != "" {
		fields = append(fields, zap.String("reason", ev.Reason))
	}
	if ev.Result.Err != nil {
		fields = append(fields, zap.String("error", o.ids.scrub(ev.Result.Err.Error(), user, conv)))
	}
	if h := zimapi.Hint(ev.Result.Code); h != "" {
		fields = append(fields, zap.String("hint", h))
	}
	ce.Write(fields...)
}

// OnFailingAlone logs a key whose calls keep failing while other keys of
// its action succeed: once when it begins, once when its records begin to
// be dead-lettered.
func (o *WorkerObserver) OnFailingAlone(ev worker.FailingAloneEvent) {
	user, conv := ev.Key.UserID, ev.Key.ConvID
	fields := append([]zap.Field{zap.String("action", ev.Key.Action.String())}, o.ids.fields(user, conv)...)
	fields = append(fields,
		durationField("failing_for", ev.For),
		zap.Int("records", ev.Records),
		zap.Int64("code", ev.Result.Code),
		zap.String("message", o.ids.scrub(ev.Result.Message, user, conv)),
		zap.String("request_id", ev.Result.RequestID),
	)
	if ev.DeadLettering == "" {
		o.log.Warn("key failing alone: its calls keep failing while other keys succeed; its records are dead-lettered if it goes on", fields...)
		return
	}
	o.log.Error("dead-lettering the records of a key failing alone (class exhausted; replay them once it is fixed)",
		append(fields, zap.String("reason", ev.DeadLettering))...)
}

// OnDeadLetterError logs a failed dead-letter write and what the
// dead-letter stage does next.
func (o *WorkerObserver) OnDeadLetterError(ev deadletter.ErrorEvent) {
	fields := []zap.Field{zap.Error(ev.Err), zap.Int("letters", ev.Letters), zap.Int("attempt", ev.Attempt), zap.String("next", string(ev.Next))}
	switch ev.Next {
	case deadletter.NextSplit:
		o.log.Warn("dead-letter topic refused a write; its records are written one at a time", fields...)
	case deadletter.NextPause:
		o.log.Error("dead-letter topic refuses a record even written alone; it is written again after retry_in, and the records behind it wait",
			append(fields, zap.Duration("retry_in", ev.RetryIn))...)
	default:
		o.log.Error("dead-letter write failed; the records stay uncommitted and the write is retried",
			append(fields, zap.Duration("retry_in", ev.RetryIn))...)
	}
}

// OnDeadLetterPause logs the start and the end of a dead-letter pause,
// loudly.
func (o *WorkerObserver) OnDeadLetterPause(ev deadletter.PauseEvent) {
	if !ev.Paused {
		how := "the topic took the refused record"
		if !ev.Written {
			how = "a drain handed the refused record back unfinished"
		}
		o.log.Info("dead-letter writes resumed: "+how, zap.NamedError("last_error", ev.Err))
		return
	}
	o.log.Error("dead-letter writes paused: the dead-letter topic refuses a record even written alone; "+
		"the records waiting to be dead-lettered stay uncommitted and /readyz reports not ready until it takes it",
		zap.Error(ev.Err), zap.Int("waiting", ev.Letters),
		zap.String("hint", "check the dead-letter topic exists, this principal may write to it (ACLs), and its max.message.bytes holds receiptd's headers"))
}

// OnSystemic logs the start and the end of a systemic pause, loudly.
func (o *WorkerObserver) OnSystemic(ev worker.SystemicEvent) {
	fields := []zap.Field{
		zap.Int64("code", ev.Result.Code),
		zap.String("message", ev.Result.Message),
		zap.String("request_id", ev.Result.RequestID),
	}
	if !ev.Paused {
		o.log.Info("dispatch resumed: ZIM accepts receiptd's requests again", fields...)
		return
	}
	fields = append(fields, zap.Duration("next_probe_in", ev.NextProbe))
	if h := zimapi.Hint(ev.Result.Code); h != "" {
		fields = append(fields, zap.String("hint", h))
	}
	o.log.Error("dispatch paused: ZIM rejects receiptd's own configuration; nothing is dead-lettered, /readyz reports not ready", fields...)
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// durationField rounds d for log lines meant for people.
func durationField(key string, d time.Duration) zap.Field {
	return zap.Duration(key, d.Round(time.Millisecond))
}
