package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// process is one child process of a test: receiptd run or receiptd zimfake.
// Its stdout and stderr go to files under the test's temporary directory and
// are parsed line by line, so that a test can wait for a log line as an
// event. The process is killed and waited for when the test ends, and its
// last lines are printed if the test failed.
type process struct {
	name   string
	cmd    *exec.Cmd
	stdout *lineLog
	stderr *lineLog

	exited  chan struct{} // closed once Wait has returned
	waitErr error         // Wait's result; read after exited is closed
}

// tailLines is how much of a process's output a failed test prints.
const tailLines = 60

// startProcess starts the built receiptd with args and env (the whole
// environment of the child).
func startProcess(t *testing.T, name string, env []string, args ...string) *process {
	t.Helper()
	return startCommand(t, name, env, suite.binary, args...)
}

// startCommand starts the program at path with args and env, as a process
// of the test like startProcess's.
func startCommand(t *testing.T, name string, env []string, path string, args ...string) *process {
	t.Helper()
	dir := t.TempDir()
	p := &process{
		name:   name,
		stdout: newLineLog(t, filepath.Join(dir, name+".stdout")),
		stderr: newLineLog(t, filepath.Join(dir, name+".stderr")),
		exited: make(chan struct{}),
	}
	p.cmd = exec.Command(path, args...)
	p.cmd.Env = env
	p.cmd.Stdout = p.stdout
	p.cmd.Stderr = p.stderr
	p.cmd.SysProcAttr = childProcAttr()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("%s: start %s: %v", name, path, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	t.Logf("%s: started, pid %d: %s %s", name, p.cmd.Process.Pid, filepath.Base(path), strings.Join(args, " "))
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			for _, l := range []*lineLog{p.stderr, p.stdout} {
				if b := l.contents(); len(b) > 0 {
					t.Logf("%s: %s, last %d lines:\n%s", name, filepath.Base(l.path), tailLines, tail(b, tailLines))
				}
			}
		}
	})
	return p
}

// kill sends SIGKILL and waits for the process to exit; it does nothing if
// the process has exited already.
func (p *process) kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// terminate sends SIGTERM and waits at most limit for the process to exit.
// It returns the exit code and how long the exit took; if the process is
// still running after limit it is killed and terminate fails t.
func (p *process) terminate(t *testing.T, limit time.Duration) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	p.sigterm(t)
	return p.waitExit(t, limit), time.Since(start)
}

// sigterm sends SIGTERM.
func (p *process) sigterm(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("%s: SIGTERM: %v", p.name, err)
	}
}

// waitExit waits at most limit for the process to exit and returns its exit
// code; if it is still running after limit it is killed and waitExit fails
// t.
func (p *process) waitExit(t *testing.T, limit time.Duration) int {
	t.Helper()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case <-p.exited:
	case <-timer.C:
		p.kill()
		t.Fatalf("%s: still running %s after SIGTERM; killed", p.name, limit)
	}
	return p.exitCode()
}

