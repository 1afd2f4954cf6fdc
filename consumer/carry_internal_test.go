package consumer

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/receiptd/receiptd/internal/kafkatest"
)

// What one generation leaves of a partition, and how the next one takes it
// over, against the group's committed offset.
func TestTrackerCarriesDoneWork(t *testing.T) {
	tests := []struct {
		name      string
		done      []int64 // of records 10..19, registered from committed offset 10
		committed int64   // the group's committed offset in the next generation
		wantLeft  carry   // what the first generation leaves
		wantStart int64
		wantSkip  []int64 // offsets the next generation finds done, of 10..29
		wantPoint int64   // its commit point once 10..29 are fetched again
	}{
		{"prefix and records above a gap", []int64{10, 11, 12, 14, 15, 19}, 10,
			carry{13, []int64{14, 15, 19}}, 13, []int64{14, 15, 19}, 13},
		{"everything done", []int64{10, 11, 12, 13, 14, 15, 16, 17, 18, 19}, 10,
			carry{20, nil}, 20, nil, 20},
		{"the group committed further meanwhile", []int64{10, 11, 15, 16}, 16,
			carry{12, []int64{15, 16}}, 16, []int64{16}, 17},
		{"nothing committed ever", []int64{10, 12}, -1,
			carry{11, []int64{12}}, 11, []int64{12}, 11},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first := newTracker("t", 0, 10)
			srcs := map[int64]*source{}
			for off := int64(10); off < 20; off++ {
				srcs[off] = first.register(kafka.Message{Offset: off})
			}
			for _, off := range tt.done {
				Completer{}.Done(&srcs[off].rec)
			}
			left, ok := first.leftover()
			if !ok || left.prefix != tt.wantLeft.prefix || !slices.Equal(left.done, tt.wantLeft.done) {
				t.Fatalf("leftover = %+v %t, want %+v", left, ok, tt.wantLeft)
			}

			next := newTracker("t", 0, tt.committed)
			start, skipped := next.carryOver(left)
			if start != tt.wantStart || skipped != len(tt.wantSkip) {
				t.Fatalf("carryOver = start %d, %d skipped; want %d, %d", start, skipped, tt.wantStart, len(tt.wantSkip))
			}
			var skip []int64
			for off := start; off < 30; off++ {
				next.register(kafka.Message{Offset: off})
				if next.finishedBefore(off) {
					skip = append(skip, off)
					next.queue[len(next.queue)-1].Done()
				}
			}
			if !slices.Equal(skip, tt.wantSkip) {
				t.Errorf("finished before: %v, want %v", skip, tt.wantSkip)
			}
			if point, _ := next.commitPoint(); point != tt.wantPoint {
				t.Errorf("commit point %d, want %d", point, tt.wantPoint)
			}
		})
	}

	t.Run("nothing left once committed", func(t *testing.T) {
		tr := newTracker("t", 0, 5)
		s := tr.register(kafka.Message{Offset: 5})
		Completer{}.Done(&s.rec)
		off, _, done, epoch, _ := tr.toCommit()
		tr.committedAt(off, done, epoch)
		if c, ok := tr.leftover(); ok {
			t.Errorf("leftover = %+v, want nothing", c)
		}
	})
	t.Run("what was not fetched again is carried on", func(t *testing.T) {
		tr := newTracker("t", 0, 10)
		tr.carryOver(carry{10, []int64{12, 40, 41}})
		s := tr.register(kafka.Message{Offset: 10})
		Completer{}.Done(&s.rec)
		c, ok := tr.leftover()
		if !ok || c.prefix != 11 || !slices.Equal(c.done, []int64{12, 40, 41}) {
			t.Errorf("leftover = %+v %t, want prefix 11 and 12, 40, 41 done", c, ok)
		}
	})
	t.Run("a reset forgets what was finished", func(t *testing.T) {
		tr := newTracker("t", 0, 10)
		tr.carryOver(carry{10, []int64{12}})
		tr.rebase(0)
		tr.register(kafka.Message{Offset: 12})
		if tr.finishedBefore(12) {
			t.Error("after an offset reset, offset 12 still counts as finished")
		}
	})
}

// A commit carries the generation's id and member id, so the coordinator
// accepts it exactly as it would the generation's own: for the current
// generation and member, never for an ended generation or another member;
// and it stores the done records above the offset in the metadata.
func TestCommitKeepsTheGenerationCheck(t *testing.T) {
	addrs := kafkatest.NewCluster(t, kfake.SeedTopics(2, "t"), kfake.GroupMinSessionTimeout(100*time.Millisecond)).ListenAddrs()
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{ID: "g", Brokers: addrs, Topics: []string{"t"},
		HeartbeatInterval: 100 * time.Millisecond, SessionTimeout: 3 * time.Second, JoinGroupBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cg.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	gen, err := cg.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	client := kafkatest.Client(t, addrs)
	committed := func() (int64, string) {
		t.Helper()
		res, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: "g", Topics: map[string][]int{"t": {0}}})
		if err != nil {
			t.Fatal(err)
		}
		return res.Topics["t"][0].CommittedOffset, res.Topics["t"][0].Metadata
	}

	tests := []struct {
		name       string
		generation int32
		member     string
		offset     int64
		want       error // nil: committed
	}{
		{"current generation", gen.ID, gen.MemberID, 7, nil},
		{"an ended generation", gen.ID - 1, gen.MemberID, 9, kafka.IllegalGeneration},
		{"another member", gen.ID, "someone-else", 9, kafka.UnknownMemberId},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cm := &generationCommitter{client: client, group: "g", generation: tt.generation, member: tt.member,
				topic: "t", timeout: 5 * time.Second}
			meta := encodeDone(tt.offset, slices.Values([]int64{tt.offset + 2, tt.offset + 3}))
			err := cm.commit([]kafka.OffsetCommit{{Partition: 0, Offset: tt.offset, Metadata: meta}})
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("commit = %v, want %v", err, tt.want)
			}
			off, got := committed()
			if off != 7 || !slices.Equal(decodeDone(off, got), []int64{9, 10}) {
				t.Errorf("committed offset %d with %v done above, want 7 with [9 10]", off, decodeDone(off, got))
			}
		})
	}
}
