package retry

// The module's one backoff factory. A Policy is a plain value, safe to
// share; each BackOff it makes belongs to one retry loop and is not safe
// for concurrent use.

import (
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Policy describes an exponential backoff with jitter that never gives up on
// its own: callers stop retrying at shutdown, or by an attempt limit of their
// own.
type Policy struct {
	Initial    time.Duration // first delay; overriding DefaultInitial
	Max        time.Duration // cap on one delay; overriding DefaultMax
	Multiplier float64       // growth per attempt; overriding the default of 2
	Jitter     float64       // randomization factor in [0,1); overriding the default of 0.5
}

// Defaults of Policy.
const (
	DefaultInitial = 250 * time.Millisecond
	DefaultMax     = 30 * time.Second
)

// New returns a fresh BackOff following p. Each retry loop owns its own
// BackOff: it is stateful and not safe for concurrent use.
func (p Policy) New() *backoff.ExponentialBackOff {
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(orDuration(p.Initial, DefaultInitial)),
		backoff.WithMaxInterval(orDuration(p.Max, DefaultMax)),
		backoff.WithMultiplier(orFloat(p.Multiplier, 2)),
		backoff.WithRandomizationFactor(orFloat(p.Jitter, 0.5)),
		backoff.WithMaxElapsedTime(0),
	)
	b.Reset()
	return b
}

func orDuration(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func orFloat(f, def float64) float64 {
	if f > 0 {
		return f
	}
	return def
}
