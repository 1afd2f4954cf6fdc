package consumer_test

import (
	"context"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/receiptd/receiptd/consumer"
	"github.com/receiptd/receiptd/internal/kafkatest"
)

// Brokers out of reach at start are a state, not an error: Run reports every
// attempt with its backoff and consumes everything once they answer.
func TestBrokersOutOfReachAtStartIsAState(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nothing listens there until the cluster starts

	cfg := testConfig([]string{ln.Addr().String()}, "out-of-reach")
	l := newLedger()
	stages := newFakeStages(l, 1)
	stages.start(t)
	obs := &reachRecorder{recorder: newRecorder(l)}
	r := startConsumer(t, cfg, stages, obs)
	obs.waitFor(t, 30*time.Second, "two attempts reported", func() bool { return len(obs.unreachable) >= 2 })

	addrs := newCluster(t, 2, kfake.Ports(port)).ListenAddrs()
	want := produce(t, addrs, 2, 30, nil)
	obs.stopAllCommitted(t, 30*time.Second, want, r)
	obs.mu.Lock()
	defer obs.mu.Unlock()
	for i, e := range obs.unreachable {
		if e.Attempt != i+1 || e.RetryIn <= 0 || e.Err == nil || e.Since.IsZero() || !slices.Equal(e.Brokers, cfg.Brokers) {
			t.Errorf("report %d: %+v, want attempt %d with the brokers, the error and a retry delay", i, e, i+1)
		}
	}
}

type reachRecorder struct {
	*recorder
	unreachable []consumer.BrokersUnreachable
}

func (o *reachRecorder) BrokersUnreachable(e consumer.BrokersUnreachable) {
	o.event(func() { o.unreachable = append(o.unreachable, e) })
}

// A generation ends while its commits fail (the coordinator out of reach):
// the member keeps the done work, and the next generation that gives it the
// same partitions commits it and hands none of it to the pipeline again,
// only the record the drain had to abandon (invariant 7).
func TestDoneWorkOutlivesItsGeneration(t *testing.T) {
	const partitions, perPartition, held = 2, 50, 10
	cluster := newCluster(t, partitions)
	addrs := cluster.ListenAddrs()
	want := produce(t, addrs, partitions, perPartition, nil)

	var failCommits, endGeneration atomic.Bool
	failCommits.Store(true)
	cluster.ControlKey(int16(kmsg.OffsetCommit), func(req kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		if !failCommits.Load() {
			return nil, nil, false
		}
		return failedCommit(req.(*kmsg.OffsetCommitRequest), 27), nil, true // REBALANCE_IN_PROGRESS
	})
	cluster.ControlKey(int16(kmsg.Heartbeat), func(req kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		if !endGeneration.CompareAndSwap(true, false) {
			return nil, nil, false
		}
		resp := req.(*kmsg.HeartbeatRequest).ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = 27
		return resp, nil, true
	})

	cfg := testConfig(addrs, "carry")
	l := newLedger()
	stages := newFakeStages(l, 1)
	stages.holdOne(0, held)
	obs := &carryRecorder{recorder: newRecorder(l)}
	// Once the generation's last commit failed, the coordinator answers
	// again and the held record can finish.
	obs.onCarry = func() {
		failCommits.Store(false)
		stages.setHold(nil)
	}
	stages.start(t)
	r := startConsumer(t, cfg, stages, obs)
	l.waitAllButHeld(t, want)
	endGeneration.Store(true)
	obs.stopAllCommitted(t, 30*time.Second, want, r)

	obs.mu.Lock()
	defer obs.mu.Unlock()
	if len(obs.carried) != 1 {
		t.Fatalf("CarriedOver reports %+v, want one", obs.carried)
	}
	c := obs.carried[0]
	wantResumed := map[int]int64{0: held, 1: perPartition}
	if len(c.Dropped) != 0 || len(c.Resumed) != 2 || c.Resumed[0] != wantResumed[0] || c.Resumed[1] != wantResumed[1] ||
		c.Skipped != perPartition-held-1 {
		t.Errorf("CarriedOver %+v, want resumed at %v with %d done records skipped", c, wantResumed, perPartition-held-1)
	}
	distinct, done := l.doneCount()
	if done != distinct {
		t.Errorf("%d records done twice: the next generation redid work the last one had done", done-distinct)
	}
	stages.mu.Lock()
	defer stages.mu.Unlock()
	if stages.submitted != int(want.total())+1 {
		t.Errorf("the pipeline was handed %d records, want %d: all once, and the abandoned one again",
			stages.submitted, want.total()+1)
	}
}

