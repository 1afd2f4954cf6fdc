package telemetry

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/receiptd/receiptd/receipt"
	"github.com/receiptd/receiptd/worker"
)

// LagSource reports the records between the committed offset and the log
// end per owned partition; the consumer implements it.
type LagSource interface {
	Lag() map[int]int64
}

// Summary logs one line every interval with what an operator scans for:
// throughput, coalescing, rate limiting, dead letters, backlog and how
// long it will take to drain.
type Summary struct {
	Log         *zap.Logger
	Interval    time.Duration
	Worker      WorkerSource
	DeadLetters DeadLetterSource
	Lag         LagSource  // nil: no lag figures
	Rates       RateSource // nil: no rate figures
}

// Run logs the summary line every Interval until ctx ends, then once more.
func (s Summary) Run(ctx context.Context) {
	if s.Interval <= 0 {
		return
	}
	t := time.NewTicker(s.Interval)
	defer t.Stop()
	prev, prevAt := snapshot(s.Worker, s.DeadLetters), time.Now()
	for {
		select {
		case <-ctx.Done():
			s.log(prev, prevAt)
			return
		case <-t.C:
			prev, prevAt = s.log(prev, prevAt)
		}
	}
}

// log writes one summary line covering the time since prev and returns the
// new baseline.
func (s Summary) log(prevRecs records, prevAt time.Time) (records, time.Time) {
	now := time.Now()
	curRecs := snapshot(s.Worker, s.DeadLetters)
	cur, prev := curRecs.w, prevRecs.w
	secs := now.Sub(prevAt).Seconds()
	calls := cur.Calls - prev.Calls
	seqs := cur.SeqsSent - prev.SeqsSent
	done := curRecs.done() - prevRecs.done()
	in := curRecs.in() - prevRecs.in()
	fields := []zap.Field{
		durationField("interval", now.Sub(prevAt)),
		zap.Uint64("events_in", in),
		zap.Float64("events_per_sec", round(float64(in)/secs)),
		zap.Uint64("events_done", done),
		zap.Uint64("receipts_acknowledged", cur.SeqsAcked-prev.SeqsAcked),
		zap.Uint64("calls", calls),
		zap.Float64("calls_per_sec", round(float64(calls)/secs)),
		zap.Float64("seqs_per_call", round(ratio(seqs, calls))),
		zap.Uint64("rate_limited", cur.RateLimited-prev.RateLimited),
		zap.Any("dead_lettered", diffClasses(curRecs.d.DeadLettered, prevRecs.d.DeadLettered)),
		zap.Int("pending", curRecs.pending()),
		zap.Int("in_flight", cur.InFlight),
		zap.Int("retrying_batches", cur.RetryBatches),
		zap.Int("held_groups", cur.HeldGroups),
		zap.Int("held_keys", cur.HeldKeys),
		zap.Int("failing_alone_keys", cur.FailingAloneKeys),
		zap.Int("failing_alone_records", cur.FailingAloneRecords),
		zap.Bool("systemic_pause", cur.SystemicPause),
		zap.Bool("dead_letter_paused", curRecs.d.Paused),
	}
	if s.Rates != nil {
		rates := make(map[string]float64, len(receipt.Actions))
		for _, a := range receipt.Actions {
			rates[a.String()] = round(s.Rates.Rate(a))
		}
		fields = append(fields, zap.Any("rate_per_sec", rates))
	}
	if s.Lag != nil {
		lag := s.Lag.Lag()
		var total int64
		byPartition := make(map[string]int64, len(lag))
		for _, p := range slices.Sorted(maps.Keys(lag)) {
			total += lag[p]
			byPartition[strconv.Itoa(p)] = lag[p]
		}
		fields = append(fields, zap.Int64("lag", total), zap.Any("lag_by_partition", byPartition))
		// The lag counts from the committed offset, so it includes the
		// records pending in the worker and the dead-letter stage.
		fields = append(fields, zap.String("drain_eta", drainETA(total, float64(done)/secs)))
	}
	s.Log.Info("summary", fields...)
	return curRecs, now
}

// drainETA estimates how long the backlog takes at the recent pace.
func drainETA(backlog int64, donePerSec float64) string {
	switch {
	case backlog == 0:
		return "0s"
	case donePerSec <= 0:
		return "stalled"
	}
	return (time.Duration(float64(backlog)/donePerSec) * time.Second).Round(time.Second).String()
}

func diffClasses(cur, prev map[worker.FailureClass]uint64) map[string]uint64 {
	out := make(map[string]uint64, len(cur))
	for c, n := range cur {
		if d := n - prev[c]; d > 0 {
			out[string(c)] = d
		}
	}
	return out
}

func ratio(a, b uint64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func round(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }
