package worker

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/receiptd/receiptd/receipt"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func rec(a receipt.Action, user, conv string, seqs ...uint64) *Record {
	return &Record{Key: receipt.Key{Action: a, UserID: user, ConvID: conv}, Seqs: seqs}
}

// popAll pops every ready batch of a at now and returns their seqs.
func popAll(bt *batcher, a receipt.Action, now time.Time) [][]uint64 {
	var out [][]uint64
	for b := bt.pop(a, now); b != nil; b = bt.pop(a, now) {
		out = append(out, b.seqs)
	}
	return out
}

func TestBatcherAdd(t *testing.T) {
	tests := []struct {
		name    string
		records []*Record
		want    [][]uint64 // batches of GroupRead u/g after linger, oldest first
		parts   []int      // remaining parts per record
	}{
		{
			name:    "seqs merged, sorted and de-duplicated across records",
			records: []*Record{rec(receipt.GroupRead, "u", "g", 5, 7), rec(receipt.GroupRead, "u", "g", 3, 5, 9)},
			want:    [][]uint64{{3, 5, 7, 9}},
			parts:   []int{1, 1},
		},
		{
			name:    "a record above the cap feeds several batches",
			records: []*Record{rec(receipt.GroupRead, "u", "g", 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25)},
			want:    [][]uint64{{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, {11, 12, 13, 14, 15, 16, 17, 18, 19, 20}, {21, 22, 23, 24, 25}},
			parts:   []int{3},
		},
		{
			name: "a seq already waiting in a full batch is not sent twice",
			records: []*Record{
				rec(receipt.GroupRead, "u", "g", 1, 2, 3, 4, 5, 6, 7, 8, 9, 10),
				rec(receipt.GroupRead, "u", "g", 5, 11),
			},
			want:  [][]uint64{{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, {11}},
			parts: []int{1, 2},
		},
		{
			name:    "a duplicate record rides along without a new request",
			records: []*Record{rec(receipt.GroupRead, "u", "g", 4), rec(receipt.GroupRead, "u", "g", 4)},
			want:    [][]uint64{{4}},
			parts:   []int{1, 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bt := newBatcher(10, time.Second, nil)
			var items []*item
			for _, r := range tt.records {
				it := &item{rec: r}
				bt.add(it, 0, t0)
				items = append(items, it)
			}
			if got := popAll(bt, receipt.GroupRead, t0.Add(time.Second)); !slices.EqualFunc(got, tt.want, slices.Equal) {
				t.Errorf("batches = %v, want %v", got, tt.want)
			}
			for i, it := range items {
				if it.remaining != tt.parts[i] {
					t.Errorf("record %d is carried by %d batches, want %d", i, it.remaining, tt.parts[i])
				}
			}
		})
	}
}

func TestBatcherKeysStaySeparate(t *testing.T) {
	bt := newBatcher(10, 0, nil)
	bt.add(&item{rec: rec(receipt.GroupRead, "u", "g", 1)}, 0, t0)
	bt.add(&item{rec: rec(receipt.GroupRead, "u", "h", 1)}, 0, t0)
	bt.add(&item{rec: rec(receipt.GroupRead, "v", "g", 1)}, 0, t0)
	bt.add(&item{rec: rec(receipt.GroupDelivered, "u", "g", 1)}, 0, t0)
	if got := len(popAll(bt, receipt.GroupRead, t0)); got != 3 {
		t.Errorf("GroupRead batches = %d, want 3 (one per reader and group)", got)
	}
	if got := len(popAll(bt, receipt.GroupDelivered, t0)); got != 1 {
		t.Errorf("GroupDelivered batches = %d, want 1", got)
	}
}

func TestBatcherReadiness(t *testing.T) {
	bt := newBatcher(3, 100*time.Millisecond, nil)
	bt.add(&item{rec: rec(receipt.GroupRead, "a", "g", 1)}, 0, t0)
	if ready, at := bt.next(receipt.GroupRead, t0); ready || !at.Equal(t0.Add(100*time.Millisecond)) {
		t.Fatalf("next = %v, %v; want not ready until the linger passes", ready, at)
	}
	if b := bt.pop(receipt.GroupRead, t0.Add(99*time.Millisecond)); b != nil {
		t.Fatalf("popped %v before its linger passed", b.seqs)
	}
	// A later key fills up: a full batch is ready at once, before the
	// lingering older one.
	bt.add(&item{rec: rec(receipt.GroupRead, "b", "g", 1, 2, 3)}, 0, t0.Add(10*time.Millisecond))
	if ready, _ := bt.next(receipt.GroupRead, t0.Add(10*time.Millisecond)); !ready {
		t.Fatal("a full batch is not ready")
	}
	if b := bt.pop(receipt.GroupRead, t0.Add(10*time.Millisecond)); b == nil || b.key.UserID != "b" {
		t.Fatalf("popped %+v, want the full batch of b", b)
	}
	// Rate-aware coalescing: the ready but unsent batch keeps absorbing.
	bt.add(&item{rec: rec(receipt.GroupRead, "a", "g", 2)}, 0, t0.Add(500*time.Millisecond))
	b := bt.pop(receipt.GroupRead, t0.Add(500*time.Millisecond))
	if b == nil || !slices.Equal(b.seqs, []uint64{1, 2}) {
		t.Fatalf("popped %+v, want a's batch with seqs 1 and 2", b)
	}
	// Once popped, a batch absorbs nothing more: new seqs open a new batch.
	bt.add(&item{rec: rec(receipt.GroupRead, "a", "g", 3)}, 0, t0.Add(600*time.Millisecond))
	if got := popAll(bt, receipt.GroupRead, t0.Add(700*time.Millisecond)); !slices.EqualFunc(got, [][]uint64{{3}}, slices.Equal) {
		t.Errorf("after the send, batches = %v, want [[3]]", got)
	}
}

func TestBatcherOldestReadyFirst(t *testing.T) {
	bt := newBatcher(2, 50*time.Millisecond, nil)
	// Created in order u1..u4; u2 and u4 fill up, u1 and u3 linger.
	for i, seqs := range [][]uint64{{1}, {1, 2}, {1}, {1, 2}} {
		bt.add(&item{rec: rec(receipt.C2CRead, string(rune('1'+i)), "peer", seqs...)}, 0, t0.Add(time.Duration(i)*time.Millisecond))
	}
	var order []string
	for b := bt.pop(receipt.C2CRead, t0.Add(time.Second)); b != nil; b = bt.pop(receipt.C2CRead, t0.Add(time.Second)) {
		order = append(order, b.key.UserID)
	}
	if want := []string{"1", "2", "3", "4"}; !slices.Equal(order, want) {
		t.Errorf("order = %v, want %v (oldest first, full or not)", order, want)
	}
	// Before the linger passes only the full ones leave, oldest first.
	bt = newBatcher(2, time.Hour, nil)
	for i, seqs := range [][]uint64{{1}, {1, 2}, {1}, {1, 2}} {
		bt.add(&item{rec: rec(receipt.C2CRead, string(rune('1'+i)), "peer", seqs...)}, 0, t0.Add(time.Duration(i)*time.Millisecond))
	}
	order = order[:0]
	for b := bt.pop(receipt.C2CRead, t0.Add(time.Second)); b != nil; b = bt.pop(receipt.C2CRead, t0.Add(time.Second)) {
		order = append(order, b.key.UserID)
	}
	if want := []string{"2", "4"}; !slices.Equal(order, want) {
		t.Errorf("order = %v, want %v", order, want)
	}
}

func TestBatcherRetryWaitsForItsTime(t *testing.T) {
	bt := newBatcher(10, 0, nil)
	bt.add(&item{rec: rec(receipt.GroupRead, "u", "g", 1)}, 0, t0)
	b := bt.pop(receipt.GroupRead, t0)
	bt.retryAt(b, t0.Add(time.Second))
	if got := bt.pop(receipt.GroupRead, t0.Add(999*time.Millisecond)); got != nil {
		t.Fatal("a retry left before its backoff passed")
	}
	if ready, at := bt.next(receipt.GroupRead, t0); ready || !at.Equal(t0.Add(time.Second)) {
		t.Errorf("next = %v, %v; want ready at t0+1s", ready, at)
	}
	if got := bt.pop(receipt.GroupRead, t0.Add(time.Second)); got != b {
		t.Error("the retry did not leave once due")
	}
}

func TestBatcherFlushIgnoresLinger(t *testing.T) {
	bt := newBatcher(10, time.Hour, nil)
	bt.add(&item{rec: rec(receipt.GroupRead, "u", "g", 1)}, 0, t0)
	bt.flush = true
	if b := bt.pop(receipt.GroupRead, t0); b == nil {
		t.Error("a flushing batcher kept an open batch waiting")
	}
}

func TestSetHelpers(t *testing.T) {
	a, b := []uint64{1, 3, 5, 7}, []uint64{2, 3, 4, 7, 9}
	if got := intersection(a, b); !slices.Equal(got, []uint64{3, 7}) {
		t.Errorf("intersection = %v", got)
	}
	if got := union(a, b); !slices.Equal(got, []uint64{1, 2, 3, 4, 5, 7, 9}) {
		t.Errorf("union = %v", got)
	}
	if !intersects(a, b) || intersects([]uint64{1, 2}, []uint64{3, 4}) {
		t.Error("intersects is wrong")
	}
}

// BenchmarkBatcherAdd measures adding one record's seqs to its key's
// batches, the worker's cost per event under its lock: records of one to
// three new seqs spread over many readers and groups, full batches leaving
// as they fill, as under a backlog.
func BenchmarkBatcherAdd(b *testing.B) {
	for _, keys := range []int{100, 10000} {
		b.Run(fmt.Sprintf("keys=%d", keys), func(b *testing.B) {
			bt := newBatcher(10, time.Hour, nil)
			recs := make([]Record, keys)
			next := make([]uint64, keys)
			for k := range recs {
				recs[k].Key = receipt.Key{Action: receipt.GroupRead, UserID: fmt.Sprint("user-", k), ConvID: fmt.Sprint("group-", k%97)}
				next[k] = 1
			}
			var seqs [3]uint64
			it := &item{}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				k := i % keys
				n := 1 + i%3
				for j := range n {
					seqs[j] = next[k] + uint64(j)
				}
				next[k] += uint64(n)
				// The batcher reads the seqs only while adding, and the
				// benchmark never completes items: one of each will do.
				recs[k].Seqs = seqs[:n]
				it.rec = &recs[k]
				bt.add(it, 0, t0)
				if i%64 == 63 {
					for bt.pop(receipt.GroupRead, t0) != nil {
					}
				}
				i++
			}
		})
	}
}