// exitCode returns the exit status of an exited process, or -1 if a signal
// ended it.
func (p *process) exitCode() int {
	<-p.exited
	var ee *exec.ExitError
	if p.waitErr != nil && !errors.As(p.waitErr, &ee) {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// waitLog waits at most timeout for a stderr log line for which match
// returns true, and returns it. It fails t if the process exits first.
func (p *process) waitLog(t *testing.T, timeout time.Duration, what string, match func(logLine) bool) logLine {
	t.Helper()
	l, err := p.stderr.wait(timeout, p.exited, match)
	if err != nil {
		t.Fatalf("%s: waiting for %s: %v", p.name, what, err)
	}
	return l
}

// waitJoined waits for the process's n-th "joined consumer group" line and
// returns it.
func (p *process) waitJoined(t *testing.T, n int, timeout time.Duration) joined {
	t.Helper()
	seen := 0
	l := p.waitLog(t, timeout, fmt.Sprintf("joined consumer group (#%d)", n), func(l logLine) bool {
		if l.Msg == msgJoined {
			seen++
		}
		return seen == n
	})
	return l.joined()
}

// owned returns the partitions the process owns according to its last
// lifecycle line: those of its last "joined consumer group" line with its
// generation, or none (generation -1) once it has revoked them or before
// it has joined.
func (p *process) owned() joined {
	lines := p.stderr.matching(func(l logLine) bool { return l.Msg == msgJoined || l.Msg == msgRevoked })
	if len(lines) == 0 || lines[len(lines)-1].Msg == msgRevoked {
		return joined{Generation: -1}
	}
	return lines[len(lines)-1].joined()
}

// Messages of receiptd's lifecycle log lines.
const (
	msgJoined           = "joined consumer group"
	msgRevoked          = "partitions revoked"
	msgNotAccepted      = "zim call not accepted"
	msgShutdownComplete = "shutdown complete"
)

// logLine is one line of a process's output. Lines that are zap JSON have
// Msg, Level and Fields set.
type logLine struct {
	Raw    string
	Msg    string
	Level  string
	Fields map[string]any
}

// joined is the content of a "joined consumer group" line.
type joined struct {
	Generation int
	Partitions []int
}

func (l logLine) joined() joined {
	j := joined{Generation: int(number(l.Fields["generation"]))}
	if ps, ok := l.Fields["partitions"].([]any); ok {
		for _, p := range ps {
			j.Partitions = append(j.Partitions, int(number(p)))
		}
	}
	return j
}

func number(v any) float64 {
	f, _ := v.(float64)
	return f
}

// lineLog is an io.Writer that copies a process's output to a file and
// parses it line by line. Waiters are woken by every new line.
type lineLog struct {
	path string

	mu      sync.Mutex
	f       *os.File
	partial []byte
	lines   []logLine
	changed chan struct{} // closed and replaced when a line arrives
}

func newLineLog(t *testing.T, path string) *lineLog {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	l := &lineLog{path: path, f: f, changed: make(chan struct{})}
	// Registered before the process's own cleanup, so it runs after the
	// process has exited and the copying goroutines have finished.
	t.Cleanup(func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		_ = l.f.Close()
	})
	return l
}

func (l *lineLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.f.Write(b); err != nil {
		return 0, err
	}
	l.partial = append(l.partial, b...)
	added := false
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.lines = append(l.lines, parseLine(l.partial[:i]))
		l.partial = l.partial[i+1:]
		added = true
	}
	if added {
		close(l.changed)
		l.changed = make(chan struct{})
	}
	return len(b), nil
}

func parseLine(b []byte) logLine {
	line := logLine{Raw: string(b)}
	var fields map[string]any
	if json.Unmarshal(b, &fields) == nil {
		line.Msg, _ = fields["msg"].(string)
		line.Level, _ = fields["level"].(string)
		line.Fields = fields
	}
	return line
}

// wait returns the first line, old or new, for which match returns true. It
// gives up after timeout or when exited is closed with no match.
func (l *lineLog) wait(timeout time.Duration, exited <-chan struct{}, match func(logLine) bool) (logLine, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	next := 0
	for {
		l.mu.Lock()
		lines, changed := l.lines[next:], l.changed
		next = len(l.lines)
		l.mu.Unlock()
		for _, line := range lines {
			if match(line) {
				return line, nil
			}
		}
		select {
		case <-changed:
		case <-exited:
			// The output may still have been flushing: look once more.
			l.mu.Lock()
			lines = l.lines[next:]
			l.mu.Unlock()
			for _, line := range lines {
				if match(line) {
					return line, nil
				}
			}
			return logLine{}, errors.New("the process exited")
		case <-timer.C:
			return logLine{}, fmt.Errorf("not seen within %s", timeout)
		}
	}
}

// matching returns the lines so far for which match returns true.
func (l *lineLog) matching(match func(logLine) bool) []logLine {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []logLine
	for _, line := range l.lines {
		if match(line) {
			out = append(out, line)
		}
	}
	return out
}

// count returns how many lines so far carry msg.
func (l *lineLog) count(msg string) int {
	return len(l.matching(func(line logLine) bool { return line.Msg == msg }))
}

// contents returns everything written so far.
func (l *lineLog) contents() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, _ := os.ReadFile(l.path)
	return b
}

// childEnv returns the test's environment without its RECEIPTD_* variables,
// plus vars: a child sees only the configuration the test gives it.
func childEnv(vars map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RECEIPTD_") {
			env = append(env, kv)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		env = append(env, k+"="+vars[k])
	}
	return env
}

// waitUntil polls cond until it returns true, failing t after timeout with
// cond's last description of the state. Use it where no event announces the
// condition (zimfake's counters, committed offsets).
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	const poll = 100 * time.Millisecond
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %s; last state: %s", what, timeout, state)
		}
		<-tick.C
	}
}
