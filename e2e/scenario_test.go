package e2e

import (
	"cmp"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/receiptd/receiptd/internal/traffic"
)

// setup is what sets one scenario apart from the others: its traffic, its
// topics and its ZIM.
type setup struct {
	// traffic makes the traffic's configuration from the test's seed:
	// realisticTraffic, cleanTraffic or a variant of them.
	traffic func(seed uint64) traffic.Config
	events  int
	// partitions of the source topic; 0 means sourcePartitions.
	partitions int
	dlqConfig  []kafka.ConfigEntry
	zim        zimOptions
	// rejectFailing makes zimfake reject the traffic's failing groups and
	// users, as ZIM rejects disbanded groups and deactivated users.
	rejectFailing bool
	// ownBroker runs the scenario on a broker the test starts for itself
	// (startOwnBroker), which it may pause or restart, instead of the
	// suite's.
	ownBroker bool
}

// scenario is what an end-to-end test runs against: its traffic, a client
// of a broker holding topics and a consumer group of the test's own, and a
// running zimfake.
type scenario struct {
	start time.Time  // when the test began, for its figures
	rng   *rand.Rand // the test's random source (testRand)
	w     *workload
	b     *broker
	n     names
	z     *zimFake
	k     *ownBroker // with setup.ownBroker; else nil
}

// newScenario sets up the scenario c describes for t, or skips t when the
// suite has no broker (needBroker). Nothing is produced yet: the test
// decides when the traffic arrives (scenario.produce, or paced).
func newScenario(t *testing.T, c setup) *scenario {
	t.Helper()
	needBroker(t)
	s := &scenario{start: time.Now()}
	var seed uint64
	s.rng, seed = testRand(t)
	s.w = newWorkload(t, c.traffic(seed), c.events)
	if c.ownBroker {
		s.k = startOwnBroker(t)
		s.b = newBrokerAt(t, s.k.addrs())
	} else {
		s.b = newBroker(t)
	}
	s.n = s.b.newTopicsWith(t, cmp.Or(c.partitions, sourcePartitions), c.dlqConfig...)
	zo := c.zim
	if c.rejectFailing {
		zo.FailGroups, zo.FailUsers = s.w.cfg.FailingGroups, s.w.cfg.FailingUsers
	}
	s.z = startZimfake(t, zo)
	return s
}

// produce writes the whole traffic to the source topic at once.
func (s *scenario) produce(t *testing.T) {
	t.Helper()
	s.b.produce(t, s.n.Source, s.w.records)
}

// checkOutcome checks what the scenario left once the group has committed
// every record: zimfake holds exactly the traffic's receipts
// (checkReceipts), none accepted more often than the worker runs that
// started from runStarts consumed it (checkDuplicates), and the dead-letter
// topic holds exactly the records that must be dead-lettered
// (checkDeadLetters; exact: once each).
func (s *scenario) checkOutcome(t *testing.T, runStarts [][]int64, exact bool) (delivery, deadLetters) {
	t.Helper()
	d := checkReceipts(t, s.z, s.w)
	src := s.b.readAll(t, s.n.Source, sourcePartitions)
	checkDuplicates(t, d, s.w, src, runStarts)
	return d, checkDeadLetters(t, s.b, s.n, s.w, src, exact)
}
