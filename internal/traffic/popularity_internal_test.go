package traffic

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Draws follow the weights (offset+k)^-rankExponent, whatever n.
func TestPopularityFollowsWeights(t *testing.T) {
	for _, tc := range []struct {
		n      int
		offset float64
	}{
		{1, 1}, {2, 1}, {7, 1}, {50, userRankOffset}, {1000, groupRankOffset},
	} {
		const draws = 400000
		p := newPopularity(rand.New(rand.NewPCG(1, 2)), tc.n, tc.offset)
		counts := make([]int, tc.n)
		for range draws {
			counts[p.draw()]++
		}
		total := 0.0
		for k := range tc.n {
			total += math.Pow(tc.offset+float64(k), -rankExponent)
		}
		for k, c := range counts {
			want := math.Pow(tc.offset+float64(k), -rankExponent) / total
			got := float64(c) / draws
			// Five standard deviations, plus a floor for the rarest.
			if tol := 5*math.Sqrt(want*(1-want)/draws) + 1e-5; math.Abs(got-want) > tol {
				t.Errorf("n=%d offset=%v: index %d drawn %.5f of the time, want %.5f ± %.5f", tc.n, tc.offset, k, got, want, tol)
			}
		}
	}
}
