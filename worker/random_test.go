package worker_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/receiptd/receiptd/deadletter"
	"github.com/receiptd/receiptd/receipt"
	"github.com/receiptd/receiptd/retry"
	"github.com/receiptd/receiptd/worker"
)

type seqKey struct {
	key receipt.Key
	seq uint64
}

// randomSender answers with random classes and remembers every seq it
// acknowledged, before it answers.
type randomSender struct {
	mu    sync.Mutex
	rng   *rand.Rand
	acked map[seqKey]bool
	calls int
}

// answerOdds is how often randomSender answers with each class: a draw
// below a row's bound that no earlier row took; ClassSystemic above them all.
var answerOdds = []struct {
	below float64
	class receipt.Class
}{
	{0.55, receipt.ClassSuccess},
	{0.62, receipt.ClassRateLimited},
	{0.65, receipt.ClassGroupRateLimited},
	{0.75, receipt.ClassTransient},
	{0.80, receipt.ClassResign},
	{0.85, receipt.ClassTooMany},
	{0.90, receipt.ClassDeadLetter},
	{0.97, receipt.ClassUnknown},
}

func (s *randomSender) Send(ctx context.Context, req receipt.Request) receipt.Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	p := s.rng.Float64()
	c := receipt.ClassSystemic
	for _, o := range answerOdds {
		if p < o.below {
			c = o.class
			break
		}
	}
	if c == receipt.ClassSuccess {
		for _, q := range req.Seqs {
			s.acked[seqKey{req.Key, q}] = true
		}
	}
	return receipt.Result{Class: c, Code: codeOf[c], Message: c.String(), RequestID: fmt.Sprint(s.calls)}
}

func (s *randomSender) isAcked(k receipt.Key, q uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acked[seqKey{k, q}]
}

// TestRandomStreams feeds random records through random outcomes and
// checks the completion contract: every record is done exactly once, only
// after every one of its seqs was acknowledged or durably dead-lettered,
// and only data errors reach the dead-letter topic.
func TestRandomStreams(t *testing.T) {
	for seed := range uint64(12) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { randomStream(t, seed) })
		})
	}
}

func randomStream(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 42))
	sender := &randomSender{rng: rand.New(rand.NewPCG(seed, 7)), acked: make(map[seqKey]bool)}
	cfg := worker.Config{
		MaxSeqsPerCall:     1 + rng.IntN(10),
		Linger:             time.Duration(rng.IntN(300)) * time.Millisecond,
		MaxInFlight:        1 + rng.IntN(8),
		MaxPendingRecords:  5 + rng.IntN(100),
		UnknownMaxAttempts: 1 + rng.IntN(4),
		Backoff:            retry.Policy{Initial: 50 * time.Millisecond, Max: time.Second},
		SystemicBackoff:    retry.Policy{Initial: time.Second, Max: 5 * time.Second},
	}
	budget, err := retry.NewBudget(retry.BudgetConfig{RPS: 50, Actions: receipt.Actions[:], Pause: retry.Policy{Initial: 200 * time.Millisecond, Max: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	h := startStaged(t, cfg, deadletter.StageConfig{Backoff: retry.Policy{Initial: 100 * time.Millisecond, Max: time.Second}}, sender, budget)
	h.dlq.FailNext(rng.IntN(4))

	// At Done, every seq must be acknowledged or in the record's durable
	// dead letter.
	h.done.hook = func(r *worker.Record) {
		var failed []uint64
		for _, l := range h.dlq.Letters() {
			if l.Record == r {
				failed = l.Failure.FailedSeqs
			}
		}
		for _, q := range r.Seqs {
			if !sender.isAcked(r.Key, q) && !slices.Contains(failed, q) {
				t.Errorf("record %v done while seq %d is neither acknowledged nor dead-lettered", r.Key, q)
			}
		}
	}

	n := 200 + rng.IntN(200)
	var recs []*worker.Record
	for range n {
		a := receipt.Actions[rng.IntN(len(receipt.Actions))]
		seqs := map[uint64]bool{}
		for range 1 + rng.IntN(15) {
			seqs[1+uint64(rng.IntN(40))] = true
		}
		var s []uint64
		for q := range seqs {
			s = append(s, q)
		}
		slices.Sort(s)
		r := &worker.Record{Key: receipt.Key{Action: a, UserID: fmt.Sprint("u", rng.IntN(4)), ConvID: fmt.Sprint("c", rng.IntN(3))}, Seqs: s}
		recs = append(recs, r)
		h.submit(r)
		if rng.IntN(4) == 0 {
			time.Sleep(time.Duration(rng.IntN(100)) * time.Millisecond)
		}
	}
	h.waitFor("every record", time.Hour, func() bool { return h.done.n() == n })
	for _, r := range recs {
		if !h.done.isDone(r) {
			t.Errorf("record %v %v never done", r.Key, r.Seqs)
		}
	}
	for _, l := range h.dlq.Letters() {
		if l.Failure.Class != worker.FailRejected && l.Failure.Class != worker.FailExhausted {
			t.Errorf("record %v dead-lettered as %s", l.Record.Key, l.Failure.Class)
		}
		if len(l.Failure.FailedSeqs) == 0 {
			t.Errorf("record %v dead-lettered without failed seqs", l.Record.Key)
		}
	}
	if s, d := h.w.Stats(), h.stage.Stats(); s.Pending != 0 || d.Pending != 0 || s.RecordsDone+d.Done() != uint64(n) ||
		s.RecordsFailed != d.Handed || d.Done() != d.Handed {
		t.Errorf("stats after the stream: %+v; dead-letter stage %+v", s, d)
	}
}
