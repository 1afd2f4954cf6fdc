// Package docs_test keeps the design documents true to the code: the
// package table and the tests architecture.md names, the import rules it
// states, and that no file of the repository cites a document outside it.
package docs_test

import (
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	module   = "github.com/receiptd/receiptd"
	root     = ".."
	archDoc  = "architecture.md"
	packages = "## Packages, each with one job"
)

// repoFiles returns the repository's files (relative to root, slash
// separated) for which keep is true, leaving out version control, CI
// scratch and test data.
func repoFiles(t *testing.T, keep func(path string) bool) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel != "." && (strings.HasPrefix(d.Name(), ".") && d.Name() != ".ci" || d.Name() == "testdata" || d.Name() == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if keep(rel) {
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// tableColumn returns the first cells, backticks removed, of the rows of
// the first table under heading in doc.
func tableColumn(doc, heading string) []string {
	_, after, ok := strings.Cut(doc, "\n"+heading+"\n")
	if !ok {
		return nil
	}
	var cells []string
	inTable := false
	for _, line := range strings.Split(after, "\n") {
		if !strings.HasPrefix(line, "|") {
			if inTable {
				break
			}
			continue
		}
		inTable = true
		cell := strings.Trim(strings.TrimSpace(strings.Split(line, "|")[1]), "`")
		if cell != "" && !strings.HasPrefix(cell, "---") {
			cells = append(cells, cell)
		}
	}
	if len(cells) > 0 {
		cells = cells[1:] // the header
	}
	return cells
}

// architecture.md's package table lists every package of the repository
// and nothing else, and every test that the docs or a README name exists.
func TestArchitectureDoc(t *testing.T) {
	b, err := os.ReadFile(archDoc)
	if err != nil {
		t.Fatal(err)
	}
	listed := tableColumn(string(b), packages)
	if len(listed) == 0 {
		t.Fatalf("%s has no table under %q", archDoc, packages)
	}
	have := map[string]bool{}
	for _, f := range repoFiles(t, func(p string) bool {
		return strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go")
	}) {
		have[filepath.ToSlash(filepath.Dir(f))] = true
	}
	for _, p := range listed {
		if !have[p] {
			t.Errorf("%s lists package %s, which the repository does not have", archDoc, p)
		}
		delete(have, p)
	}
	for _, p := range slices.Sorted(maps.Keys(have)) {
		t.Errorf("package %s is not in %s's table %q: say what its one job is", p, archDoc, packages)
	}

	declared := map[string]bool{}
	funcs := regexp.MustCompile(`(?m)^func ((?:Test|Fuzz|Benchmark|Example)\w*)\(`)
	for _, f := range repoFiles(t, func(p string) bool { return strings.HasSuffix(p, "_test.go") }) {
		src, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range funcs.FindAllSubmatch(src, -1) {
			declared[string(m[1])] = true
		}
	}
	// BENCHMARKS.md is left out: it also names tests of past commits.
	named := regexp.MustCompile("`((?:Test|Fuzz|Benchmark)[A-Z]\\w*)`")
	docs, _ := filepath.Glob("*.md")
	docs = append(docs, "../README.md", "../deploy/README.md")
	for _, doc := range docs {
		text, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range named.FindAllSubmatch(text, -1) {
			if !declared[string(m[1])] {
				t.Errorf("%s names %s, which no test file declares: renamed or gone?", filepath.Clean(filepath.Join("docs", doc)), m[1])
			}
		}
	}
}

// The imports follow architecture.md's "Which way the imports go": the
// vocabulary, the budget and the credential type import nothing of
// receiptd; the parts import only what is below them; the worker knows
// neither Kafka nor HTTP; only the binary uses the package that wires the
// parts.
func TestImportsFlowOneWay(t *testing.T) {
	own := map[string][]string{ // package: the receiptd packages it may import
		"receipt":         nil,
		"retry":           {"receipt"},
		"internal/secret": nil,
		"zimapi":          {"receipt", "internal/secret"},
		"worker":          {"receipt", "retry"},
		"consumer":        {"worker", "receipt", "retry"},
		"deadletter":      {"worker", "receipt", "retry"},
	}
	forbidden := map[string][]string{ // package: other imports it must not have
		"worker": {"github.com/segmentio/kafka-go", "net/http"},
	}
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(strings.TrimPrefix(fields[0], module), "/")
		seen[pkg] = true
		allowed, ruled := own[pkg]
		for _, imp := range fields[1:] {
			if slices.Contains(forbidden[pkg], imp) {
				t.Errorf("%s imports %s", pkg, imp)
			}
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			dep := strings.TrimPrefix(imp, module+"/")
			if ruled && !slices.Contains(allowed, dep) {
				t.Errorf("%s imports %s; it may import only %v of receiptd", pkg, dep, allowed)
			}
			if dep == "internal/pipeline" && pkg != "cmd/receiptd" {
				t.Errorf("%s imports internal/pipeline, which only cmd/receiptd may", pkg)
			}
			if strings.HasPrefix(dep, "cmd/") {
				t.Errorf("%s imports the command %s", pkg, dep)
			}
		}
	}
	for pkg := range own {
		if !seen[pkg] {
			t.Errorf("package %s is gone: update the import rules here and in %s", pkg, archDoc)
		}
	}
}

// No file of the repository cites a document that is not in it, and every
// relative link of a markdown file leads to a file that is. README links
// the design documents.
func TestNoDocumentOutsideTheRepository(t *testing.T) {
	urls := regexp.MustCompile(`[a-z]+://\S+`)
	cited := regexp.MustCompile(`[\w./-]*\w\.md\b`)
	links := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	exists := func(p string) bool { _, err := os.Stat(filepath.Join(root, p)); return err == nil }
	files := repoFiles(t, func(p string) bool {
		switch filepath.Ext(p) {
		case ".go", ".md", ".yaml", ".yml", ".sh", ".json", ".txt":
			return true
		}
		return filepath.Base(p) == "Dockerfile" || p == ".ci/run"
	})
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.ToSlash(filepath.Dir(f))
		for i, line := range strings.Split(string(b), "\n") {
			if strings.HasSuffix(f, ".md") {
				for _, m := range links.FindAllStringSubmatch(line, -1) {
					target, _, _ := strings.Cut(m[1], "#")
					if target == "" || strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
						continue
					}
					if !exists(filepath.Join(dir, target)) {
						t.Errorf("%s:%d: link to %s, which is not in the repository", f, i+1, m[1])
					}
				}
			}
			line = urls.ReplaceAllString(line, "")
			for _, doc := range cited.FindAllString(line, -1) {
				doc = strings.TrimLeft(doc, "./")
				if !exists(doc) && !exists(filepath.Join(dir, doc)) {
					t.Errorf("%s:%d: cites %s, which is not in the repository: cite docs/ instead", f, i+1, doc)
				}
			}
		}
	}

	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range []string{"docs/architecture.md", "docs/zim-api.md"} {
		if !strings.Contains(string(readme), "]("+doc+")") {
			t.Errorf("README.md does not link %s", doc)
		}
	}
}
