package worker_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"

	"github.com/receiptd/receiptd/receipt"
	"github.com/receiptd/receiptd/retry"
	"github.com/receiptd/receiptd/worker"
	"github.com/receiptd/receiptd/zimapi"
	"github.com/receiptd/receiptd/zimapi/zimfake"
)

const (
	testAppID  = 1234567
	testSecret = "9193cc662a4c0ec135ec71fb57194b38"
)

// simulator returns a zimfake and a Sender that talks to it through the
// real client and the simulator's real HTTP handler, in process: no
// socket, so that it runs inside a synctest bubble on the bubble's clock,
// where the simulator's rate limit and counts are exact.
func simulator(t *testing.T, cfg zimfake.Config) (*zimfake.Server, worker.Sender) {
	t.Helper()
	cfg.AppID, cfg.Secret = testAppID, testSecret
	cfg.Now = time.Now
	fake := zimfake.New(cfg)
	client, err := zimapi.NewClient(zimapi.Config{Endpoint: "http://zim.invalid/", AppID: testAppID, ServerSecret: testSecret,
		Transport: inProcess{fake.Handler()}})
	if err != nil {
		t.Fatal(err)
	}
	return fake, client
}

// The ZIM client is the worker's Sender as it is: one vocabulary, no
// translation between them.
var _ worker.Sender = (*zimapi.Client)(nil)

// TestClientSendsEveryActionForTheWorker: each of the worker's actions goes
// to ZIM under its own name through the client, and a rejected group comes
// back as a dead letter.
func TestClientSendsEveryActionForTheWorker(t *testing.T) {
	fake, s := simulator(t, zimfake.Config{FailGroups: []string{"gone"}})
	tests := []struct {
		key  receipt.Key
		want receipt.Class
	}{
		{receipt.Key{Action: receipt.GroupRead, UserID: "alice", ConvID: "team"}, receipt.ClassSuccess},
		{receipt.Key{Action: receipt.C2CRead, UserID: "alice", ConvID: "bob"}, receipt.ClassSuccess},
		{receipt.Key{Action: receipt.GroupDelivered, UserID: "alice", ConvID: "team"}, receipt.ClassSuccess},
		{receipt.Key{Action: receipt.C2CDelivered, UserID: "alice", ConvID: "bob"}, receipt.ClassSuccess},
		{receipt.Key{Action: receipt.GroupRead, UserID: "alice", ConvID: "gone"}, receipt.ClassDeadLetter},
	}
	for _, tt := range tests {
		res := s.Send(t.Context(), receipt.Request{Key: tt.key, Seqs: []uint64{3, 4}})
		if res.Class != tt.want || res.RequestID == "" {
			t.Errorf("%v: result %+v, want class %s with a request id", tt.key, res, tt.want)
		}
		if tt.want == receipt.ClassSuccess && !fake.Seen(tt.key.Action.String(), tt.key.UserID, tt.key.ConvID, 4) {
			t.Errorf("%v: the simulator did not record seq 4", tt.key)
		}
	}
}

// inProcess is a RoundTripper that serves requests with a handler.
type inProcess struct{ h http.Handler }

func (p inProcess) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	p.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// backlog returns records for keys readers x groups with random, partly
// overlapping seqs, and the fewest calls that can carry them.
func backlog(rng *rand.Rand, n, keys int) (recs []*worker.Record, idealCalls int) {
	distinct := make(map[receipt.Key]map[uint64]bool)
	for i := range n {
		k := receipt.Key{Action: receipt.Actions[i%2*2], UserID: fmt.Sprint("u", rng.IntN(keys)), ConvID: "g"}
		var seqs []uint64
		first := 1 + uint64(rng.IntN(200))
		for q := first; q < first+uint64(1+rng.IntN(4)); q++ {
			seqs = append(seqs, q)
		}
		recs = append(recs, &worker.Record{Key: k, Seqs: seqs})
		if distinct[k] == nil {
			distinct[k] = make(map[uint64]bool)
		}
		for _, q := range seqs {
			distinct[k][q] = true
		}
	}
	for _, set := range distinct {
		idealCalls += (len(set) + 9) / 10
	}
	return recs, idealCalls
}

// TestBacklogUsesFewestCalls: with a backlog, the worker makes exactly the
// fewest calls possible, the sum over keys of ceil(distinct seqs / 10),
// and every receipt reaches ZIM without one rate-limit answer.
func TestBacklogUsesFewestCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake, sender := simulator(t, zimfake.DefaultConfig())
		budget, err := retry.NewBudget(retry.BudgetConfig{RPS: 20, Actions: receipt.Actions[:]})
		if err != nil {
			t.Fatal(err)
		}
		recs, ideal := backlog(rand.New(rand.NewPCG(1, 2)), 1500, 12)
		w, done := newZimWorker(t, worker.Config{Linger: 200 * time.Millisecond}, sender, budget)
		for _, r := range recs { // the backlog is there before dispatch starts
			if err := w.Submit(context.Background(), r); err != nil {
				t.Fatal(err)
			}
		}
		runUntil(t, w, func() bool { return done.n() == len(recs) }, time.Hour)

		s := w.Stats()
		if s.Calls != uint64(ideal) {
			t.Errorf("calls = %d, want the minimum %d", s.Calls, ideal)
		}
		st := fake.Stats()
		if st.RateLimited != 0 {
			t.Errorf("%d rate-limit answers at 20/s against a 20/s simulator", st.RateLimited)
		}
		for _, r := range recs {
			for _, q := range r.Seqs {
				if !fake.Seen(r.Key.Action.String(), r.Key.UserID, r.Key.ConvID, q) {
					t.Fatalf("seq %d of %v never reached the simulator", q, r.Key)
				}
			}
		}
		t.Logf("%d records, %d calls (minimum %d), %.2f seqs per call", len(recs), s.Calls, ideal, float64(s.SeqsSent)/float64(s.Calls))
	})
}

