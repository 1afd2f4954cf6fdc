package worker

// The Worker's configuration: its fields, their defaults and Validate.
// A Config is a plain value; New copies it, so it is never shared.

import (
	"errors"
	"fmt"
	"time"

	"github.com/receiptd/receiptd/retry"
)

// Config configures a Worker. The zero value of a field selects its
// default, except where noted.
type Config struct {
	// MaxSeqsPerCall caps the seqs in one request; overriding the default of
	// 10, the API's own cap.
	MaxSeqsPerCall int
	// Linger is how long a batch that is not full waits for more seqs
	// before it is ready. Zero sends at once (no default applies).
	Linger time.Duration
	// MaxInFlight caps concurrent requests; overriding the default of 8.
	MaxInFlight int
	// MaxPendingRecords caps records submitted and not yet done, the
	// DeadLetterer's included; Submit blocks at the cap. Overriding the
	// default of 50000; ignored when Slots is set.
	MaxPendingRecords int
	// Slots, when set, is the bound shared with the DeadLetterer (see
	// Slots); nil makes one of MaxPendingRecords.
	Slots *Slots
	// UnknownMaxAttempts is how many answers with an undocumented code a
	// batch gets before its records are dead-lettered; overriding the
	// default of 5.
	UnknownMaxAttempts int
	// IsolatedFailureMaxAge is how long a key may fail alone, while other
	// keys of its action succeed, before its records are dead-lettered as
	// exhausted; overriding the default of 10m. See isolation.go.
	IsolatedFailureMaxAge time.Duration
	// Backoff spaces the holds of a key after transient answers and of a
	// group after its rate-limit answers, and the retries of one batch
	// after unknown outcomes.
	Backoff retry.Policy
	// SystemicBackoff spaces the probes while dispatch is paused for a
	// systemic outcome; overriding the default of 10s initial, 5m max.
	SystemicBackoff retry.Policy
}

// Defaults of Config.
const (
	// DefaultMaxSeqsPerCall is the API's own cap on the seqs of one call
	// (receiptd's configuration holds it to zimapi.MaxSeqsPerCall).
	DefaultMaxSeqsPerCall         = 10
	DefaultMaxInFlight            = 8
	DefaultMaxPendingRecords      = 50000
	DefaultUnknownMaxAttempts     = 5
	DefaultIsolatedFailureMaxAge  = 10 * time.Minute
	DefaultSystemicBackoffInitial = 10 * time.Second
	DefaultSystemicBackoffMax     = 5 * time.Minute
)

// DefaultConfig returns a Config with every default filled in. Linger has
// none: zero sends at once. Backoff takes retry.Policy's own defaults.
func DefaultConfig() Config {
	var c Config
	c.setDefaults()
	return c
}

func (c *Config) setDefaults() {
	orDefault(&c.MaxSeqsPerCall, DefaultMaxSeqsPerCall)
	orDefault(&c.MaxInFlight, DefaultMaxInFlight)
	if c.Slots != nil {
		c.MaxPendingRecords = c.Slots.Cap()
	}
	orDefault(&c.MaxPendingRecords, DefaultMaxPendingRecords)
	orDefault(&c.UnknownMaxAttempts, DefaultUnknownMaxAttempts)
	orDefault(&c.IsolatedFailureMaxAge, DefaultIsolatedFailureMaxAge)
	orDefault(&c.SystemicBackoff.Initial, DefaultSystemicBackoffInitial)
	orDefault(&c.SystemicBackoff.Max, DefaultSystemicBackoffMax)
}

// orDefault sets *p to def when *p is zero.
func orDefault[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}

// Validate reports every problem of c, after defaults are applied.
func (c Config) Validate() error {
	c.setDefaults()
	var errs []error
	atLeastOne := func(field string, v int) {
		if v < 1 {
			errs = append(errs, fmt.Errorf("field %s must be at least 1, got %d", field, v))
		}
	}
	notNegative := func(field string, d time.Duration) {
		if d < 0 {
			errs = append(errs, fmt.Errorf("field %s must not be negative, got %v", field, d))
		}
	}
	atLeastOne("MaxSeqsPerCall", c.MaxSeqsPerCall)
	notNegative("Linger", c.Linger)
	atLeastOne("MaxInFlight", c.MaxInFlight)
	atLeastOne("MaxPendingRecords", c.MaxPendingRecords)
	atLeastOne("UnknownMaxAttempts", c.UnknownMaxAttempts)
	notNegative("IsolatedFailureMaxAge", c.IsolatedFailureMaxAge)
	return errors.Join(errs...)
}
