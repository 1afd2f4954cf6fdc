package e2e

import (
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Environment of the suite (see the package documentation).
const (
	envBrokers      = "RECEIPTD_E2E_BROKERS"
	envRequired     = "RECEIPTD_E2E_REQUIRED"
	envKafkaVersion = "RECEIPTD_E2E_KAFKA_VERSION"
	envSeed         = "RECEIPTD_E2E_SEED"
)

// suite is set up once by TestMain and read by every test.
var suite struct {
	brokers      []string
	repoRoot     string
	binary       string // the built receiptd
	kafkaVersion string
	seed         uint64
}

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	if addr := strings.TrimSpace(os.Getenv(envBrokers)); addr != "" {
		suite.brokers = strings.Split(addr, ",")
		tmp, err := os.MkdirTemp("", "receiptd-e2e-")
		if err != nil {
			fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
			return 1
		}
		defer os.RemoveAll(tmp)
		if err := buildBinary(tmp); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
			return 1
		}
		suite.kafkaVersion = kafkaVersion(addr)
		if suite.seed, err = suiteSeed(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
			return 1
		}
	}
	code := m.Run()
	if code == 0 {
		// Every child process and client is stopped in t.Cleanup; a
		// goroutine left over means a test forgot one.
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: goroutines leaked: %v\n", err)
			return 1
		}
	}
	return code
}

// needBroker skips t when no broker was given, or fails it when the suite is
// required to run (CI): end-to-end tests must never pass by being skipped
// there.
func needBroker(t *testing.T) {
	t.Helper()
	if len(suite.brokers) > 0 {
		return
	}
	const how = "end-to-end tests need a Kafka broker: run `scripts/kafka.sh start` and " +
		"export " + envBrokers + "=<the address it prints last>"
	if os.Getenv(envRequired) == "1" {
		t.Fatalf("%s (%s=1, so they may not be skipped)", how, envRequired)
	}
	t.Skip(how)
}

// The build identity the suite links into receiptd.
const (
	buildInfoPkg = "github.com/receiptd/receiptd/internal/buildinfo"
	e2eVersion   = "v0.0.0-e2e"
	e2eRevision  = "0e2e0e2e0e2e0e2e0e2e0e2e0e2e0e2e0e2e0e2e"
)

// buildBinary builds cmd/receiptd into dir, from the module this package is
// part of.
func buildBinary(dir string) error {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return fmt.Errorf("go env GOMOD: not inside the receiptd module")
	}
	suite.repoRoot = filepath.Dir(gomod)
	suite.binary = filepath.Join(dir, "receiptd")
	// Built and linked as the Dockerfile builds a release: the production
	// build, without demo and bench, so that the tests run what an image
	// runs and see the version and revision where an operator would.
	build := exec.Command("go", "build", "-tags", "receiptd_prod", "-o", suite.binary, "-ldflags",
		"-X "+buildInfoPkg+".version="+e2eVersion+" -X "+buildInfoPkg+".revision="+e2eRevision, "./cmd/receiptd")
	build.Dir = suite.repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/receiptd: %w\n%s", err, out)
	}
	return nil
}

var kafkaStatusLine = regexp.MustCompile(`(?m)^running: Kafka ([0-9][0-9.]*),`)

// kafkaVersion names the broker's version for the figures: the Kafka
// protocol does not report it, so it comes from the environment or from
// scripts/kafka.sh, if that script runs the broker at addr.
func kafkaVersion(addr string) string {
	if v := os.Getenv(envKafkaVersion); v != "" {
		return v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(suite.repoRoot, "scripts", "kafka.sh"), "status")
	cmd.Dir = suite.repoRoot
	out, _ := cmd.Output() // exit 3 means not running: then nothing matches
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if m := kafkaStatusLine.FindSubmatch(out); m != nil && lines[len(lines)-1] == addr {
		return string(m[1])
	}
	return "unknown (set " + envKafkaVersion + ")"
}

func suiteSeed() (uint64, error) {
	v := os.Getenv(envSeed)
	if v == "" {
		return rand.Uint64() >> 1, nil
	}
	seed, err := strconv.ParseUint(v, 10, 63)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: want a non-negative integer", envSeed, v)
	}
	return seed, nil
}

// testRand returns t's random source, derived from the suite's seed and the
// test's name so that each test draws the same numbers whatever ran before.
func testRand(t *testing.T) (*rand.Rand, uint64) {
	t.Helper()
	h := fnv.New64a()
	h.Write([]byte(t.Name()))
	seed := (suite.seed ^ h.Sum64()) >> 1
	t.Logf("seed %d (%s=%d repeats this run's random choices)", seed, envSeed, suite.seed)
	return rand.New(rand.NewPCG(seed, 0x65326574)), seed
}

// tail returns the last n lines of b.
func tail(b []byte, n int) []byte {
	b = bytes.TrimRight(b, "\n")
	end := len(b)
	for range n {
		i := bytes.LastIndexByte(b[:end], '\n')
		if i < 0 {
			return b
		}
		end = i
	}
	return b[end+1:]
}
