package e2e

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/receiptd/receiptd/internal/ownkafka"
)

// ownBroker is a Kafka broker that one test starts for itself, so that it
// can pause, restart or stop it without disturbing the suite's broker,
// which other tests use.
type ownBroker struct {
	*ownkafka.Broker
}

// kafkaScriptTimeout bounds one scripts/kafka.sh command: a start on a busy
// machine, or a restart with its time down.
const kafkaScriptTimeout = 3 * time.Minute

// startOwnBroker starts a broker in a run directory of the test's own, on
// free ports, and stops it when the test ends. Should the test binary die
// before its cleanup (a timeout), the script's watcher stops the broker.
func startOwnBroker(t *testing.T) *ownBroker {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), kafkaScriptTimeout)
	defer cancel()
	runDir := filepath.Join(t.TempDir(), "kafka")
	b, err := ownkafka.Start(ctx, filepath.Join(suite.repoRoot, "scripts", "kafka.sh"), runDir)
	if err != nil {
		t.Fatalf("start a broker of the test's own: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), kafkaScriptTimeout)
		defer cancel()
		if err := b.Stop(ctx); err != nil {
			t.Errorf("stop the test's own broker: %v", err)
		}
	})
	t.Logf("own broker at %s (run dir %s), started in %s", b.Addr, runDir, time.Since(start).Round(100*time.Millisecond))
	return &ownBroker{b}
}

func (k *ownBroker) addrs() []string { return []string{k.Addr} }

// pause freezes the broker (SIGSTOP); resume lets it run again.
func (k *ownBroker) pause(t *testing.T) {
	t.Helper()
	k.do(t, "pause the broker", k.Pause)
}

func (k *ownBroker) resume(t *testing.T) {
	t.Helper()
	k.do(t, "resume the broker", k.Resume)
}

func (k *ownBroker) do(t *testing.T, what string, f func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), kafkaScriptTimeout)
	defer cancel()
	if err := f(ctx); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// restart stops the broker and starts it again with its data and address
// after down, and returns once it serves requests again. It may run off the
// test's goroutine.
func (k *ownBroker) restart(down time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), kafkaScriptTimeout)
	defer cancel()
	return k.Restart(ctx, down)
}

// refusing reports whether nothing listens at the broker's address.
func (k *ownBroker) refusing() bool {
	c, err := net.DialTimeout("tcp", k.Addr, time.Second)
	if err != nil {
		return true
	}
	c.Close()
	return false
}
