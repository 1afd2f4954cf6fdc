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
	// MaxPendingRecords caps records submitted and not yet done; Submit and
	// Reject block at the cap. Overriding the default of 50000.
	MaxPendingRecords int
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
	// DeadLetterBackoff spaces retries of a failed dead-letter write;
	// overriding the default of 250ms initial, 30s max.
	DeadLetterBackoff retry.Policy
}

func (c *Config) setDefaults() {
	if c.MaxSeqsPerCall == 0 {
		c.MaxSeqsPerCall = 10
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 8
	}
	if c.MaxPendingRecords == 0 {
		c.MaxPendingRecords = 50000
	}
	if c.UnknownMaxAttempts == 0 {
		c.UnknownMaxAttempts = 5
	}
	if c.IsolatedFailureMaxAge == 0 {
		c.IsolatedFailureMaxAge = 10 * time.Minute
	}
	if c.SystemicBackoff.Initial == 0 {
		c.SystemicBackoff.Initial = 10 * time.Second
	}
	if c.SystemicBackoff.Max == 0 {
		c.SystemicBackoff.Max = 5 * time.Minute
	}
}

// Validate reports every problem of c, after defaults are applied.
func (c Config) Validate() error {
	c.setDefaults()
	var errs []error
	if c.MaxSeqsPerCall < 1 {
		errs = append(errs, fmt.Errorf("field MaxSeqsPerCall must be at least 1, got %d", c.MaxSeqsPerCall))
	}
	if c.Linger < 0 {
		errs = append(errs, fmt.Errorf("field Linger must not be negative, got %v", c.Linger))
	}
	if c.MaxInFlight < 1 {
		errs = append(errs, fmt.Errorf("field MaxInFlight must be at least 1, got %d", c.MaxInFlight))
	}
	if c.MaxPendingRecords < 1 {
		errs = append(errs, fmt.Errorf("field MaxPendingRecords must be at least 1, got %d", c.MaxPendingRecords))
	}
	if c.UnknownMaxAttempts < 1 {
		errs = append(errs, fmt.Errorf("field UnknownMaxAttempts must be at least 1, got %d", c.UnknownMaxAttempts))
	}
	if c.IsolatedFailureMaxAge < 0 {
		errs = append(errs, fmt.Errorf("field IsolatedFailureMaxAge must not be negative, got %v", c.IsolatedFailureMaxAge))
	}
	return errors.Join(errs...)
}
