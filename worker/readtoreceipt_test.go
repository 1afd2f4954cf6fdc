package worker_test

import (
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/receiptd/receiptd/receipt"
)

// The read-to-receipt delay of a record is reported once, by the call that
// sets its last seqs, and runs from its ReadAt to ZIM's answer. Records
// without ReadAt and records that are dead-lettered report none.
func TestReadToReceiptReportedOncePerAcknowledgedRecord(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const (
			readBefore = 3 * time.Second // the user read the messages this long before the submit
			slowCall   = 2 * time.Second // the answer to the call carrying the record's last seqs
			linger     = 200 * time.Millisecond
		)
		sender := &fakeSender{respond: func(req receipt.Request, _ int) receipt.Result {
			switch {
			case req.Key.ConvID == "gone":
				return receipt.Result{Class: receipt.ClassDeadLetter, Code: 660400103, Message: "not a member"}
			case req.Seqs[0] == 21:
				time.Sleep(slowCall)
			}
			return receipt.Result{Class: receipt.ClassSuccess}
		}}
		cfg := fastRetries
		cfg.Linger = linger
		h := start(t, cfg, sender, nil)

		split := record(receipt.GroupRead, "alice", "team", seqRange(1, 25)...) // three calls: 1-10, 11-20, 21-25
		split.ReadAt = time.Now().Add(-readBefore)
		unknown := record(receipt.C2CRead, "bob", "carol", 7) // no read_at
		rejected := record(receipt.GroupRead, "dave", "gone", 9)
		rejected.ReadAt = time.Now()
		h.submit(split, unknown, rejected)
		h.waitFor("every record to finish", time.Hour, func() bool {
			return h.done.isDone(split) && h.done.isDone(unknown) && h.done.isDone(rejected)
		})

		var got []time.Duration
		reporting := 0
		for _, ev := range h.obs.calls.All() {
			if len(ev.ReadToReceipt) > 0 {
				reporting++
				got = append(got, ev.ReadToReceipt...)
				if ev.Key.UserID != "alice" || ev.Result.Class != receipt.ClassSuccess {
					t.Errorf("a %s call for %s reported read-to-receipt %v", ev.Result.Class, ev.Key.UserID, ev.ReadToReceipt)
				}
			}
		}
		// The last part waits for the linger (it is not full), then for the
		// slow answer; the clock is synctest's, so the figure is exact.
		want := []time.Duration{readBefore + linger + slowCall}
		if reporting != 1 || !slices.Equal(got, want) {
			t.Errorf("read-to-receipt %v from %d calls, want %v from the one call that finished the record", got, reporting, want)
		}
	})
}
