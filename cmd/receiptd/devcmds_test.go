//go:build !receiptd_prod

package main

import (
	"slices"
	"strings"
	"testing"
)

func TestDeveloperCommandLine(t *testing.T) {
	testCommandLines(t, []cliCase{
		{"bad flag value after parsing prints usage", []string{"demo", "--events", "0"}, exitUsage, "", "Usage: receiptd demo"},
		{"demo bad events", []string{"demo", "--events", "0"}, exitUsage, "", "must be positive"},
		{"bench unknown scenario", []string{"bench", "--scenarios", "z", "--dir", t.TempDir()}, exitUsage, "", `unknown scenario "z"`},
		{"help lists the developer commands apart", []string{"help"}, exitOK, "Developer commands (not in the production build):\n  demo", ""},
	})
}

// devCommandNames, which the production build answers with where to get
// them, are exactly the developer build's own commands.
func TestDevCommandNamesAreTheDeveloperCommands(t *testing.T) {
	var names []string
	for _, c := range devCommands() {
		names = append(names, c.name)
	}
	if !slices.Equal(names, devCommandNames) {
		t.Errorf("devCommands() are %v, devCommandNames %v: keep them the same", names, devCommandNames)
	}
	if !strings.Contains(strings.Join(names, " "), "demo") {
		t.Errorf("the developer build has no demo command: README's 'go run ./cmd/receiptd demo' would fail")
	}
}
