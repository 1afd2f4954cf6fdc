package consumer

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/receiptd/receiptd/worker"
)

func TestTrackerSteps(t *testing.T) {
	type step struct {
		do         string // register, done, start, rebase, commit (offset unused)
		offset     int64
		wantPoint  int64 // -1: no commit point known
		wantCommit bool  // whether toCommit offers wantPoint: it moved, or the done records above it changed
	}
	tests := []struct {
		name      string
		committed int64
		steps     []step
	}{
		{"committed start, in-order and out-of-order done", 10, []step{
			{"commit", 0, 10, false},
			{"register", 10, 10, false},
			{"register", 11, 10, false},
			{"register", 14, 10, false}, // gaps (compaction, markers) are fine
			{"done", 11, 10, true},      // the same offset, listing 11 as done
			{"commit", 0, 10, false},
			{"done", 14, 10, true},
			{"done", 10, 15, true},
			{"commit", 0, 15, false},
			{"register", 15, 15, false},
			{"register", 16, 15, false},
			{"done", 16, 15, true},
			{"commit", 0, 15, false},
			{"done", 15, 17, true},
			{"commit", 0, 17, false},
		}},
		{"no committed offset: nothing to commit until known", -1, []step{
			{"commit", 0, -1, false},
			{"start", 5, 5, true},
			{"register", 5, 5, true},
			{"start", 99, 5, true}, // ignored once a record is registered
			{"done", 5, 6, true},
		}},
		{"an offset already fetched is dropped", 0, []step{
			{"register", 0, 0, false},
			{"register", 1, 0, false},
			{"register", 1, 0, false},
			{"done", 0, 1, true},
			{"done", 1, 2, true},
		}},
		{"rebase forgets the commit so that a lower offset is committed once", 100, []step{
			{"register", 100, 100, false},
			{"done", 100, 101, true},
			{"commit", 101, 101, false},
			{"rebase", 40, 40, true},
			{"register", 40, 40, true},
			{"commit", 40, 40, false},
			{"done", 40, 41, true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTracker("t", 0, tt.committed)
			srcs := map[int64]*source{}
			for i, s := range tt.steps {
				switch s.do {
				case "register":
					if src := tr.register(kafka.Message{Offset: s.offset}); src != nil {
						srcs[s.offset] = src
					}
				case "done":
					Completer{}.Done(&srcs[s.offset].rec)
				case "start":
					tr.setStart(s.offset)
				case "rebase":
					tr.rebase(s.offset)
				case "commit":
					if off, _, done, epoch, ok := tr.toCommit(); ok {
						tr.committedAt(off, done, epoch)
					}
				}
				point, known := tr.commitPoint()
				if !known {
					point = -1
				}
				_, _, _, _, offered := tr.toCommit()
				if point != s.wantPoint || offered != s.wantCommit {
					t.Fatalf("step %d (%s %d): commit point %d offered %t, want %d %t",
						i, s.do, s.offset, point, offered, s.wantPoint, s.wantCommit)
				}
			}
		})
	}
}

// Against a model: whatever the order of completion, the commit point is the
// lowest registered offset not done, or the offset after the last one.
func TestTrackerMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 50 {
		tr := newTracker("t", 0, -1)
		var offsets []int64
		var srcs []*source
		off := int64(rng.IntN(100))
		for range 1 + rng.IntN(3000) {
			offsets = append(offsets, off)
			srcs = append(srcs, tr.register(kafka.Message{Offset: off}))
			off += 1 + int64(rng.IntN(3)) // gaps, as compaction or transaction markers leave
		}
		next := offsets[len(offsets)-1] + 1
		done := make([]bool, len(srcs))
		for _, i := range rng.Perm(len(srcs)) {
			Completer{}.Done(&srcs[i].rec)
			Completer{}.Done(&srcs[i].rec) // a second Done is ignored
			done[i] = true
			if rng.IntN(10) != 0 {
				continue
			}
			want := next
			for j, d := range done {
				if !d {
					want = offsets[j]
					break
				}
			}
			if got, ok := tr.commitPoint(); !ok || got != want {
				t.Fatalf("round %d: commit point %d %t, want %d", round, got, ok, want)
			}
			wantDone := 0
			for j, d := range done {
				if d && offsets[j] > want {
					wantDone++
				}
			}
			tr.mu.Lock()
			listed, counted := len(slices.Collect(tr.doneAboveLocked())), tr.doneAboveCountLocked()
			tr.mu.Unlock()
			if listed != wantDone || counted != wantDone {
				t.Fatalf("round %d: %d done above the commit point listed, %d counted, want %d", round, listed, counted, wantDone)
			}
		}
		if got, _ := tr.commitPoint(); got != next || tr.outstanding.Load() != 0 {
			t.Fatalf("round %d: all done: commit point %d outstanding %d, want %d 0", round, got, tr.outstanding.Load(), next)
		}
	}
}

func TestOriginAndForeignRecords(t *testing.T) {
	tr := newTracker("events", 3, -1)
	s := tr.register(kafka.Message{Offset: 42, Value: []byte("v")})
	if topic, p, off, ok := Origin(&s.rec); !ok || topic != "events" || p != 3 || off != 42 {
		t.Errorf("Origin = %s %d %d %t", topic, p, off, ok)
	}
	var foreignDone int
	foreign := &worker.Record{Completion: countCompletion{&foreignDone}}
	if _, _, _, ok := Origin(foreign); ok {
		t.Error("Origin accepted a record that did not come from a Consumer")
	}
	if _, ok := SourceMessage(foreign); ok {
		t.Error("SourceMessage accepted a record that did not come from a Consumer")
	}
	Completer{}.Done(foreign)
	if foreignDone != 1 {
		t.Errorf("Completer told a foreign record's completion %d times, want once", foreignDone)
	}
	Completer{}.Done(&worker.Record{}) // no completion: must not panic
	Completer{}.Done(&s.rec)
	if s.msg.Value != nil {
		t.Error("a done record still holds its payload")
	}
}

// BenchmarkTracker measures one register, one Done (completions shuffled
// within a window of 64) and one commit-point computation.
func BenchmarkTracker(b *testing.B) {
	tr := newTracker("t", 0, 0)
	const window = 64
	perm := rand.New(rand.NewPCG(1, 1)).Perm(window)
	ring := make([]*source, window)
	var off int64
	b.ReportAllocs()
	for b.Loop() {
		i := int(off % window)
		ring[i] = tr.register(kafka.Message{Offset: off})
		if i == window-1 {
			for _, j := range perm {
				Completer{}.Done(&ring[j].rec)
			}
		}
		tr.commitPoint()
		off++
	}
}

// countCompletion counts its Done calls.
type countCompletion struct{ n *int }

func (c countCompletion) Done() { *c.n++ }

// A record's completion may be called from any goroutine, any number of
// times: the record is done once, and the partition's count of outstanding
// records drops by one.
func TestSourceDoneIsIdempotentAcrossGoroutines(t *testing.T) {
	tr := newTracker("events", 0, -1)
	s := tr.register(kafka.Message{Offset: 7, Value: []byte("v")})
	var c worker.Completion = s
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			c.Done()
			Completer{}.Done(&s.rec)
		})
	}
	wg.Wait()
	if got := tr.outstanding.Load(); got != 0 {
		t.Errorf("outstanding = %d after many Done calls on one record, want 0", got)
	}
	if s.msg.Value != nil {
		t.Error("a done record still holds its payload")
	}
}