// Done work kept for a partition that the next generation gives to another
// member is dropped: this member never commits it, whatever its commits
// carry, and the new owner consumes it from the group's committed offset.
func TestCarriedWorkOfAPartitionGivenAwayIsNeverCommitted(t *testing.T) {
	const partitions, perPartition = 2, 40
	cluster := newCluster(t, partitions)
	addrs := cluster.ListenAddrs()
	want := produce(t, addrs, partitions, perPartition, nil)

	var failFrom atomic.Value // member id whose commits fail
	failFrom.Store("")
	var mu sync.Mutex
	type commit struct {
		member     string
		generation int32
		partitions []int
	}
	var commits []commit
	cluster.ControlKey(int16(kmsg.OffsetCommit), func(req kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		oc := req.(*kmsg.OffsetCommitRequest)
		c := commit{member: oc.MemberID, generation: oc.Generation}
		for _, tp := range oc.Topics {
			for _, p := range tp.Partitions {
				c.partitions = append(c.partitions, int(p.Partition))
			}
		}
		mu.Lock()
		commits = append(commits, c)
		mu.Unlock()
		if oc.MemberID == failFrom.Load() {
			return failedCommit(oc, 27), nil, true
		}
		return nil, nil, false
	})

	cfg := testConfig(addrs, "give-away")
	l := newLedger()
	pipeA := newFakeStages(l, 1)
	obsA := &carryRecorder{recorder: newRecorder(l)}
	pipeA.start(t)
	a := startConsumer(t, cfg, pipeA, obsA)
	obsA.waitFor(t, 30*time.Second, "A joined", func() bool { return len(obsA.joined) == 1 })
	obsA.mu.Lock()
	failFrom.Store(obsA.joined[0].MemberID)
	obsA.mu.Unlock()
	l.waitDistinct(t, 30*time.Second, "A done with every record", int(want.total()))

	pipeB := newFakeStages(l, 2)
	obsB, b := startOnFake(t, cfg, pipeB)
	obsA.waitFor(t, 30*time.Second, "A's carried work resumed or dropped", func() bool { return len(obsA.carried) == 1 })
	failFrom.Store("")
	obsB.waitAllCommitted(t, 30*time.Second, want)
	for _, r := range []*running{a, b} {
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	}
	l.check(t, want)

	obsA.mu.Lock()
	defer obsA.mu.Unlock()
	owned := map[int32][]int{}
	for _, j := range obsA.joined {
		owned[j.GenerationID] = j.Partitions
	}
	c := obsA.carried[0]
	if len(c.Dropped) != 1 || len(c.Resumed) != 1 {
		t.Errorf("A's CarriedOver %+v, want one partition resumed and the other dropped", c)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, cm := range commits {
		if cm.member != obsA.joined[0].MemberID {
			continue
		}
		for _, p := range cm.partitions {
			if !slices.Contains(owned[cm.generation], p) {
				t.Errorf("A committed partition %d in generation %d, where it owns %v", p, cm.generation, owned[cm.generation])
			}
		}
	}
}

// failedCommit answers an OffsetCommit with code for every partition.
func failedCommit(req *kmsg.OffsetCommitRequest, code int16) *kmsg.OffsetCommitResponse {
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	for _, tp := range req.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = tp.Topic
		for _, p := range tp.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, code
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// carryRecorder records CarriedOver events and calls onCarry when a commit
// fails at the end of a generation.
type carryRecorder struct {
	*recorder
	carried []consumer.CarriedOver
	onCarry func()
}

func (o *carryRecorder) CarriedOver(e consumer.CarriedOver) {
	o.event(func() { o.carried = append(o.carried, e) })
}

func (o *carryRecorder) CommitFailed(f consumer.CommitFailed) {
	o.recorder.CommitFailed(f)
	if f.Next == consumer.CommitCarry && o.onCarry != nil {
		o.onCarry()
	}
}

// Records done above the committed offset are listed with the commit, so
// that after a crash the next process hands none of them to its pipeline:
// only the work done since the last commit is redone.
func TestDoneRecordsAboveTheCommitAreNotRedoneAfterACrash(t *testing.T) {
	const partitions, perPartition, held = 2, 50, 10
	addrs, want := seededCluster(t, partitions, perPartition, nil)
	cfg := testConfig(addrs, "crash-metadata")
	l := newLedger()
	obs, r := startHolding(t, cfg, newFakeStages(l, 1), want, 0, held)
	commitCount := func() int {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.commits
	}
	// The commit that matters is the one whose metadata lists every record
	// done above the held one: a commit that follows the last record's
	// completion may have been cut before the consumer took it in.
	client := kafkatest.Client(t, addrs)
	covered := func() bool {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: cfg.GroupID, Topics: map[string][]int{srcTopic: {0, 1}}})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range res.Topics[srcTopic] {
			switch {
			case p.Error != nil:
				t.Fatal(p.Error)
			case p.Partition == 0 && (p.CommittedOffset != held || len(consumer.DecodeDone(held, p.Metadata)) != perPartition-held-1):
				return false
			case p.Partition == 1 && p.CommittedOffset != perPartition:
				return false
			}
		}
		return true
	}
	for {
		commits := commitCount()
		if covered() {
			break
		}
		obs.waitFor(t, 30*time.Second, "a commit listing every record done above the held one", func() bool { return commitCount() > commits })
	}
	r.cancel(consumer.ErrAbandon) // kill -9: no drain, no commit
	if err := r.wait(); err != nil {
		t.Fatal(err)
	}

	pipe2 := newFakeStages(l, 2)
	obs2 := &carryRecorder{recorder: newRecorder(l)}
	pipe2.start(t)
	r2 := startConsumer(t, cfg, pipe2, obs2)
	obs2.stopAllCommitted(t, 30*time.Second, want, r2)
	if distinct, done := l.doneCount(); done != distinct {
		t.Errorf("%d records done twice: the next process redid work the commit listed as done", done-distinct)
	}
	pipe2.mu.Lock()
	defer pipe2.mu.Unlock()
	if pipe2.submitted != 1 {
		t.Errorf("the next process handed %d records to its pipeline, want 1: the one that was not done", pipe2.submitted)
	}
	obs2.mu.Lock()
	defer obs2.mu.Unlock()
	if len(obs2.carried) != 1 || obs2.carried[0].Skipped != perPartition-held-1 || obs2.carried[0].Resumed[0] != held {
		t.Errorf("CarriedOver %+v, want partition 0 resumed at %d with %d done records skipped", obs2.carried, held, perPartition-held-1)
	}
}
