package bench

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childEnv, set in a child's environment, makes the test binary behave as
// a worker under measurement: see runTestChild.
const childEnv = "BENCH_TEST_CHILD"

// childBallast is what the "ballast" child allocates and touches.
const childBallast = 64 << 20

// runTestChild is the test binary as a child: "ballast" touches
// childBallast bytes and exits 0 at SIGTERM; "stubborn" ignores SIGTERM;
// "crash" exits 3 at once.
func runTestChild(mode string) int {
	switch mode {
	case "ballast":
		term := make(chan os.Signal, 1)
		signal.Notify(term, syscall.SIGTERM)
		ballast := make([]byte, childBallast)
		for i := range ballast {
			ballast[i] = byte(i)
		}
		os.Stdout.WriteString("ready\n")
		<-term
		runtime.KeepAlive(ballast)
		return 0
	case "stubborn":
		signal.Ignore(syscall.SIGTERM)
		os.Stdout.WriteString("ready\n")
		time.Sleep(time.Minute)
		return 0
	default:
		return 3
	}
}

// startTestChild starts the test binary in mode and waits until it is
// ready (it printed "ready" to its log).
func startTestChild(t *testing.T, mode string) *child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(childEnv, mode)
	c, err := startChild("test-"+mode, exe, nil, nil, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.kill)
	if mode == "crash" {
		return c
	}
	err = waitFor(t.Context(), 30*time.Second, 10*time.Millisecond, []*child{c}, func(context.Context) (bool, error) {
		b, err := os.ReadFile(c.logPath)
		return strings.Contains(string(b), "ready"), err
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestChildUsageIsTheChildsOwn(t *testing.T) {
	// The harness is large, as with its in-process Kafka; the child's peak
	// must not inherit it.
	harness := make([]byte, 3*childBallast)
	for i := range harness {
		harness[i] = 1
	}
	c := startTestChild(t, "ballast")
	u, err := c.stop(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if u.ExitCode != 0 {
		t.Errorf("exit code %d, want 0", u.ExitCode)
	}
	if u.CPU <= 0 {
		t.Errorf("CPU %v, want the time the child spent touching its ballast", u.CPU)
	}
	upper := int64(2 * childBallast)
	if raceEnabled {
		upper = 2*childBallast + int64(len(harness)) // shadow memory of the ballast, still below harness + child
	}
	if u.PeakRSS < childBallast || u.PeakRSS > upper {
		t.Errorf("peak RSS %.1f MiB, want the child's %d MiB ballast and its runtime, not the harness's %d MiB",
			mib(u.PeakRSS), childBallast>>20, len(harness)>>20)
	}
	harness[0] = 0
}

func TestChildStopKillsAStubbornChild(t *testing.T) {
	c := startTestChild(t, "stubborn")
	if _, err := c.stop(200 * time.Millisecond); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("stop = %v, want an error saying it was killed", err)
	}
}

func TestWaitForNoticesAChildThatExited(t *testing.T) {
	c := startTestChild(t, "crash")
	err := waitFor(t.Context(), 30*time.Second, 10*time.Millisecond, []*child{c}, func(context.Context) (bool, error) {
		return false, nil
	})
	if err == nil || isNotReached(err) {
		t.Fatalf("waitFor = %v, want the child's exit", err)
	}
	if _, err := c.stop(time.Second); err == nil {
		t.Error("stop of a child that had exited reported no error")
	}
}

func TestWaitForReportsTheDeadline(t *testing.T) {
	wantErr := errors.New("broker down")
	err := waitFor(t.Context(), 50*time.Millisecond, 10*time.Millisecond, nil, func(context.Context) (bool, error) {
		return false, wantErr
	})
	if !isNotReached(err) || !errors.Is(err, wantErr) {
		t.Errorf("waitFor = %v, want errNotReached wrapping the last error", err)
	}
}

func TestEnvFor(t *testing.T) {
	got, err := envFor(map[string]string{"kafka.brokers": "a:1,b:2", "zim.rate_limit_rps": "20"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"RECEIPTD_KAFKA_BROKERS=a:1,b:2", "RECEIPTD_ZIM_RATE_LIMIT_RPS=20"}
	if !slices.Equal(got, want) {
		t.Errorf("envFor = %q, want %q", got, want)
	}
	if _, err := envFor(map[string]string{"zim.rate_limit": "20"}); err == nil {
		t.Error("envFor accepted a key receiptd does not have")
	}
}

func TestCleanEnvironDropsReceiptdVariables(t *testing.T) {
	got := cleanEnviron([]string{"PATH=/bin", "RECEIPTD_ZIM_APP_ID=1", "HOME=/root", "RECEIPTD_CONFIG=x.yaml"})
	if want := []string{"PATH=/bin", "HOME=/root"}; !slices.Equal(got, want) {
		t.Errorf("cleanEnviron = %q, want %q", got, want)
	}
}
