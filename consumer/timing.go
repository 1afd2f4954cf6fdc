package consumer

// The rules among the group's timeouts, stated once: Config.Validate and
// receiptd's configuration loader both apply them, each in its own words.
// Pure functions of their arguments, safe anywhere.

import "time"

// Timing holds the durations whose relations decide whether a member can
// drain and commit before the group evicts it.
type Timing struct {
	Heartbeat      time.Duration // HeartbeatInterval
	Session        time.Duration // SessionTimeout
	Rebalance      time.Duration // RebalanceTimeout
	RebalanceDrain time.Duration // RebalanceDrainTimeout
	Drain          time.Duration // DrainTimeout
}

// A TimingRule is one relation a Timing must keep.
type TimingRule int

// The rules of Timing, in the order Broken reports them.
const (
	// HeartbeatBelowSession: Heartbeat < Session, or the member is evicted
	// between two heartbeats.
	HeartbeatBelowSession TimingRule = iota
	// RebalanceDrainBelowRebalance: RebalanceDrain < Rebalance, or the
	// coordinator evicts the member before its drain and final commit end,
	// and the commit is refused.
	RebalanceDrainBelowRebalance
	// RebalanceDrainFitsSession: RebalanceDrain + Heartbeat < Session; see
	// DrainFitsSession.
	RebalanceDrainFitsSession
	// ShutdownDrainFitsSession: Drain + Heartbeat < Session; see
	// DrainFitsSession.
	ShutdownDrainFitsSession
)

// Broken returns the rules t breaks, in the order of their declaration. A
// rule is skipped while a duration it involves is not positive (another
// rule's business), except Rebalance, and a rule that builds on a broken
// one is skipped too: the drain rules while HeartbeatBelowSession is
// broken, RebalanceDrainFitsSession while RebalanceDrainBelowRebalance is.
func (t Timing) Broken() []TimingRule {
	var broken []TimingRule
	heartbeatOK := t.Heartbeat > 0 && t.Session > 0 && t.Heartbeat < t.Session
	if t.Heartbeat > 0 && t.Session > 0 && !heartbeatOK {
		broken = append(broken, HeartbeatBelowSession)
	}
	rebalanceOK := t.RebalanceDrain < t.Rebalance
	if t.RebalanceDrain > 0 && !rebalanceOK {
		broken = append(broken, RebalanceDrainBelowRebalance)
	}
	if heartbeatOK && rebalanceOK && t.RebalanceDrain > 0 && !DrainFitsSession(t.RebalanceDrain, t.Heartbeat, t.Session) {
		broken = append(broken, RebalanceDrainFitsSession)
	}
	if heartbeatOK && t.Drain > 0 && !DrainFitsSession(t.Drain, t.Heartbeat, t.Session) {
		broken = append(broken, ShutdownDrainFitsSession)
	}
	return broken
}

// DrainFitsSession reports whether a drain bounded by drain ends before the
// group evicts the member. Both drains, of revoked work at a rebalance and of
// everything at shutdown, run after the generation has ended, and kafka-go
// sends no heartbeat from then on; the last one may have left a heartbeat
// interval before. A member silent for a whole session is evicted: its
// final commit is refused and another member works on its partitions while
// it still drains them.
func DrainFitsSession(drain, heartbeat, session time.Duration) bool {
	return drain+heartbeat < session
}

// timing returns c's group timeouts.
func (c Config) timing() Timing {
	return Timing{Heartbeat: c.HeartbeatInterval, Session: c.SessionTimeout, Rebalance: c.RebalanceTimeout,
		RebalanceDrain: c.RebalanceDrainTimeout, Drain: c.DrainTimeout}
}
