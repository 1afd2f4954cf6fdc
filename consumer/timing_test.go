package consumer_test

import (
	"slices"
	"testing"
	"time"

	"github.com/receiptd/receiptd/consumer"
)

func TestTimingBroken(t *testing.T) {
	s := time.Second
	ok := consumer.Timing{Heartbeat: 3 * s, Session: 30 * s, Rebalance: 30 * s, RebalanceDrain: 10 * s, Drain: 25 * s}
	tests := []struct {
		name string
		give func(*consumer.Timing)
		want []consumer.TimingRule
	}{
		{"defaults", func(*consumer.Timing) {}, nil},
		{"heartbeat equals session", func(t *consumer.Timing) { t.Heartbeat = 30 * s },
			// The drain rules build on the heartbeat rule: not reported with it.
			[]consumer.TimingRule{consumer.HeartbeatBelowSession}},
		{"heartbeat not set", func(t *consumer.Timing) { t.Heartbeat = 0; t.Drain = time.Hour }, nil},
		{"rebalance drain equals rebalance", func(t *consumer.Timing) { t.Rebalance = 10 * s },
			[]consumer.TimingRule{consumer.RebalanceDrainBelowRebalance}},
		{"rebalance drain beyond rebalance and session", func(t *consumer.Timing) { t.RebalanceDrain = 40 * s },
			[]consumer.TimingRule{consumer.RebalanceDrainBelowRebalance}},
		{"rebalance drain outlasting the session", func(t *consumer.Timing) { t.Session, t.Heartbeat, t.Drain = 10*s, s, 8*s },
			[]consumer.TimingRule{consumer.RebalanceDrainFitsSession}},
		{"shutdown drain outlasting the session", func(t *consumer.Timing) { t.Drain = 27 * s },
			[]consumer.TimingRule{consumer.ShutdownDrainFitsSession}},
		{"shutdown drain just within", func(t *consumer.Timing) { t.Drain = 26*s + 999*time.Millisecond }, nil},
		{"both drains outlasting the session", func(t *consumer.Timing) { t.Session, t.Heartbeat = 6*s, s },
			[]consumer.TimingRule{consumer.RebalanceDrainFitsSession, consumer.ShutdownDrainFitsSession}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			give := ok
			tt.give(&give)
			if got := give.Broken(); !slices.Equal(got, tt.want) {
				t.Errorf("%+v.Broken() = %v, want %v", give, got, tt.want)
			}
		})
	}
}
