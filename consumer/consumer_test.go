package consumer_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/receiptd/receiptd/consumer"
	"github.com/receiptd/receiptd/deadletter"
	"github.com/receiptd/receiptd/worker"
)

// Every record is handed over and done, invalid ones are dead-lettered with
// the right headers and do not hold up the records behind them (invariant
// 10), and the final commits cover every record.
func TestConsumeEveryRecord(t *testing.T) {
	const partitions, perPartition = 8, 300
	addrs, want := seededCluster(t, partitions, perPartition, func(p, i int) string {
		switch {
		case i == 3:
			return fmt.Sprintf(`{"group_id":"g","conv_msg_seq":[%d,%d]}`, seqID(p, int64(i)), 1)
		case i%101 == 50:
			return "not json"
		}
		return ""
	})

	cfg := testConfig(addrs, "every-record")
	l := newLedger()
	stages := newFakeStages(l, 1)
	stages.dlq = newDLQWriter(t, cfg, nil)
	obs, r := startOnFake(t, cfg, stages)

	obs.waitAllCommitted(t, 30*time.Second, want)
	if !r.c.Ready() {
		t.Error("Ready() = false while consuming")
	}
	if lag := r.c.Lag(); len(lag) != partitions || lag[0] != 0 {
		t.Errorf("Lag() = %v, want 0 for each of %d partitions", lag, partitions)
	}
	if err := r.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if r.c.Ready() {
		t.Error("Ready() = true after Run returned")
	}
	l.check(t, want)
	if got := committedOffsets(t, addrs, cfg.GroupID, partitions); !equalOffsets(got, want.perPartition) {
		t.Errorf("committed offsets = %v, want %v", got, want.perPartition)
	}
	all := make([]int, partitions)
	for i := range all {
		all[i] = i
	}
	if !slices.ContainsFunc(stages.shares, func(s share) bool { return slices.Equal(s.partitions, all) && s.total == partitions }) {
		t.Errorf("SetShare calls %v, want one with every partition of %d", stages.shares, partitions)
	}

	var nInvalid int
	for _, m := range want.invalid {
		nInvalid += len(m)
	}
	if len(obs.invalid) != nInvalid {
		t.Errorf("%d InvalidEvent reports, want %d", len(obs.invalid), nInvalid)
	}
	checkDeadLetters(t, readDLQ(t, addrs, nInvalid), want)
}

func equalOffsets(got map[int]int64, want map[int]int64) bool {
	if len(got) != len(want) {
		return false
	}
	for p, n := range want {
		if got[p] != n {
			return false
		}
	}
	return true
}

// checkDeadLetters verifies each dead-letter record against the source
// record it came from (invariant 4).
func checkDeadLetters(t *testing.T, msgs []kafka.Message, want produced) {
	t.Helper()
	eachDeadLetter(t, msgs, want, func(m kafka.Message, info deadletter.Info, p int, off int64, value string) {
		if string(m.Value) != value || string(m.Key) != fmt.Sprintf("g%d", p) {
			t.Errorf("dead letter %d/%d: key %q value %q, want the source's g%d %q", p, off, m.Key, m.Value, p, value)
		}
		if len(info.Original) != 1 || info.Original[0].Key != "trace" || string(info.Original[0].Value) != fmt.Sprintf("t-%d-%d", p, off) {
			t.Errorf("dead letter %d/%d: source headers %v, want the trace header", p, off, info.Original)
		}
		if info.Class != worker.FailInvalidEvent || info.SourceTopic != srcTopic || info.Worker != "test-worker" ||
			info.Message == "" || info.FailedAt.IsZero() || info.ReplayCount != 0 {
			t.Errorf("dead letter %d/%d: %+v", p, off, info)
		}
		ev, decodeErr := consumer.DecodeEvent([]byte(value), consumer.Limits{})
		if decodeErr == nil || info.Message != decodeErr.Error() || !slices.Equal(info.FailedSeqs, ev.Seqs) {
			t.Errorf("dead letter %d/%d: message %q seqs %v, want %v %v", p, off, info.Message, info.FailedSeqs, decodeErr, ev.Seqs)
		}
	})
}

