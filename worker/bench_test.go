package worker_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/receiptd/receiptd/receipt"
	"github.com/receiptd/receiptd/worker"
)

type nopSender struct{ calls atomic.Int64 }

func (s *nopSender) Send(context.Context, receipt.Request) receipt.Result {
	s.calls.Add(1)
	return receipt.Result{Class: receipt.ClassSuccess}
}

type countDone struct {
	n    atomic.Int64
	want int64
	all  chan struct{}
}

func (c *countDone) Done(*worker.Record) {
	if c.n.Add(1) == c.want {
		close(c.all)
	}
}

// BenchmarkPipeline measures records through Submit, the batcher and the
// dispatcher to a sender that answers at once: the worker's own cost per
// event. Records are spread over many readers and groups with one to three
// seqs each, like a chat backend's read events.
func BenchmarkPipeline(b *testing.B) {
	for _, keys := range []int{100, 10000} {
		b.Run(fmt.Sprintf("keys=%d", keys), func(b *testing.B) {
			recs := make([]*worker.Record, b.N)
			for i := range recs {
				k := i % keys
				seq := uint64(i/keys)*3 + 1
				recs[i] = &worker.Record{
					Key:  receipt.Key{Action: receipt.GroupRead, UserID: fmt.Sprint("user-", k), ConvID: fmt.Sprint("group-", k%97)},
					Seqs: []uint64{seq, seq + 1, seq + 2}[:1+i%3],
				}
			}
			sender := &nopSender{}
			done := &countDone{want: int64(b.N), all: make(chan struct{})}
			w, err := worker.New(worker.Config{Linger: 5 * time.Millisecond, MaxInFlight: 64, MaxPendingRecords: 50000},
				sender, noDeadLetters{}, done)
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			ran := make(chan struct{})
			go func() { defer close(ran); _ = w.Run(ctx) }()
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for _, r := range recs {
				if err := w.Submit(ctx, r); err != nil {
					b.Fatal(err)
				}
			}
			<-done.all
			elapsed := time.Since(start)
			b.StopTimer()
			cancel()
			<-ran
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
			b.ReportMetric(float64(b.N)/float64(sender.calls.Load()), "events/call")
		})
	}
}

// noDeadLetters stands in for the dead-letter stage where every call
// succeeds.
type noDeadLetters struct{}

func (noDeadLetters) DeadLetter(*worker.Record, worker.Failure) {
	panic("a record failed in a benchmark")
}
