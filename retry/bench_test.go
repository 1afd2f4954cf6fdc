package retry_test

import (
	"testing"
	"time"

	"github.com/receiptd/receiptd/retry"
)

// BenchmarkBudgetWait measures one call's bookkeeping at light load, the
// common case: Wait grants at once, then Sent (written a little after the
// grant) and Succeeded. A fresh Budget every perBudget calls keeps its
// window under half full (2,000 of 4,000), so that no call waits and the
// figure is the code's cost, not the rate.
func BenchmarkBudgetWait(b *testing.B) {
	const perBudget = 1024
	cfg := retry.BudgetConfig{RPS: 4000, Actions: actions[:1]}
	var bud *retry.Budget
	for i := 0; i < b.N; i++ {
		if i%perBudget == 0 {
			b.StopTimer()
			var err error
			if bud, err = retry.NewBudget(cfg); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		g, err := bud.Wait(b.Context(), actions[0])
		if err != nil {
			b.Fatal(err)
		}
		bud.Sent(g, g.At.Add(time.Millisecond))
		bud.Succeeded(g)
	}
}
