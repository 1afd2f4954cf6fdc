package telemetry_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"

	"github.com/receiptd/receiptd/consumer"
	"github.com/receiptd/receiptd/deadletter"
	"github.com/receiptd/receiptd/internal/buildinfo"
	"github.com/receiptd/receiptd/internal/telemetry"
	"github.com/receiptd/receiptd/receipt"
	"github.com/receiptd/receiptd/worker"
)

type fakeProgress []consumer.PartitionProgress

func (f fakeProgress) Progress() []consumer.PartitionProgress { return f }

// Every owned partition has an oldest-pending age, 0 when nothing is
// pending, so that an alert on it never sees a gap; lag is exported once
// the log end is known.
func TestPartitionGauges(t *testing.T) {
	reg := prometheus.NewRegistry()
	telemetry.RegisterConsumerMetrics(reg, fakeProgress{
		{Partition: 0, Lag: 120, Pending: 3, OldestPending: time.Now().Add(-90 * time.Second)},
		{Partition: 1, Lag: 0},
		{Partition: 2, Lag: -1}, // log end not read yet
	})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			got[name] = m.GetGauge().GetValue()
		}
	}
	want := map[string]float64{
		"receiptd_consumer_lag_records{partition=0}":       120,
		"receiptd_consumer_lag_records{partition=1}":       0,
		"receiptd_oldest_pending_age_seconds{partition=1}": 0,
		"receiptd_oldest_pending_age_seconds{partition=2}": 0,
		"receiptd_owned_partitions":                        3,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if age := got["receiptd_oldest_pending_age_seconds{partition=0}"]; age < 90 || age > 120 {
		t.Errorf("oldest pending age of partition 0 = %vs, want about 90s", age)
	}
	if _, ok := got["receiptd_consumer_lag_records{partition=2}"]; ok {
		t.Error("partition 2 has a lag series before its log end is known")
	}
}

// The read-to-receipt histogram counts each reported record once, in
// buckets that reach hours, by action; every action has its series from the
// start.
func TestReadToReceiptHistogram(t *testing.T) {
	reg := prometheus.NewRegistry()
	o := telemetry.NewWorkerObserver(zap.NewNop(), reg, telemetry.LogIDs{})
	o.OnCall(worker.CallEvent{Key: receipt.Key{Action: receipt.C2CRead, UserID: "u", ConvID: "c"}, Seqs: 3, Next: worker.NextDone,
		Result: receipt.Result{Class: receipt.ClassSuccess}, ReadToReceipt: []time.Duration{300 * time.Millisecond, 2 * time.Hour}})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := 0
	for _, mf := range mfs {
		if mf.GetName() != "receiptd_read_to_receipt_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			series++
			h := m.GetHistogram()
			if m.GetLabel()[0].GetValue() != receipt.C2CRead.String() {
				if h.GetSampleCount() != 0 {
					t.Errorf("%v: %d samples, want 0", m.GetLabel(), h.GetSampleCount())
				}
				continue
			}
			if h.GetSampleCount() != 2 || h.GetSampleSum() != 7200.3 {
				t.Errorf("C2cReadReceipt: count %d sum %v, want 2 and 7200.3", h.GetSampleCount(), h.GetSampleSum())
			}
			wantBelow := map[float64]uint64{0.25: 0, 0.5: 1, 3600: 1, 7200: 2, 24 * 3600: 2}
			for _, b := range h.GetBucket() {
				if want, ok := wantBelow[b.GetUpperBound()]; ok && b.GetCumulativeCount() != want {
					t.Errorf("C2cReadReceipt bucket le=%v holds %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
				}
			}
		}
	}
	if series != len(receipt.Actions) {
		t.Errorf("%d read-to-receipt series, want one per action (%d)", series, len(receipt.Actions))
	}
}

func TestBuildInfo(t *testing.T) {
	reg := prometheus.NewRegistry()
	telemetry.RegisterBuildInfo(reg, buildinfo.Info{Version: "v1.2.3", Revision: "abc123", GoVersion: "go1.26.0", KafkaGoVersion: "v0.4.51"})
	want := `
# HELP receiptd_build_info Always 1; the labels name the build: version, VCS revision, Go and kafka-go versions.
# TYPE receiptd_build_info gauge
receiptd_build_info{go_version="go1.26.0",kafka_go_version="v0.4.51",revision="abc123",version="v1.2.3"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "receiptd_build_info"); err != nil {
		t.Error(err)
	}
}

// receiptd_ready follows what /readyz answers; the worker gauges include
// the pending bound, the retrying batches, the held groups and keys, and
// the keys failing alone with their records.
func TestReadinessAndWorkerGauges(t *testing.T) {
	reg := prometheus.NewRegistry()
	w := &fakeWorker{stats: worker.Stats{Pending: 38, MaxPending: 50000, RetryBatches: 3,
		HeldGroups: 2, HeldKeys: 5, FailingAloneKeys: 1, FailingAloneRecords: 17}, dead: deadletter.Stats{Pending: 2, Paused: true}}
	telemetry.RegisterWorkerMetrics(reg, w, w.deadLetters(), fakeRates{})
	telemetry.RegisterReadiness(reg, func() (bool, string) { return true, "" }, func() (bool, string) { return w.Ready(), "paused" })
	check := func(want string) {
		t.Helper()
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
			"receiptd_ready", "receiptd_pending_records", "receiptd_max_pending_records", "receiptd_retrying_batches",
			"receiptd_held_groups", "receiptd_held_keys", "receiptd_failing_alone_keys", "receiptd_failing_alone_records",
			"receiptd_dead_letter_paused"); err != nil {
			t.Error(err)
		}
	}
	const gauges = `
# HELP receiptd_dead_letter_paused 1 while dead-letter writes are paused because the dead-letter topic refuses a record even written alone.
# TYPE receiptd_dead_letter_paused gauge
receiptd_dead_letter_paused 1
# HELP receiptd_failing_alone_keys Keys whose calls keep failing while other keys of their action succeed; dead-lettered as exhausted after worker.isolated_failure_max_age.
# TYPE receiptd_failing_alone_keys gauge
receiptd_failing_alone_keys 1
# HELP receiptd_failing_alone_records Records of keys failing alone; at most half of worker.max_pending_records.
# TYPE receiptd_failing_alone_records gauge
receiptd_failing_alone_records 17
# HELP receiptd_held_groups Groups whose receipts wait out a backoff after the group's own rate-limit answer (660300006), probe included.
# TYPE receiptd_held_groups gauge
receiptd_held_groups 2
# HELP receiptd_held_keys Keys (action, reader, conversation) whose batches wait out a backoff after a transient answer, probe included.
# TYPE receiptd_held_keys gauge
receiptd_held_keys 5
# HELP receiptd_max_pending_records The bound on pending records (worker.max_pending_records); fetching pauses there.
# TYPE receiptd_max_pending_records gauge
receiptd_max_pending_records 50000
# HELP receiptd_pending_records Records taken from Kafka and not yet done.
# TYPE receiptd_pending_records gauge
receiptd_pending_records 40
# HELP receiptd_retrying_batches Batches waiting to be sent again after a rate-limit, transient or unknown answer.
# TYPE receiptd_retrying_batches gauge
receiptd_retrying_batches 3
# HELP receiptd_ready 1 when /readyz answers 200: the consumer group is joined and dispatch is not paused.
# TYPE receiptd_ready gauge
`
	check(gauges + "receiptd_ready 0\n")
	w.mu.Lock()
	w.ready = true
	w.mu.Unlock()
	check(gauges + "receiptd_ready 1\n")
}
