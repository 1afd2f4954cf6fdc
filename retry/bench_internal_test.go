package retry

import (
	"testing"
	"time"

	"github.com/receiptd/receiptd/receipt"
)

// BenchmarkBudgetTry measures one look of Wait's loop, the decision made
// under the lock each time a waiter wakes, on a clock that moves by step
// at every look: a pod alone, a pod owning half of 24 partitions at 20/s
// and at 2,000/s, and the former floor share. grants/op shows that the
// looks decide as before.
func BenchmarkBudgetTry(b *testing.B) {
	var half []int
	for p := 0; p < 24; p += 2 {
		half = append(half, p)
	}
	for _, bc := range []struct {
		name  string
		cfg   BudgetConfig
		owned []int
		step  time.Duration
	}{
		{"alone/20rps", BudgetConfig{RPS: 20}, nil, time.Millisecond},
		{"shared/20rps", BudgetConfig{RPS: 20, ShareByPartitions: true}, half, time.Millisecond},
		{"shared/2000rps", BudgetConfig{RPS: 2000, ShareByPartitions: true}, half, 50 * time.Microsecond},
		{"floor/20rps", BudgetConfig{RPS: 20, ShareByPartitions: true, FloorShares: true}, half, time.Millisecond},
	} {
		b.Run(bc.name, func(b *testing.B) {
			bc.cfg.Actions = []receipt.Action{receipt.GroupRead}
			bud, err := NewBudget(bc.cfg)
			if err != nil {
				b.Fatal(err)
			}
			if bc.owned != nil {
				bud.SetShare(bc.owned, 24)
			}
			bk := bud.buckets.all[0]
			// Long past the partitions' holdoff.
			now := time.Now().Add(time.Minute)
			grants := 0
			for b.Loop() {
				now = now.Add(bc.step)
				bud.mu.Lock()
				if _, _, ok := bud.try(bk, now); ok {
					grants++
				}
				bud.mu.Unlock()
			}
			b.ReportMetric(float64(grants)/float64(b.N), "grants/op")
		})
	}
}
