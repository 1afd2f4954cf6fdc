package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/pprof"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/receiptd/receiptd/internal/buildinfo"
	"github.com/receiptd/receiptd/internal/config"
	"github.com/receiptd/receiptd/internal/pipeline"
	"github.com/receiptd/receiptd/internal/telemetry"
)

const configHelp = `path of the YAML config (default: $RECEIPTD_CONFIG; with neither, defaults plus RECEIPTD_* variables)`

const runHelp = `
Consume "message read" events from kafka.topic, coalesce them per reader and
conversation, and set read receipts through ZIM within zim.rate_limit_rps;
dead-letter what ZIM rejects to kafka.dlq_topic. Runs until SIGTERM or SIGINT,
then stops fetching, drains within shutdown.drain_timeout, commits and leaves
the consumer group. Every key of config.yaml can be set by a RECEIPTD_*
variable; see config.yaml.`

func runCmd(ctx context.Context, args []string, s streams) int {
	fs := newFlags("run", "run [--config FILE]", runHelp, s)
	path := fs.String("config", "", configHelp)
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file (for 'go tool pprof')")
	memProfile := fs.String("memprofile", "", "write a heap profile to this file at exit (for 'go tool pprof')")
	// Test-only: the benchmark skews its workers' clocks, and runs the
	// former rate share by partitions as the baseline of its scale-out.
	clockOffset := fs.Duration("test-clock-offset", 0, "")
	floorShares := fs.Bool("test-floor-shares", false, "")
	hideFlags(fs, "run [--config FILE]", runHelp, "test-clock-offset", "test-floor-shares")
	if code, ok := parse(fs, args, s); !ok {
		return code
	}
	cfg, code, ok := loadConfig(*path, s)
	if !ok {
		return code
	}
	stopProfiles, err := startProfiles(*cpuProfile, *memProfile)
	if err != nil {
		fmt.Fprintf(s.errOut, "receiptd run: %v\n", err)
		return exitUsage
	}
	defer func() {
		if err := stopProfiles(); err != nil {
			fmt.Fprintf(s.errOut, "receiptd run: %v\n", err)
		}
	}()
	log, err := telemetry.NewLogger(cfg.Log.Level)
	if err != nil {
		fmt.Fprintf(s.errOut, "receiptd run: %v\n", err)
		return exitUsage
	}
	defer func() { _ = log.Sync() }()
	log.Info("starting receiptd", zap.String("version", buildinfo.Get().String()), zap.String("config_file", configPath(*path)),
		zap.Any("config", cfg.Redacted()))
	for _, name := range unknownEnv(os.Environ()) {
		log.Warn("environment variable names no config key; it is ignored", zap.String("variable", name))
	}
	if *clockOffset != 0 || *floorShares {
		log.Warn("test-only rate budget settings", zap.Duration("clock_offset", *clockOffset), zap.Bool("floor_shares", *floorShares))
	}
	p, err := pipeline.New(pipeline.Options{Config: cfg, Log: log, ClockOffset: *clockOffset, FloorShares: *floorShares})
	if err != nil {
		log.Error("cannot start", zap.Error(err))
		return exitUsage
	}
	if err := p.Run(ctx); err != nil {
		return exitFailure
	}
	return exitOK
}

// startProfiles starts a CPU profile into cpuPath and returns the function
// that stops it and writes a heap profile into memPath; empty paths profile
// nothing. The bench profiles its workers with them.
func startProfiles(cpuPath, memPath string) (stop func() error, err error) {
	var cpu *os.File
	if cpuPath != "" {
		if cpu, err = os.Create(cpuPath); err != nil {
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
		if err := pprof.StartCPUProfile(cpu); err != nil {
			cpu.Close()
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
	}
	return func() error {
		var errs []error
		if cpu != nil {
			pprof.StopCPUProfile()
			if err := cpu.Close(); err != nil {
				errs = append(errs, fmt.Errorf("cpu profile: %w", err))
			}
		}
		if memPath != "" {
			if err := writeHeapProfile(memPath); err != nil {
				errs = append(errs, fmt.Errorf("heap profile: %w", err))
			}
		}
		return errors.Join(errs...)
	}, nil
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// loadConfig loads the config at path (or $RECEIPTD_CONFIG) with the
// environment's overrides. On failure it prints every problem and returns
// exit code 2.
func loadConfig(path string, s streams) (config.Config, int, bool) {
	path = configPath(path)
	cfg, err := config.Load(path, os.LookupEnv)
	if err != nil {
		var pe *config.ProblemsError
		if errors.As(err, &pe) {
			where := "the configuration"
			if path != "" {
				where = path
			}
			fmt.Fprintf(s.errOut, "receiptd: %s has %d problem(s):\n", where, len(pe.Problems))
			for _, p := range pe.Problems {
				fmt.Fprintf(s.errOut, "  - %s\n", p)
			}
		} else {
			fmt.Fprintf(s.errOut, "receiptd: %v\n", err)
		}
		return cfg, exitUsage, false
	}
	return cfg, exitOK, true
}

func configPath(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	return os.Getenv("RECEIPTD_CONFIG")
}

// unknownEnv returns the RECEIPTD_* variables in environ that override no
// key: most likely typos, which would otherwise be ignored in silence.
func unknownEnv(environ []string) []string {
	known := map[string]bool{"RECEIPTD_CONFIG": true}
	for _, v := range config.EnvVars() {
		known[v.Name] = true
	}
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "RECEIPTD_") && !known[name] && !strings.HasPrefix(name, "RECEIPTD_E2E_") {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}
