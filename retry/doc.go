// Package retry decides when receiptd may call ZIM, and how long anything
// in receiptd waits before trying again: a rate Budget per action (a slot
// schedule shared across pods by partition share, a strict one-second
// window, a token bucket, an adaptive rate and a global pause on rate-limit
// answers), the exponential Policy that spaces every retry in the module,
// and Sleep, the module's one context-aware wait.
//
// It imports nothing else of receiptd: every other package may use it.
//
// One file per concept:
//
//   - budget.go: the Budget, its Grant and Wait, composed of the others
//   - config.go: BudgetConfig, its checks and defaults
//   - bucket.go: the buckets, one per action or one shared, by name
//   - share.go: this pod's share of the limit, from the partitions it owns
//   - ownership.go: the partitions owned, and since when each is usable
//   - schedule.go: the slot schedule every pod computes alike
//   - slots.go: a bucket's use of its slots
//   - window.go: the sliding window and token bucket of a pod's own calls
//   - grantlog.go: the grants a window holds
//   - adaptive.go: the rate lowered by rate-limit answers and its recovery
//   - pause.go: the pause of every bucket after a rate-limit answer
//   - policy.go: the backoff Policy
//   - sleep.go: Sleep
package retry
