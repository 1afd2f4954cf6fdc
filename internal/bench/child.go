package bench

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/receiptd/receiptd/internal/config"
)

// child is one worker process under measurement: receiptd run, or the
// naive baseline. Its CPU time comes from the kernel's accounting of that
// process alone, after it exited; its peak RSS from the high-water mark of
// its own address space (VmHWM), sampled while it runs.
//
// The rusage Maxrss of a child is no measure of it: Go starts children
// with vfork, and Linux carries the parent's RSS high-water mark over into
// the child's Maxrss at exec, so every worker would appear as large as the
// harness with its in-process Kafka.
type child struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{} // closed when Wait returned
	err     error         // Wait's error, set before exited closes
	started time.Time

	sampled chan struct{} // closed when the sampler returned
	peakRSS int64         // bytes; written by the sampler, read after sampled closed
}

// usage is what the kernel accounted to a child that exited.
type usage struct {
	CPU      time.Duration // user + system
	PeakRSS  int64         // bytes
	ExitCode int
	Wall     time.Duration
}

// startChild runs exe with args, its environment being the parent's
// without any RECEIPTD_* variable, plus env (config keys, see envFor). Its
// output goes to a log file in dir.
func startChild(name, exe string, args []string, env map[string]string, dir string) (*child, error) {
	vars, err := envFor(env)
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("child %s: %w", name, err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(cleanEnviron(os.Environ()), vars...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, logPath: logPath, exited: make(chan struct{}), started: time.Now(),
		sampled: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		logFile.Close()
		close(c.exited)
	}()
	go c.sample()
	return c, nil
}

// rssPoll is how often the sampler reads the child's high-water mark;
// what the child adds in its last moments, after the last read, is lost.
const rssPoll = 50 * time.Millisecond

// sample keeps the child's peak RSS until it exits.
func (c *child) sample() {
	defer close(c.sampled)
	path := fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid)
	t := time.NewTicker(rssPoll)
	defer t.Stop()
	for {
		if hwm, ok := readHWM(path); ok {
			c.peakRSS = max(c.peakRSS, hwm)
		}
		select {
		case <-c.exited:
			return
		case <-t.C:
		}
	}
}

// readHWM returns VmHWM from a /proc status file, in bytes.
func readHWM(path string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	for line := range strings.Lines(string(b)) {
		var kb int64
		if _, err := fmt.Sscanf(line, "VmHWM: %d kB", &kb); err == nil {
			return kb * 1024, true
		}
	}
	return 0, false
}

// stop sends SIGTERM and waits for the child to exit, killing it after
// grace. It returns the child's resource usage; an error if it had to be
// killed, exited on its own before, or exited with a non-zero code.
func (c *child) stop(grace time.Duration) (usage, error) {
	select {
	case <-c.exited:
		u := c.usage()
		return u, fmt.Errorf("%s exited before it was stopped (exit code %d); see %s", c.name, u.ExitCode, c.logPath)
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-c.exited:
	case <-t.C:
		_ = c.cmd.Process.Kill()
		<-c.exited
		return c.usage(), fmt.Errorf("%s did not stop within %s of SIGTERM; killed; see %s", c.name, grace, c.logPath)
	}
	u := c.usage()
	if c.err != nil {
		return u, fmt.Errorf("%s: %w; see %s", c.name, c.err, c.logPath)
	}
	return u, nil
}

// kill ends a child that is no longer measured, such as after a failed
// scenario.
func (c *child) kill() {
	select {
	case <-c.exited:
	default:
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
	<-c.sampled
}

// logged reports whether the child's log holds text.
func (c *child) logged(text string) (bool, error) {
	b, err := os.ReadFile(c.logPath)
	return strings.Contains(string(b), text), err
}

// alive reports an error if the child exited.
func (c *child) alive() error {
	select {
	case <-c.exited:
		return fmt.Errorf("%s exited unexpectedly (%v); see %s", c.name, c.err, c.logPath)
	default:
		return nil
	}
}

// usage returns what the child used; it must have exited.
func (c *child) usage() usage {
	<-c.sampled
	st := c.cmd.ProcessState
	u := usage{ExitCode: st.ExitCode(), Wall: time.Since(c.started), PeakRSS: c.peakRSS}
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
		u.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		if u.PeakRSS == 0 { // no /proc: the inflated figure is better than none
			u.PeakRSS = ru.Maxrss * 1024
		}
	}
	return u
}

// envFor turns config keys into their RECEIPTD_* variables, refusing a key
// receiptd does not have: a typo would otherwise measure the defaults.
func envFor(keys map[string]string) ([]string, error) {
	byKey := make(map[string]string)
	for _, v := range config.EnvVars() {
		byKey[v.Key] = v.Name
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		name, ok := byKey[k]
		if !ok {
			return nil, fmt.Errorf("no config key %q", k)
		}
		out = append(out, name+"="+keys[k])
	}
	return out, nil
}

// cleanEnviron drops the RECEIPTD_* variables of the bench's own
// environment, so that a setting of the operator's shell cannot change
// what is measured.
func cleanEnviron(environ []string) []string {
	return slices.DeleteFunc(slices.Clone(environ), func(kv string) bool {
		return strings.HasPrefix(kv, "RECEIPTD_")
	})
}

// errNotReached is returned by waitFor when its deadline passed first.
var errNotReached = errors.New("condition not reached")

// waitFor polls cond every interval until it reports true, ctx ends or
// deadline passes (errNotReached). Every child in alive is checked on each
// poll, so that a crashed worker fails the scenario at once instead of at
// the deadline. A cond error is returned only if the wait fails.
func waitFor(ctx context.Context, deadline time.Duration, interval time.Duration, alive []*child,
	cond func(ctx context.Context) (bool, error)) error {
	timeout := time.NewTimer(deadline)
	defer timeout.Stop()
	t := time.NewTicker(interval)
	defer t.Stop()
	var lastErr error
	for {
		for _, c := range alive {
			if err := c.alive(); err != nil {
				return err
			}
		}
		ok, err := cond(ctx)
		if ok {
			return nil
		}
		if err != nil {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timeout.C:
			if lastErr != nil {
				return fmt.Errorf("%w within %s (last error: %w)", errNotReached, deadline, lastErr)
			}
			return fmt.Errorf("%w within %s", errNotReached, deadline)
		case <-t.C:
		}
	}
}

func isNotReached(err error) bool { return errors.Is(err, errNotReached) }
