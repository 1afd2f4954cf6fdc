package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// runCLI runs receiptd with args and returns its exit code and outputs.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, streams{out: &out, errOut: &errOut})
	return code, out.String(), errOut.String()
}

// cliCase is one command line and what receiptd must answer to it.
type cliCase struct {
	name     string
	args     []string
	wantCode int
	wantOut  string // substring of stdout
	wantErr  string // substring of stderr
}

func testCommandLines(t *testing.T, tests []cliCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, out, errOut)
			}
			if !strings.Contains(out, tt.wantOut) {
				t.Errorf("stdout lacks %q:\n%s", tt.wantOut, out)
			}
			if !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantErr, errOut)
			}
		})
	}
}

func TestCommandLine(t *testing.T) {
	testCommandLines(t, []cliCase{
		{"no command", nil, exitUsage, "", "Usage: receiptd <command>"},
		{"help", []string{"help"}, exitOK, "Commands:", ""},
		{"unknown command", []string{"frobnicate"}, exitUsage, "", `unknown command "frobnicate"`},
		{"version", []string{"version"}, exitOK, "receiptd ", ""},
		{"bad flag prints the command's usage", []string{"run", "--bogus"}, exitUsage, "", "Usage: receiptd run"},
		{"stray argument", []string{"run", "extra"}, exitUsage, "", `unexpected argument "extra"`},
		{"version flag", []string{"--version"}, exitOK, "kafka-go v0.4.", ""},
		{"help of a command", []string{"help", "run"}, exitOK, "Usage: receiptd run", ""},
		{"help of a subcommand", []string{"help", "dlq", "replay"}, exitOK, "Usage: receiptd dlq replay", ""},
		{"help of an unknown command", []string{"help", "frobnicate"}, exitUsage, "", `unknown command "frobnicate"`},
		{"dlq without subcommand", []string{"dlq"}, exitUsage, "", "inspect"},
		{"dlq unknown subcommand", []string{"dlq", "purge"}, exitUsage, "", `unknown subcommand "purge"`},
		{"dlq replay bad class", []string{"dlq", "replay", "--class", "sad"}, exitUsage, "", `--class "sad"`},
		{"dlq replay bad rate and limit", []string{"dlq", "replay", "--rate", "0", "--limit", "-1"}, exitUsage, "", "--limit -1"},
		{"dlq inspect bad since", []string{"dlq", "inspect", "--since", "yesterday"}, exitUsage, "", "--since"},
		{"zimfake bad app id", []string{"zimfake", "--app-id", "0", "--secret", "s"}, exitUsage, "", "--app-id 0"},
		{"zimfake bad rate", []string{"zimfake", "--secret", "s", "--transient-rate", "2"}, exitUsage, "", "transient rate"},
	})
}

// Every command and subcommand: -h prints its help on stdout and exits 0,
// `receiptd help` prints the same, and a flag it does not know prints the
// error and the usage on stderr and exits 2.
func TestEveryCommandHelpAndBadFlag(t *testing.T) {
	var names [][]string
	for _, c := range commands() {
		names = append(names, []string{c.name})
	}
	names = append(names, []string{"dlq", "inspect"}, []string{"dlq", "replay"})
	for _, name := range names {
		t.Run(strings.Join(name, " "), func(t *testing.T) {
			wantUsage := "Usage: receiptd " + strings.Join(name, " ")
			code, out, errOut := runCLI(t, append(slices.Clone(name), "-h")...)
			if code != exitOK || !strings.HasPrefix(out, wantUsage) || errOut != "" {
				t.Errorf("-h: exit %d, stdout %q, stderr %q; want 0, the usage on stdout, nothing on stderr", code, firstLine(out), errOut)
			}
			code, viaHelp, _ := runCLI(t, append([]string{"help"}, name...)...)
			if code != exitOK || viaHelp != out {
				t.Errorf("help %s: exit %d, stdout %q; want 0 and what -h prints", strings.Join(name, " "), code, firstLine(viaHelp))
			}
			if len(name) == 1 && name[0] == "dlq" {
				return // dlq takes a subcommand, not flags
			}
			code, out, errOut = runCLI(t, append(slices.Clone(name), "--no-such-flag")...)
			if code != exitUsage || out != "" || !strings.Contains(errOut, "flag provided but not defined: -no-such-flag") ||
				!strings.Contains(errOut, wantUsage) {
				t.Errorf("bad flag: exit %d, stdout %q, stderr %q; want 2, nothing on stdout, the error and the usage on stderr",
					code, out, errOut)
			}
		})
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// A config with three mistakes prints all three and exits 2.
func TestRunListsEveryConfigProblem(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	yaml := `kafka:
  topic: message-read
  heartbeat_interval: 40s
  rebalance_timout: 30s
worker:
  linger: soon
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RECEIPTD_ZIM_APP_ID", "1234567")
	t.Setenv("RECEIPTD_ZIM_SERVER_SECRET", "0123456789abcdef0123456789abcdef")
	code, _, errOut := runCLI(t, "run", "--config", path)
	if code != exitUsage {
		t.Fatalf("exit code = %d, want 2\n%s", code, errOut)
	}
	if !strings.Contains(errOut, "has 3 problem(s)") {
		t.Errorf("stderr does not announce 3 problems:\n%s", errOut)
	}
	for _, want := range []string{"rebalance_timout", "worker.linger", "kafka.heartbeat_interval (40s)"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr does not name %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(errOut, "0123456789abcdef") {
		t.Error("the server secret appears in the error output")
	}
}

// The shipped config.yaml needs exactly the app id and the secret.
func TestRunWithShippedConfigAsksForCredentials(t *testing.T) {
	t.Setenv("RECEIPTD_ZIM_APP_ID", "")
	code, _, errOut := runCLI(t, "check", "--config", "../../config.yaml")
	if code != exitUsage || !strings.Contains(errOut, "zim.app_id") || !strings.Contains(errOut, "zim.server_secret") {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 2 naming zim.app_id and zim.server_secret", code, errOut)
	}
}

func TestUnknownEnvIsReported(t *testing.T) {
	got := unknownEnv([]string{
		"RECEIPTD_KAFKA_BROKERS=a:9092", "RECEIPTD_KAFKA_BROKER=a:9092", "RECEIPTD_CONFIG=/x",
		"HOME=/root", "RECEIPTD_ZIM_SECRET=s", "RECEIPTD_E2E_BROKERS=x",
	})
	if want := []string{"RECEIPTD_KAFKA_BROKER", "RECEIPTD_ZIM_SECRET"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("unknownEnv = %v, want %v", got, want)
	}
}
