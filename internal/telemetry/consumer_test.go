package telemetry_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/receiptd/receiptd/consumer"
	"github.com/receiptd/receiptd/internal/telemetry"
)

// /readyz follows the consumer through Kafka outages: not ready, with the
// reason, until it first joins, while the brokers are out of reach and after
// a failed join; ready again once it joins. A rebalance changes nothing.
// receiptd_kafka_out_of_reach is 1 exactly while Kafka is the reason.
func TestConsumerReadinessFollowsTheBrokers(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	reg := prometheus.NewRegistry()
	o := telemetry.NewConsumerObserver(zap.New(core), reg)
	down := errors.New("dial tcp 10.0.0.7:9092: connect: connection refused")
	joined := consumer.Joined{GenerationID: 1, Partitions: []int{0, 1}, Total: 2}
	steps := []struct {
		name      string
		event     func()
		wantReady bool
		wantWhy   []string // in the reason when not ready
		wantLog   string   // message of the line the event logs
	}{
		{"before joining", func() {}, false, []string{"not joined yet"}, ""},
		{"brokers out of reach at start", func() {
			o.BrokersUnreachable(consumer.BrokersUnreachable{Brokers: []string{"k1:9092", "k2:9092"}, Err: down, Attempt: 3,
				Since: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), RetryIn: 4 * time.Second})
		}, false, []string{"kafka brokers k1:9092,k2:9092 out of reach since 2026-01-02T03:04:05Z", "attempt 3", "next in 4s", "connection refused"},
			"kafka brokers out of reach; retrying, and consuming as soon as they answer"},
		{"joined", func() { o.Joined(joined) }, true, nil, "joined consumer group"},
		{"rebalance in progress", func() {
			o.GroupError(consumer.GroupError{Group: "receiptd", Err: errors.New("rebalance in progress"), Rebalancing: true})
		}, true, nil, "the consumer group is rebalancing; joining again"},
		{"a join failed", func() {
			o.GroupError(consumer.GroupError{Group: "receiptd", Err: down, RetryIn: 5 * time.Second})
		}, false, []string{`not a member of consumer group "receiptd"`, "next attempt in 5s", "connection refused"},
			"joining the consumer group failed; joining again after the backoff"},
		{"joined again", func() { o.Joined(joined) }, true, nil, "joined consumer group"},
	}
	for _, s := range steps {
		before := logs.Len()
		s.event()
		ok, why := o.Ready()
		if ok != s.wantReady {
			t.Errorf("%s: ready %t (%q), want %t", s.name, ok, why, s.wantReady)
		}
		// Not ready before the first join is not Kafka's doing.
		wantOut := 0.0
		if !s.wantReady && s.name != "before joining" {
			wantOut = 1
		}
		if got := gaugeValue(t, reg, "receiptd_kafka_out_of_reach"); got != wantOut {
			t.Errorf("%s: receiptd_kafka_out_of_reach = %v, want %v", s.name, got, wantOut)
		}
		for _, w := range s.wantWhy {
			if !strings.Contains(why, w) {
				t.Errorf("%s: reason %q lacks %q", s.name, why, w)
			}
		}
		if s.wantLog != "" {
			if all := logs.All(); len(all) != before+1 || all[len(all)-1].Message != s.wantLog {
				t.Errorf("%s: want one line %q", s.name, s.wantLog)
			}
		}
	}
}

// Every commit failure says what happens next.
func TestCommitFailureSaysWhatHappensNext(t *testing.T) {
	tests := []struct {
		next    consumer.CommitNext
		level   zapcore.Level
		wantMsg string
		retryIn bool
	}{
		{consumer.CommitRetryTick, zapcore.WarnLevel, "offset commit failed; retrying at the next tick with whatever is done by then", true},
		{consumer.CommitCarry, zapcore.WarnLevel, "offset commit failed as the generation ended; the done work is kept and committed in " +
			"the next generation that assigns these partitions to this pod, never redone by it", false},
		{consumer.CommitAbandon, zapcore.ErrorLevel, "offset commit failed at shutdown; the records above the last commit will be consumed again", false},
	}
	for _, tt := range tests {
		t.Run(string(tt.next), func(t *testing.T) {
			core, logs := observer.New(zapcore.DebugLevel)
			o := telemetry.NewConsumerObserver(zap.New(core), prometheus.NewRegistry())
			f := consumer.CommitFailed{GenerationID: 4, Offsets: map[int]int64{1: 10}, Err: errors.New("i/o timeout"), Next: tt.next}
			if tt.retryIn {
				f.RetryIn = time.Second
			}
			o.CommitFailed(f)
			all := logs.All()
			if len(all) != 1 || all[0].Message != tt.wantMsg || all[0].Level != tt.level {
				t.Fatalf("logged %+v, want one %s line %q", all, tt.level, tt.wantMsg)
			}
			fields := all[0].ContextMap()
			if fields["next"] != string(tt.next) || fields["error"] != "i/o timeout" {
				t.Errorf("fields %v lack next=%s and the error", fields, tt.next)
			}
			if _, ok := fields["retry_in"]; ok != tt.retryIn {
				t.Errorf("fields %v: retry_in present %t, want %t", fields, ok, tt.retryIn)
			}
		})
	}
}

// gaugeValue returns the value of the unlabelled gauge name in reg.
func gaugeValue(t *testing.T, reg prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("%s: no such gauge", name)
	return 0
}
