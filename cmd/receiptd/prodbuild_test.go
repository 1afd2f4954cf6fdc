package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// devOnlyPackages are what the production build must not link: the
// in-process Kafka (all of franz-go comes with it), the demo's sandbox and
// traffic generator, the benchmark harness with its broker starter, and the
// topic creation they share.
var devOnlyPackages = []string{
	"github.com/twmb/franz-go/",
	"github.com/receiptd/receiptd/internal/sandbox",
	"github.com/receiptd/receiptd/internal/traffic",
	"github.com/receiptd/receiptd/internal/bench",
	"github.com/receiptd/receiptd/internal/ownkafka",
	"github.com/receiptd/receiptd/internal/kafkatopics",
}

// The container image runs the production build: the Dockerfile's go build,
// run here with its own flags, links none of devOnlyPackages, still has every
// production command, and answers demo and bench with where to get them.
func TestProductionBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the production binary")
	}
	args := dockerfileGoBuild(t)
	tags := buildTags(args)
	if !slices.Contains(tags, productionTag) {
		t.Fatalf("the Dockerfile's go build has tags %v, not %s: the image would link the demo and the benchmark", tags, productionTag)
	}

	t.Run("go list", func(t *testing.T) {
		prod := goList(t, "-tags", strings.Join(tags, ","))
		dev := goList(t)
		for _, p := range devOnlyPackages {
			if !slices.ContainsFunc(dev, func(d string) bool { return strings.HasPrefix(d, p) }) {
				t.Errorf("the developer build links nothing of %s: is devOnlyPackages still right?", p)
			}
			for _, d := range prod {
				if strings.HasPrefix(d, p) {
					t.Errorf("the production build links %s", d)
				}
			}
		}
	})

	bin := filepath.Join(t.TempDir(), "receiptd")
	build := exec.Command("go", append(append(slices.Clone(args), "-o", bin), "./cmd/receiptd")...)
	build.Dir = "../.."
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", build, err, out)
	}
	if info, err := os.Stat(bin); err == nil {
		t.Logf("production binary, built as the Dockerfile builds it: %d bytes", info.Size())
	}

	t.Run("modules", func(t *testing.T) {
		out, err := exec.Command("go", "version", "-m", bin).CombinedOutput()
		if err != nil {
			t.Fatalf("go version -m: %v\n%s", err, out)
		}
		if strings.Contains(string(out), "github.com/twmb/franz-go") {
			t.Errorf("the production binary carries franz-go:\n%s", out)
		}
	})

	t.Run("commands", func(t *testing.T) {
		for _, tt := range []struct {
			args     []string
			wantCode int
			want     string // in stdout and stderr together
		}{
			{[]string{"version"}, exitOK, "receiptd v0.0.0-dockerfile"},
			{[]string{"help"}, exitOK, "production build (-tags " + productionTag + ")"},
			{[]string{"run", "-h"}, exitOK, "Usage: receiptd run"},
			{[]string{"check", "-h"}, exitOK, "Usage: receiptd check"},
			{[]string{"dlq", "replay", "-h"}, exitOK, "Usage: receiptd dlq replay"},
			{[]string{"zimfake", "-h"}, exitOK, "Usage: receiptd zimfake"},
			// Arguments the developer build refuses at once, so that a
			// production build that has them still runs nothing.
			{[]string{"demo", "--events", "0"}, exitUsage, "this build has no demo command"},
			{[]string{"demo", "--events", "0"}, exitUsage, "'go run ./cmd/receiptd demo'"},
			{[]string{"help", "demo"}, exitUsage, "this build has no demo command"},
			{[]string{"bench", "--scenarios", "z", "--dir", t.TempDir()}, exitUsage, "this build has no bench command"},
			{[]string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		} {
			out, err := exec.Command(bin, tt.args...).CombinedOutput()
			code := 0
			if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatalf("receiptd %s: %v", strings.Join(tt.args, " "), err)
			}
			if code != tt.wantCode || !strings.Contains(string(out), tt.want) {
				t.Errorf("receiptd %s: exit %d, output:\n%s\nwant exit %d and %q",
					strings.Join(tt.args, " "), code, out, tt.wantCode, tt.want)
			}
		}
	})
}

// dockerfileGoBuild returns the arguments of the Dockerfile's go build,
// from "build" up to the output and the package, with the build arguments
// VERSION and REVISION given test values.
func dockerfileGoBuild(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	m := regexp.MustCompile(`(?m)\bgo (build .*) -o \S+ \./cmd/receiptd\s*$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatal("the Dockerfile has no line 'go build … -o … ./cmd/receiptd'")
	}
	line := strings.NewReplacer("${VERSION}", "v0.0.0-dockerfile", "${REVISION}", "0d0c0e0f").Replace(m[1])
	args, err := shellWords(line)
	if err != nil {
		t.Fatalf("the Dockerfile's go build: %v", err)
	}
	return args
}

// shellWords splits s into words as a POSIX shell does for what the
// Dockerfile uses: blanks separate words, double quotes keep them together.
func shellWords(s string) ([]string, error) {
	var words []string
	var word strings.Builder
	inWord, quoted := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted, inWord = !quoted, true
		case !quoted && (r == ' ' || r == '\t' || r == '\n'):
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		case strings.ContainsRune("'$`\\", r):
			return nil, errors.New("quoting or expansion beyond double quotes: teach shellWords or simplify the Dockerfile")
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		return nil, errors.New("unterminated double quote")
	}
	if inWord {
		words = append(words, word.String())
	}
	return words, nil
}

// buildTags returns the tags given to go build by -tags.
func buildTags(args []string) []string {
	for i, a := range args {
		v, ok := strings.CutPrefix(a, "-tags=")
		if !ok && a == "-tags" && i+1 < len(args) {
			v, ok = args[i+1], true
		}
		if ok {
			return strings.Split(v, ",")
		}
	}
	return nil
}

// goList returns the packages cmd/receiptd links with flags.
func goList(t *testing.T, flags ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append(append([]string{"list", "-deps"}, flags...), "./cmd/receiptd")...)
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	return strings.Fields(string(out))
}
