// Package ownkafka runs a real Kafka broker of the caller's own with
// scripts/kafka.sh, in a run directory of its own and on free ports, so that
// tests and the benchmark can pause, restart and stop it without touching
// any other broker on the machine.
package ownkafka

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Broker is a running broker started by Start. Its methods are not safe for
// concurrent use.
type Broker struct {
	script string
	runDir string
	// Addr is the bootstrap address, host:port; it survives Restart.
	Addr string
}

// Start starts a broker with script (the path of scripts/kafka.sh) in
// runDir, which must not exist or be empty. The broker stops when Stop is
// called or, failing that, when this process exits (the script's watcher,
// KAFKA_OWNER_PID).
func Start(ctx context.Context, script, runDir string) (*Broker, error) {
	b := &Broker{script: script, runDir: runDir}
	addr, err := b.run(ctx, "start")
	if err != nil {
		return nil, err
	}
	b.Addr = addr
	return b, nil
}

// Pause freezes the broker (SIGSTOP): it keeps its connections and answers
// nothing until Resume, like a long GC pause, a stuck disk or a network
// partition.
func (b *Broker) Pause(ctx context.Context) error {
	_, err := b.run(ctx, "pause")
	return err
}

// Resume lets a paused broker run again (SIGCONT).
func (b *Broker) Resume(ctx context.Context) error {
	_, err := b.run(ctx, "resume")
	return err
}

// Restart stops the broker, keeps it down for down (whole seconds), and
// starts it again with its data on the same address, as a rolling upgrade
// does; it returns once the broker serves requests again.
func (b *Broker) Restart(ctx context.Context, down time.Duration) error {
	addr, err := b.run(ctx, "restart", strconv.Itoa(int(down.Seconds())))
	if err == nil && addr != b.Addr {
		err = fmt.Errorf("the broker came back at %s, not %s", addr, b.Addr)
	}
	return err
}

// Stop stops the broker and removes its run directory.
func (b *Broker) Stop(ctx context.Context) error {
	_, err := b.run(ctx, "stop")
	return err
}

// run runs the script with args and returns the last line of its output.
func (b *Broker) run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, b.script, args...)
	// The run directory and ports are the broker's own, whatever the
	// environment says about another broker.
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return name == "KAFKA_RUN_DIR" || name == "KAFKA_PORT" || name == "KAFKA_CONTROLLER_PORT" || name == "KAFKA_OWNER_PID"
	})
	cmd.Env = append(cmd.Env, "KAFKA_RUN_DIR="+b.runDir, "KAFKA_OWNER_PID="+strconv.Itoa(os.Getpid()))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w\n%s", b.script, strings.Join(args, " "), err, lastLines(stderr.String(), 30))
	}
	out := strings.TrimSpace(stdout.String())
	return out[strings.LastIndexByte(out, '\n')+1:], nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}
