package e2e

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// joinTimeout bounds the wait for a worker to join its group. A join after
// a kill -9 waits for the dead member's session to expire (6 s) and for the
// rebalance, hence the margin.
const joinTimeout = 60 * time.Second

// startWorker starts `receiptd run` on the scenario's topics and group
// against z, configured entirely by RECEIPTD_* variables as in a container;
// extra overrides or adds variables.
func startWorker(t *testing.T, name string, n names, z *zimFake, rps int, extra map[string]string) *process {
	t.Helper()
	env := map[string]string{
		"RECEIPTD_KAFKA_BROKERS":        strings.Join(suite.brokers, ","),
		"RECEIPTD_KAFKA_TOPIC":          n.Source,
		"RECEIPTD_KAFKA_DLQ_TOPIC":      n.DLQ,
		"RECEIPTD_KAFKA_GROUP_ID":       n.Group,
		"RECEIPTD_KAFKA_CLIENT_ID":      "receiptd-e2e-" + name,
		"RECEIPTD_ZIM_ENDPOINT":         z.url,
		"RECEIPTD_ZIM_APP_ID":           strconv.Itoa(zimAppID),
		"RECEIPTD_ZIM_SERVER_SECRET":    zimSecret,
		"RECEIPTD_ZIM_RATE_LIMIT_RPS":   strconv.Itoa(rps),
		"RECEIPTD_HTTP_LISTEN":          "127.0.0.1:0",
		"RECEIPTD_LOG_LEVEL":            "info",
		"RECEIPTD_LOG_SUMMARY_INTERVAL": "5s",
		// The broker's minimum: a member killed with -9 is evicted, and its
		// partitions reassigned, 6 s after its last heartbeat.
		"RECEIPTD_KAFKA_SESSION_TIMEOUT":    "6s",
		"RECEIPTD_KAFKA_HEARTBEAT_INTERVAL": "1s",
		// A member sends no heartbeats while it drains revoked partitions
		// at a rebalance, so the drain must end within the session timeout
		// (receiptd refuses a configuration where it would not).
		"RECEIPTD_SHUTDOWN_REBALANCE_DRAIN_TIMEOUT": "3s",
		// The same holds for the drain after SIGTERM.
		"RECEIPTD_SHUTDOWN_DRAIN_TIMEOUT":   "4s",
		"RECEIPTD_KAFKA_JOIN_GROUP_BACKOFF": "1s",
		"RECEIPTD_KAFKA_COMMIT_INTERVAL":    "500ms",
	}
	maps.Copy(env, extra)
	return startProcess(t, name, childEnv(env), "run")
}

// waitCaughtUp waits until the group has committed every record of the
// source topic, i.e. its committed offsets equal the high-water marks. Call
// it once production has finished. The broker's temporary errors are
// waited out (pollCommitted).
func waitCaughtUp(t *testing.T, b *broker, n names, z *zimFake, timeout time.Duration) {
	t.Helper()
	hw := b.highWater(t, n.Source, sourcePartitions)
	waitUntil(t, timeout, "committed offsets reach the high-water marks", func() (bool, string) {
		c, err := b.pollCommitted(t, n.Group, n.Source, sourcePartitions)
		if err != nil {
			return false, err.Error()
		}
		st := z.stats(t)
		return slices.Equal(c, hw), fmt.Sprintf("committed %s; high-water %s; zimfake: %d distinct receipts, %s",
			offsetsString(c), offsetsString(hw), st.DistinctReceipts, summarizeCalls(st))
	})
}

// waitReceipts waits until zimfake holds at least n distinct receipts.
func waitReceipts(t *testing.T, z *zimFake, n int, timeout time.Duration) {
	t.Helper()
	waitUntil(t, timeout, fmt.Sprintf("%d distinct receipts at zimfake", n), func() (bool, string) {
		st := z.stats(t)
		return st.DistinctReceipts >= int64(n), fmt.Sprintf("%d distinct receipts, %s", st.DistinctReceipts, summarizeCalls(st))
	})
}

// stopWorker sends SIGTERM and requires a clean exit (code 0) within limit.
func stopWorker(t *testing.T, p *process, limit time.Duration) time.Duration {
	t.Helper()
	code, took := p.terminate(t, limit)
	if code != 0 {
		t.Errorf("%s: exit code %d after SIGTERM, want 0", p.name, code)
	}
	return took
}

// stopWorkers sends SIGTERM to every worker at once, as a rollout that
// deletes all pods does, and requires each to exit 0 within limit.
func stopWorkers(t *testing.T, ps []*process, limit time.Duration) {
	t.Helper()
	for _, p := range ps {
		p.sigterm(t)
	}
	for _, p := range ps {
		if code := p.waitExit(t, limit); code != 0 {
			t.Errorf("%s: exit code %d after SIGTERM, want 0", p.name, code)
		}
	}
}

// waitBalanced waits until the workers are members of one generation of the
// group and own every partition of the source topic between them, each
// partition once.
func waitBalanced(t *testing.T, ps []*process, timeout time.Duration) {
	t.Helper()
	waitBalancedOn(t, ps, sourcePartitions, timeout)
}

// waitBalancedOn is waitBalanced for a source topic of the given partitions.
func waitBalancedOn(t *testing.T, ps []*process, partitions int, timeout time.Duration) {
	t.Helper()
	waitUntil(t, timeout, fmt.Sprintf("%d workers share the partitions", len(ps)), func() (bool, string) {
		var state []string
		owners := make(map[int]int)
		gens := make(map[int]bool)
		members := 0
		for _, p := range ps {
			j := p.owned()
			if j.Generation < 0 {
				state = append(state, p.name+": owns nothing")
				continue
			}
			members++
			state = append(state, fmt.Sprintf("%s: generation %d partitions %v", p.name, j.Generation, j.Partitions))
			gens[j.Generation] = true
			for _, part := range j.Partitions {
				owners[part]++
			}
		}
		ok := members == len(ps) && len(gens) == 1 && len(owners) == partitions
		for _, n := range owners {
			ok = ok && n == 1
		}
		return ok, strings.Join(state, "; ")
	})
}
