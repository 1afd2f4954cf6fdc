package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/receiptd/receiptd/zimapi"
)

// Goals of the memory scenario.
const (
	goalPeakRSSMiB = 100
	// goalFlat bounds the peak RSS with the largest backlog against the
	// smallest: memory must follow worker.max_pending_records, not the
	// backlog.
	goalFlat = 1.15
)

// memory is scenario (e): a backlog growing to Events records in three
// steps, with receiptd at ZIM's default limit, so that records wait. At
// each step a fresh worker (a group of its own, starting at the oldest
// record) runs for a fixed time; its peak RSS must stay under the goal and
// the same whatever the backlog.
func (r *runner) memory(ctx context.Context) (Scenario, error) {
	sc := Scenario{Title: "memory with a growing backlog at 20/s"}
	e, gen, err := r.startEnv(ctx, envSpec{id: "e", partitions: 8, traffic: r.seededTraffic(), rps: zimapi.RateLimitRPS})
	if err != nil {
		return sc, err
	}
	defer e.close()

	steps := []int{r.opts.Events / 10, r.opts.Events / 3, r.opts.Events}
	runFor := r.scaled(15 * time.Second)
	var peaks []float64
	produced := 0
	for _, size := range steps {
		if err := e.preload(ctx, size-produced, generated(gen), nil); err != nil {
			return sc, err
		}
		produced = size
		w, err := e.run(ctx, workerSpec{
			name: fmt.Sprintf("e-receiptd-%d", size), group: fmt.Sprintf("bench-e-%d", size),
			set: map[string]string{"shutdown.drain_timeout": "2s"},
		}, 0, runFor)
		if err != nil {
			return sc, err
		}
		peak := mib(w.use.PeakRSS)
		peaks = append(peaks, peak)
		r.logf("scenario e: backlog %d: peak RSS %.1f MiB, CPU %.2fs, %d records committed in %s",
			size, peak, w.use.CPU.Seconds(), w.prog.committed, runFor)
		f := figure(fmt.Sprintf("peak RSS, backlog %s", group3(size)), "MiB", peak).goal("<=", goalPeakRSSMiB)
		sc.Figures = append(sc.Figures, f)
	}
	sc.Figures = append(sc.Figures,
		figure("peak RSS largest / smallest backlog", "", peaks[len(peaks)-1]/peaks[0]).goal("<=", goalFlat))
	sc.Notes = []string{fmt.Sprintf("each worker ran %s from the oldest record with receiptd's defaults (max_pending_records 50000, 20 requests/s per action); memory is flat once the backlog exceeds max_pending_records, so --events below 500000 shows less", runFor)}
	return sc, nil
}

func group3(n int) string { return group(fmt.Sprint(n)) }