// The commit of a partition stays at its lowest record not done, however
// many records behind it are done (invariant 1), and moves on once it is.
func TestCommitStopsAtLowestNotDone(t *testing.T) {
	const partitions, perPartition = 4, 200
	addrs, want := seededCluster(t, partitions, perPartition, nil)

	cfg := testConfig(addrs, "lowest-not-done")
	l := newLedger()
	stages := newFakeStages(l, 2)
	// Everything but the held record gets done; partition 2 must then sit
	// at 57 while the others reach the end.
	obs, r := startHolding(t, cfg, stages, want, 2, 57)
	obs.waitFor(t, 30*time.Second, "commits of the done prefixes", func() bool {
		for p := range partitions {
			off, _ := l.lastCommit(p)
			if (p == 2 && off != 57) || (p != 2 && off != perPartition) {
				return false
			}
		}
		return true
	})
	if got := committedOffsets(t, addrs, cfg.GroupID, partitions); got[2] != 57 {
		t.Errorf("partition 2 committed at %d with offset 57 not done, want 57", got[2])
	}

	stages.setHold(nil)
	obs.waitCommitted(t, 30*time.Second, "partition 2 committed to the end", 2, perPartition)
	if err := r.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	l.check(t, want)
}

// While dead-letter writes fail, the offset of the rejected record stays
// uncommitted; once a write succeeds the commit moves past it (invariant 1).
func TestFailedDeadLetterKeepsOffsetUncommitted(t *testing.T) {
	const partitions, perPartition = 2, 20
	addrs, want := seededCluster(t, partitions, perPartition, func(p, i int) string {
		if p == 1 && i == 5 {
			return `{"user_id":"","group_id":"g","conv_msg_seq":[1]}`
		}
		return ""
	})

	cfg := testConfig(addrs, "dlq-fails")
	failing := &failingDeadLetterer{next: newDLQWriter(t, cfg, nil), paused: true}
	l := newLedger()
	stages := newFakeStages(l, 3)
	stages.dlq = failing
	obs, r := startOnFake(t, cfg, stages)

	obs.waitCommitted(t, 30*time.Second, "partition 1 committed up to the rejected record", 1, 5)
	stages.waitFor(t, 30*time.Second, "a failed dead-letter write", func() bool { return stages.dlqFails >= 3 })
	// Everything behind the rejected record is done; a few more commit
	// ticks must not move past it.
	stages.waitFor(t, 30*time.Second, "records behind the rejected one done", func() bool {
		distinct, _ := l.doneCount()
		return distinct == int(want.total())-1
	})
	ticks := obs.tickCount()
	obs.waitFor(t, 30*time.Second, "more commit ticks", func() bool { return obs.ticks > ticks+3 })
	if got := committedOffsets(t, addrs, cfg.GroupID, partitions); got[1] != 5 {
		t.Errorf("partition 1 committed at %d while its record 5 is not dead-lettered, want 5", got[1])
	}

	failing.mu.Lock()
	failing.paused = false
	failing.mu.Unlock()
	obs.waitCommitted(t, 30*time.Second, "partition 1 committed to the end", 1, perPartition)
	if err := r.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	l.check(t, want)
	checkDeadLetters(t, readDLQ(t, addrs, 1), want)
}

// failingDeadLetterer fails every write while paused, then writes through
// next.
type failingDeadLetterer struct {
	next   deadletter.LetterWriter
	mu     sync.Mutex
	paused bool
}

func (f *failingDeadLetterer) DeadLetter(ctx context.Context, letters []deadletter.Letter) error {
	f.mu.Lock()
	fail := f.paused
	f.mu.Unlock()
	if fail {
		return errors.New("dead-letter topic unavailable")
	}
	return f.next.DeadLetter(ctx, letters)
}
