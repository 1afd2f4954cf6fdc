package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ownBroker is a Kafka broker that one test starts for itself with
// scripts/kafka.sh, so that it can pause, restart or stop it without
// disturbing the suite's broker, which other tests use.
type ownBroker struct {
	runDir string
	addr   string
}

// kafkaScriptTimeout bounds one scripts/kafka.sh command: a start on a busy
// machine, or a restart with its time down.
const kafkaScriptTimeout = 3 * time.Minute

// startOwnBroker starts a broker in a run directory of the test's own, on
// free ports, and stops it when the test ends. Should the test binary die
// before its cleanup (a timeout), the script's watcher stops the broker.
func startOwnBroker(t *testing.T) *ownBroker {
	t.Helper()
	k := &ownBroker{runDir: filepath.Join(t.TempDir(), "kafka")}
	t.Cleanup(func() {
		if _, err := k.script("stop"); err != nil {
			t.Errorf("stop the test's own broker: %v", err)
		}
	})
	start := time.Now()
	out, err := k.script("start")
	if err != nil {
		t.Fatalf("start a broker of the test's own: %v", err)
	}
	k.addr = out
	t.Logf("own broker at %s (run dir %s), started in %s", k.addr, k.runDir, time.Since(start).Round(100*time.Millisecond))
	return k
}

func (k *ownBroker) addrs() []string { return []string{k.addr} }

// pause freezes the broker (SIGSTOP); resume lets it run again.
func (k *ownBroker) pause(t *testing.T) {
	t.Helper()
	if _, err := k.script("pause"); err != nil {
		t.Fatalf("pause the broker: %v", err)
	}
}

func (k *ownBroker) resume(t *testing.T) {
	t.Helper()
	if _, err := k.script("resume"); err != nil {
		t.Fatalf("resume the broker: %v", err)
	}
}

// restart stops the broker and starts it again with its data and address
// after down, and returns once it serves requests again.
func (k *ownBroker) restart(down time.Duration) error {
	addr, err := k.script("restart", strconv.Itoa(int(down.Seconds())))
	if err == nil && addr != k.addr {
		err = fmt.Errorf("the broker came back at %s, not %s", addr, k.addr)
	}
	return err
}

// refusing reports whether nothing listens at the broker's address.
func (k *ownBroker) refusing() bool {
	c, err := net.DialTimeout("tcp", k.addr, time.Second)
	if err != nil {
		return true
	}
	c.Close()
	return false
}

// script runs scripts/kafka.sh on the broker's run directory and returns the
// last line of its output.
func (k *ownBroker) script(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), kafkaScriptTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(suite.repoRoot, "scripts", "kafka.sh"), args...)
	cmd.Dir = suite.repoRoot
	var env []string
	for _, kv := range os.Environ() {
		// Ports and run directory are the test's own, whatever the
		// environment says about the suite's broker.
		if name, _, _ := strings.Cut(kv, "="); name != "KAFKA_RUN_DIR" && name != "KAFKA_PORT" &&
			name != "KAFKA_CONTROLLER_PORT" && name != "KAFKA_OWNER_PID" {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "KAFKA_RUN_DIR="+k.runDir, "KAFKA_OWNER_PID="+strconv.Itoa(os.Getpid()))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("scripts/kafka.sh %s: %w\n%s", strings.Join(args, " "), err, tail(stderr.Bytes(), 30))
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	return lines[len(lines)-1], nil
}
