package worker

// The Worker's counters and their snapshot. counters is guarded by w.mu;
// Stats takes it and copies, so its result is the caller's own.

import (
	"github.com/receiptd/receiptd/receipt"
	"time"
)

type counters struct {
	recordsIn, recordsDone, recordsFailed, abandoned uint64
	calls, seqsSent, seqsAcked                       uint64
	byClass                                          [numClasses]uint64
	rateLimited, groupRateLimited                    uint64
	inFlight                                         int
}

// Stats returns a snapshot of the Worker's counters and gauges.
func (w *Worker) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := Stats{
		RecordsIn:        w.stats.recordsIn,
		RecordsDone:      w.stats.recordsDone,
		RecordsFailed:    w.stats.recordsFailed,
		RecordsAbandoned: w.stats.abandoned,
		Calls:            w.stats.calls,
		CallsByClass:     make(map[receipt.Class]uint64),
		SeqsSent:         w.stats.seqsSent,
		SeqsAcked:        w.stats.seqsAcked,
		RateLimited:      w.stats.rateLimited,
		GroupRateLimited: w.stats.groupRateLimited,
		Pending:          w.pending,
		MaxPending:       w.cfg.MaxPendingRecords,
		InFlight:         w.stats.inFlight,
		SystemicPause:    w.sys.paused,

		FailingAloneKeys:    w.iso.aloneKeys,
		FailingAloneRecords: w.iso.records,
	}
	for c, n := range w.stats.byClass {
		if n > 0 {
			s.CallsByClass[receipt.Class(c)] = n
		}
	}
	s.OpenBatches, s.ReadyBatches, s.RetryBatches = w.b.counts()
	s.HeldGroups, s.HeldKeys = w.holds.held(time.Now())
	return s
}
