package zimfake

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/receiptd/receiptd/zimapi"
)

// Config configures a [Server]. Zero fields mean: no rate limit (RPS),
// 10 seqs per call (MaxSeqs), a 10-minute window (TimestampWindow), no
// failures, no latency, time.Now. Use [DefaultConfig] for ZIM's defaults.
type Config struct {
	// AppID and Secret are the accepted credentials.
	AppID  uint32
	Secret string
	// Apps holds further accepted AppId -> secret pairs.
	Apps map[uint32]string

	// RPS is the rate limit per AppId per action: at most RPS requests in
	// any 1 s span (sliding window), rounded down; below 1, one request
	// per 1/RPS seconds. Zero means unlimited.
	RPS float64
	// SharedBucket makes the four actions of an AppId share one limit.
	SharedBucket bool
	// CountRejected makes rate-limited requests count toward the window,
	// the strictest reading of ZEGO's documentation.
	CountRejected bool
	// MaxSeqs is the most sequence numbers per call; zero means 10.
	MaxSeqs int
	// TimestampWindow is the accepted clock difference; zero means 10 min.
	TimestampWindow time.Duration

	// FailGroups are group ids whose group receipts fail with 660400103.
	FailGroups []string
	// FailUsers are user ids whose receipts fail: 660400104 for c2c
	// actions (as FromUserId or ConvId), 660400103 for group actions (as
	// FromUserId: "not a member").
	FailUsers []string
	// GroupRPS holds per-group rate limits: at most the group's rate of
	// group-action requests on that group in any 1 s span (sliding
	// window, rejected ones counted as with CountRejected), answered
	// 660300006 beyond it. A rate of 0 refuses every request: the group is
	// at its limit.
	GroupRPS map[string]float64
	// BusyGroups are group ids whose group-action requests are answered
	// Code 1 (server busy) for BusyFor from New; a zero BusyFor means for
	// good.
	BusyGroups []string
	BusyFor    time.Duration
	// TransientRate is the fraction of otherwise accepted requests
	// answered with Code 1 (server busy).
	TransientRate float64
	// DropRate is the fraction of otherwise accepted requests whose
	// connection is closed without an answer.
	DropRate float64
	// Latency, when set, draws the delay before each answer. It is called
	// under a lock and must not block; see FixedLatency, UniformLatency,
	// LogNormalLatency.
	Latency func(r *rand.Rand) time.Duration
	// Seed seeds the random source of TransientRate, DropRate and Latency;
	// the same seed and request order give the same failures.
	Seed int64
	// Now is the server clock for timestamps and rate limits; nil means
	// time.Now.
	Now func() time.Time
}

// DefaultConfig returns ZIM's documented behaviour: 20 requests/s per AppId
// per action, rejected requests counted, 10 seqs per call, a 10-minute
// timestamp window. Credentials are left for the caller to set.
func DefaultConfig() Config {
	return Config{
		RPS:             zimapi.RateLimitRPS,
		CountRejected:   true,
		MaxSeqs:         zimapi.MaxSeqsPerCall,
		TimestampWindow: 10 * time.Minute,
		Now:             time.Now,
	}
}

// Validate reports every problem of c at once, or nil. [New] accepts an
// invalid Config and clamps it; callers taking a Config from a user should
// validate first.
func (c Config) Validate() error {
	var problems []error
	if c.AppID == 0 && len(c.Apps) == 0 {
		problems = append(problems, errors.New("no app configured: set AppID and Secret"))
	}
	if c.AppID != 0 && c.Secret == "" {
		problems = append(problems, errors.New("secret is empty"))
	}
	for id, secret := range c.Apps {
		if id == 0 || secret == "" {
			problems = append(problems, fmt.Errorf("app %d: app id and secret must be set", id))
		}
	}
	if c.RPS < 0 || math.IsNaN(c.RPS) || math.IsInf(c.RPS, 0) {
		problems = append(problems, fmt.Errorf("rps %v is not a finite number >= 0", c.RPS))
	}
	if c.MaxSeqs < 0 {
		problems = append(problems, fmt.Errorf("max seqs %d is negative", c.MaxSeqs))
	}
	for group, rps := range c.GroupRPS {
		if group == "" || rps < 0 || math.IsNaN(rps) || math.IsInf(rps, 0) {
			problems = append(problems, fmt.Errorf("group limit %q=%v: want a group id and a finite number >= 0", group, rps))
		}
	}
	if c.BusyFor < 0 {
		problems = append(problems, fmt.Errorf("busy for %s is negative", c.BusyFor))
	}
	if c.TimestampWindow < 0 {
		problems = append(problems, fmt.Errorf("timestamp window %s is negative", c.TimestampWindow))
	}
	for _, r := range []struct {
		name string
		v    float64
	}{{"transient rate", c.TransientRate}, {"drop rate", c.DropRate}} {
		if !(r.v >= 0 && r.v <= 1) {
			problems = append(problems, fmt.Errorf("%s %v is not within [0, 1]", r.name, r.v))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("invalid zimfake config: %w", errors.Join(problems...))
}

// FixedLatency delays every answer by d.
func FixedLatency(d time.Duration) func(*rand.Rand) time.Duration {
	return func(*rand.Rand) time.Duration { return d }
}

// UniformLatency draws delays uniformly from [lo, hi).
func UniformLatency(lo, hi time.Duration) func(*rand.Rand) time.Duration {
	if hi <= lo {
		return FixedLatency(lo)
	}
	return func(r *rand.Rand) time.Duration { return lo + time.Duration(r.Int64N(int64(hi-lo))) }
}

// z99 is the standard normal quantile of 0.99.
const z99 = 2.3263478740408408

// LogNormalLatency draws log-normal delays with median p50 and 99th
// percentile p99, the usual shape of network latency: mostly near p50, with
// a long tail. p99 <= p50 gives a fixed p50.
func LogNormalLatency(p50, p99 time.Duration) func(*rand.Rand) time.Duration {
	if p50 <= 0 || p99 <= p50 {
		return FixedLatency(max(p50, 0))
	}
	mu := math.Log(float64(p50))
	sigma := math.Log(float64(p99)/float64(p50)) / z99
	return func(r *rand.Rand) time.Duration {
		v := math.Exp(mu + sigma*r.NormFloat64())
		if v >= math.MaxInt64 {
			return time.Duration(math.MaxInt64)
		}
		return time.Duration(v)
	}
}
