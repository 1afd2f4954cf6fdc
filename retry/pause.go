package retry

// The global pause: after a rate-limit answer every bucket of the Budget
// waits out a backoff interval, longer at each answer of one episode,
// which a success granted after the pause ends. Every method of pause
// requires that Budget.mu is held; the pause starts no goroutine (waiters
// sleep in Budget.Wait).

import (
	"time"

	"github.com/cenkalti/backoff/v4"
)

// pause is the Budget's rate-limit pause.
type pause struct {
	until time.Time                   // zero when no episode is open
	bo    *backoff.ExponentialBackOff // one episode of pauses
}

// remaining returns how long the pause still runs at now, and whether it
// does.
func (p *pause) remaining(now time.Time) (time.Duration, bool) {
	if now.Before(p.until) {
		return p.until.Sub(now), true
	}
	return 0, false
}

// start begins the episode's next pause at now and returns its length. A
// pause never ends earlier than one already running.
func (p *pause) start(now time.Time) time.Duration {
	d := p.bo.NextBackOff()
	if until := now.Add(d); until.After(p.until) {
		p.until = until
	}
	return d
}

// succeeded closes the episode if the successful request was granted at
// after the last pause ended, so the next one starts again from the
// initial pause.
func (p *pause) succeeded(at time.Time) {
	if !p.until.IsZero() && at.After(p.until) {
		p.bo.Reset()
		p.until = time.Time{}
	}
}

// runningUntil returns the end of the pause running at now, or the zero
// time.
func (p *pause) runningUntil(now time.Time) time.Time {
	if now.Before(p.until) {
		return p.until
	}
	return time.Time{}
}
