package config_test

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/receiptd/receiptd/internal/config"
)

// testSecret is ZEGO's published signing test secret, standing in for a real one.
const testSecret = "9193cc662a4c0ec135ec71fb57194b38"

// required supplies the two keys that have no default.
var required = map[string]string{
	"RECEIPTD_ZIM_APP_ID":        "1234567",
	"RECEIPTD_ZIM_SERVER_SECRET": testSecret,
}

// env returns a lookup over the union of the given maps, later maps winning.
func env(ms ...map[string]string) func(string) (string, bool) {
	all := map[string]string{}
	for _, m := range ms {
		maps.Copy(all, m)
	}
	return func(name string) (string, bool) {
		v, ok := all[name]
		return v, ok
	}
}

// valid returns Default with the required keys set as the required env sets them.
func valid() config.Config {
	c := config.Default()
	c.ZIM.AppID = 1234567
	c.ZIM.ServerSecret = testSecret
	return c
}

// writeFile writes content to a file called name in a directory of its own
// and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	return writeFileIn(t, t.TempDir(), name, content)
}

// writeFileIn writes content to a file called name in dir and returns its
// path.
func writeFileIn(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// problemsOf returns the problems of a *ProblemsError, failing the test for any other error.
func problemsOf(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var pe *config.ProblemsError
	if !errors.As(err, &pe) {
		t.Fatalf("error is %T (%v), want *config.ProblemsError", err, err)
	}
	if len(pe.Problems) == 0 {
		t.Fatalf("*ProblemsError with no problems")
	}
	return pe.Problems
}

// loadYAML writes yaml, unless it is empty, to a file c.yaml and loads it
// with lookup. It returns the file's path ("" when there is none) and
// Load's error.
func loadYAML(t *testing.T, yaml string, lookup func(string) (string, bool)) (string, error) {
	t.Helper()
	path := ""
	if yaml != "" {
		path = writeFile(t, "c.yaml", yaml)
	}
	_, err := config.Load(path, lookup)
	return path, err
}

// wantProblems fails the test unless err is a *ProblemsError with exactly
// the problems want, in order. In want, "c.yaml:" stands for path and a
// colon, so that a table can name the file Load read before it is written.
func wantProblems(t *testing.T, err error, path string, want []string) {
	t.Helper()
	if path != "" {
		want = slices.Clone(want)
		for i := range want {
			want[i] = strings.ReplaceAll(want[i], "c.yaml:", path+":")
		}
	}
	if got := problemsOf(t, err); !slices.Equal(got, want) {
		t.Errorf("problems:\n got %q\nwant %q", got, want)
	}
}

func mustLoad(t *testing.T, path string, lookup func(string) (string, bool)) config.Config {
	t.Helper()
	c, err := config.Load(path, lookup)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}
