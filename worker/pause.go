package worker

// The systemic pause: after a systemic outcome (ZIM refused receiptd's
// credentials or its clock) dispatch stops for every action, and one call
// at a time goes as a probe, spaced by Config.SystemicBackoff, until an
// answer shows that ZIM authenticates receiptd again.
//
// Lock contract: w.sys, including its BackOff, is guarded by w.mu; every
// function here but waitGate and endProbe requires w.mu held. waitGate
// waits on w.sys's changed channel and its caller's timer with w.mu
// released. At most one probe is under way (w.sys.probing); the goroutine
// that got it from waitGate gives it back through endProbe when no request
// was sent under it, or the caller's updateSystemic ends it on the answer.

import (
	"context"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/receiptd/receiptd/receipt"
)

// systemic is the state of the pause that a systemic outcome starts.
type systemic struct {
	paused  bool
	probing bool // a probe is under way
	probeAt time.Time
	bo      *backoff.ExponentialBackOff // spaces probes; owned by the pause, guarded by w.mu
	changed chan struct{}               // closed and replaced on every change
}

func (s *systemic) notify() {
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
}

func (s *systemic) wait() <-chan struct{} {
	if s.changed == nil {
		s.changed = make(chan struct{})
	}
	return s.changed
}

// waitGate blocks while dispatch is paused for a systemic outcome. When the
// next probe is due, it lets exactly one caller through as the probe.
func (w *Worker) waitGate(ctx context.Context, timer *time.Timer) (probe, ok bool) {
	for {
		w.mu.Lock()
		if !w.sys.paused {
			w.mu.Unlock()
			return false, true
		}
		now := time.Now()
		if !w.sys.probing && !now.Before(w.sys.probeAt) {
			w.sys.probing = true
			w.mu.Unlock()
			return true, true
		}
		changed := w.sys.wait()
		var fire <-chan time.Time
		if !w.sys.probing {
			timer.Reset(w.sys.probeAt.Sub(now))
			fire = timer.C
		}
		w.mu.Unlock()
		select {
		case <-ctx.Done():
			timer.Stop()
			return false, false
		case <-changed:
		case <-fire:
		}
		timer.Stop()
	}
}

// endProbe gives the probe back when no request was sent under it.
func (w *Worker) endProbe(probe bool) {
	if !probe {
		return
	}
	w.mu.Lock()
	w.sys.probing = false
	w.sys.notify()
	w.mu.Unlock()
}

// updateSystemic moves the systemic pause on after an outcome of class and
// returns the event to report, if any. w.mu held.
func (w *Worker) updateSystemic(class receipt.Class, probe bool, now time.Time, res receipt.Result) *SystemicEvent {
	s := &w.sys
	if probe {
		s.probing = false
		defer s.notify()
	}
	switch class {
	case receipt.ClassSystemic, receipt.ClassTransient, receipt.ClassResign, receipt.ClassUnknown, receipt.ClassRateLimited, receipt.ClassGroupRateLimited:
		// Systemic starts or prolongs the pause; the others prove nothing
		// about receiptd's credentials (a gateway may answer them before
		// it checks the signature), so a probe answered with them is
		// simply due again later.
		if class == receipt.ClassSystemic && !s.paused {
			s.paused = true
			s.probeAt = now.Add(s.bo.NextBackOff())
			s.notify()
			return &SystemicEvent{Paused: true, Result: res, NextProbe: s.probeAt.Sub(now)}
		}
		if probe && s.paused {
			s.probeAt = now.Add(s.bo.NextBackOff())
			return &SystemicEvent{Paused: true, Result: res, NextProbe: s.probeAt.Sub(now)}
		}
	default:
		// Success, a rejected receipt, too many seqs: only a request ZIM
		// authenticated gets these, so whatever paused dispatch is fixed.
		if s.paused {
			s.paused = false
			s.bo.Reset()
			s.notify()
			return &SystemicEvent{Paused: false, Result: res}
		}
	}
	return nil
}