// TestRateAgainstSimulator drives a full backlog for a minute of the
// bubble's clock against a simulator that allows 20 requests in any one
// second and counts rejected requests too: the worker must never draw a
// 660300005 and must use its budget (20/s with the whole share; with 8 of
// 24 partitions, the 6 or 7 slots a round of the slot schedule gives them).
// The simulator's own counts are the measure; no wall clock is involved.
func TestRateAgainstSimulator(t *testing.T) {
	tests := []struct {
		name       string
		partitions []int
		total      int
		low, high  float64 // calls per second
		peak       int64   // calls in one second
	}{
		{"whole share", []int{0}, 1, 20, 20, 20},
		{"share of 8 in 24 partitions", []int{0, 1, 2, 3, 4, 5, 6, 7}, 24, 6 / 1.01, 7 / 1.01, 7},
	}
	const runFor = time.Minute
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fake, sender := simulator(t, zimfake.DefaultConfig())
				budget, err := retry.NewBudget(retry.BudgetConfig{RPS: 20, Actions: receipt.Actions[:], ShareByPartitions: true})
				if err != nil {
					t.Fatal(err)
				}
				budget.SetShare(tt.partitions, tt.total)
				n := int(tt.high*runFor.Seconds()*10) + 2000
				w, _ := newZimWorker(t, worker.Config{Linger: 200 * time.Millisecond, MaxPendingRecords: n}, sender, budget)
				for i := range n {
					r := &worker.Record{Key: receipt.Key{Action: receipt.GroupRead, UserID: fmt.Sprint("u", i%50), ConvID: "g"}, Seqs: []uint64{uint64(i + 1)}}
					if err := w.Submit(context.Background(), r); err != nil {
						t.Fatal(err)
					}
				}
				start := time.Now()
				runUntil(t, w, func() bool { return time.Since(start) >= runFor }, 2*runFor)
				st := fake.Stats()
				// A share takes effect a little over a second after it is
				// set; the budget may use its whole window at once at the
				// start.
				most := int64(tt.high * (runFor.Seconds() + 1))
				least := int64(tt.low * (runFor.Seconds() - 2))
				t.Logf("%s: %d calls in %v (%.2f to %.2f/s: %d to %d), %d answered 660300005, %.2f seqs/call",
					tt.name, st.Calls, runFor, tt.low, tt.high, least, most, st.RateLimited,
					float64(st.AcceptedReceipts)/float64(max(st.AcceptedCalls, 1)))
				if st.RateLimited != 0 {
					t.Errorf("%d requests answered 660300005; the budget must keep every 1 s window within the limit", st.RateLimited)
				}
				if st.Calls > most {
					t.Errorf("%d calls in %v exceed the budget of %.2f/s", st.Calls, runFor, tt.high)
				}
				if st.Calls < least {
					t.Errorf("%d calls in %v: the worker left part of its %.2f/s unused", st.Calls, runFor, tt.low)
				}
				if peak := st.PeakPerSecond["GroupReadReceipt"]; peak > tt.peak {
					t.Errorf("%d calls within one second, over the budget of %d", peak, tt.peak)
				}
			})
		})
	}
}

func newZimWorker(t *testing.T, cfg worker.Config, sender worker.Sender, pacer worker.Pacer) (*worker.Worker, *doneLog) {
	t.Helper()
	done := &doneLog{t: t}
	if cfg.MaxPendingRecords == 0 {
		cfg.MaxPendingRecords = worker.DefaultMaxPendingRecords
	}
	cfg.Slots = worker.NewSlots(cfg.MaxPendingRecords)
	w, err := worker.New(cfg, sender, instantDeadLetters{cfg.Slots, done}, done, worker.WithPacer(pacer))
	if err != nil {
		t.Fatal(err)
	}
	return w, done
}

// runUntil runs w until cond holds, failing after limit. Inside a
// synctest bubble the waiting costs no real time.
func runUntil(t *testing.T, w *worker.Worker, cond func() bool, limit time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ended := make(chan struct{})
	go func() { defer close(ended); _ = w.Run(ctx) }()
	defer func() { cancel(); <-ended }()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not done after %v: %+v", limit, w.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// instantDeadLetters is a DeadLetterer whose letters are durable at once.
type instantDeadLetters struct {
	slots *worker.Slots
	done  worker.Completer
}

func (d instantDeadLetters) DeadLetter(rec *worker.Record, _ worker.Failure) {
	d.done.Done(rec)
	d.slots.Release()
}
