package retry

// BudgetConfig is a plain value: NewBudget checks it and fills in its
// defaults once, in withDefaults, and the Budget reads it unchanged after.

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/receiptd/receiptd/receipt"
)

// BudgetConfig configures a Budget.
type BudgetConfig struct {
	// RPS is the rate the API grants per bucket, in requests per second.
	// Required.
	RPS float64
	// Actions are the API actions paced, each in a bucket of its own.
	// Required.
	Actions []receipt.Action
	// Shared makes all actions draw from one bucket, for an API that counts
	// every action against one limit.
	Shared bool
	// ShareByPartitions shares RPS between the pods of one consumer group
	// by the partitions each owns (see SetShare), through the slot
	// schedule. When false, SetShare has no effect and this pod uses all
	// of RPS alone.
	ShareByPartitions bool
	// Guard is how long a request may take to reach the API after it
	// leaves: a pod that gains a partition at a rebalance waits a round
	// (the window and a little more) plus Guard before it uses the
	// partition's slots, so that the previous owner's last requests cannot
	// meet its first. Overriding the default of DefaultGuard; at most
	// MaxGuard. Pods of one group must use the same RPS.
	Guard time.Duration
	// ClockOffset shifts this pod's reading of the wall clock. Only for
	// tests and benchmarks that simulate pods whose clocks disagree.
	ClockOffset time.Duration
	// FloorShares selects the former partition share: RPS times the share
	// of partitions, rounded down to whole requests per second, in a
	// window of its own. Only for the benchmark's baseline.
	FloorShares bool
	// RecoveryPerSecond is how much of the ceiling, as a fraction, the rate
	// regains per second after a rate-limit answer halved it; overriding the
	// default of 0.05 (from half to full in ten seconds).
	RecoveryPerSecond float64
	// Pause spaces the global pauses that follow rate-limit answers;
	// overriding the default of 1s initial, 30s max.
	Pause Policy
}

// validate reports every problem of cfg at once.
func (cfg BudgetConfig) validate() error {
	var errs []error
	if !(cfg.RPS > 0) || math.IsInf(cfg.RPS, 0) {
		errs = append(errs, fmt.Errorf("rate budget: RPS must be a positive number, got %v", cfg.RPS))
	}
	if !slices.ContainsFunc(cfg.Actions, receipt.Action.Valid) {
		errs = append(errs, errors.New("rate budget: no actions"))
	}
	if cfg.RecoveryPerSecond < 0 {
		errs = append(errs, fmt.Errorf("rate budget: RecoveryPerSecond must not be negative, got %v", cfg.RecoveryPerSecond))
	}
	if cfg.Guard < 0 || cfg.Guard > MaxGuard {
		errs = append(errs, fmt.Errorf("rate budget: Guard must be between 0 and %v, got %v", MaxGuard, cfg.Guard))
	}
	return errors.Join(errs...)
}

// withDefaults returns cfg with its unset fields at their defaults.
func (cfg BudgetConfig) withDefaults() BudgetConfig {
	if cfg.Guard == 0 {
		cfg.Guard = DefaultGuard
	}
	if cfg.RecoveryPerSecond == 0 {
		cfg.RecoveryPerSecond = 0.05
	}
	if cfg.Pause.Initial == 0 {
		cfg.Pause.Initial = time.Second
	}
	return cfg
}
