package retry

import (
	"fmt"
	"testing"
	"time"
)

// epoch2026 is a round count of today's Unix time, so that the arithmetic
// runs on the numbers it meets in production.
const epoch2026 = 1_767_225_600 // 2026-01-01, in seconds: about as many rounds

func TestScheduleSlotsHoldTheLimit(t *testing.T) {
	tests := []struct {
		rps       float64
		wantSlots int
	}{
		{20, 20},
		{5, 5},
		{30, 30},
		{200, 50}, // slots of at least 20ms: each holds four calls
		{75, 50},  // some hold one call, some two
		{1, 1},
		{0.5, 1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v rps", tt.rps), func(t *testing.T) {
			limit, window := limitFor(tt.rps)
			s := newSchedule(limit, window)
			if s.slots != tt.wantSlots {
				t.Errorf("%d slots, want %d", s.slots, tt.wantSlots)
			}
			sum := 0
			for j := range s.slots {
				sum += s.capacity(j)
				if c := s.capacity(j); c < limit/s.slots || c > limit/s.slots+1 {
					t.Errorf("slot %d holds %d calls, want %d or one more", j, c, limit/s.slots)
				}
			}
			if sum != limit {
				t.Errorf("a round holds %d calls, want the limit %d", sum, limit)
			}
			if s.round != s.window+int64(stretch) {
				t.Errorf("round %v, want the window %v and the stretch", time.Duration(s.round), time.Duration(s.window))
			}
			for r := int64(epoch2026); r < epoch2026+3; r++ {
				for j := range s.slots {
					st, end := s.start(r, j), s.end(r, j)
					if end-st < int64(minSlot) {
						t.Fatalf("slot %d lasts %v, want at least %v", j, time.Duration(end-st), minSlot)
					}
					for _, d := range []int64{0, 1, (end - st) / 2, end - st - 1} {
						if gr, gj := s.at(st + d); gr != r || gj != j {
							t.Fatalf("at(start(%d, %d) + %d) = (%d, %d)", r, j, d, gr, gj)
						}
					}
				}
			}
		})
	}
}

// Over partitions × rotationRounds rounds every partition gets exactly
// the same number of calls, however the slots and partitions compare: the
// shares add up to the whole limit with no rounding.
func TestScheduleSharesEvenly(t *testing.T) {
	for _, rps := range []float64{1, 5, 20, 30} {
		for _, total := range []int{1, 2, 3, 5, 7, 20, 24, 25, 60} {
			t.Run(fmt.Sprintf("%v rps, %d partitions", rps, total), func(t *testing.T) {
				limit, window := limitFor(rps)
				s := newSchedule(limit, window)
				calls := make([]int, total)
				r0 := int64(epoch2026 + 12345)
				for r := r0; r < r0+int64(total)*rotationRounds; r++ {
					for j := range s.slots {
						calls[s.owner(r, j, total)] += s.capacity(j)
					}
				}
				for p, n := range calls {
					if n != limit*rotationRounds {
						t.Fatalf("partition %d got %d calls in %d rounds, want %d", p, n, total*rotationRounds, limit*rotationRounds)
					}
				}
			})
		}
	}
}

// A slot changes hands rarely: once in rotationRounds rounds, which is
// all the schedule loses to pods skipping a slot they cannot prove free.
func TestScheduleSlotsChangeHandsRarely(t *testing.T) {
	s := newSchedule(20, time.Second)
	const total = 24
	changes, places := 0, 0
	for r := int64(epoch2026); r < epoch2026+10*rotationRounds; r++ {
		for j := range s.slots {
			places++
			if s.owner(r, j, total) != s.owner(r-1, j, total) {
				changes++
			}
		}
	}
	if got, want := float64(changes)/float64(places), 1.0/rotationRounds; got > want {
		t.Errorf("%.4f of slots change hands, want at most %.4f", got, want)
	}
}

func TestScheduleNextRoundMatchesOwner(t *testing.T) {
	s := newSchedule(20, time.Second)
	for _, total := range []int{1, 3, 24, 50} {
		for _, owned := range [][]int{{0}, {total - 1}, {0, total / 2}, seq(total)} {
			for j := range s.slots {
				r0 := int64(epoch2026 + 77*j)
				got, p, ok := s.nextRound(r0, j, total, owned)
				if !ok {
					t.Fatalf("nextRound found nothing for %v of %d", owned, total)
				}
				want := r0
				for !contains(owned, s.owner(want, j, total)) {
					want++
				}
				if got != want || p != s.owner(want, j, total) {
					t.Fatalf("%d partitions, owned %v, slot %d from round %d: nextRound = (%d, %d), want (%d, %d)",
						total, owned, j, r0, got, p, want, s.owner(want, j, total))
				}
			}
		}
	}
	if _, _, ok := s.nextRound(epoch2026, 0, 24, nil); ok {
		t.Error("nextRound found a slot for a pod that owns nothing")
	}
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
