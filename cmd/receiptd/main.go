// Command receiptd consumes "message read" events from Kafka and sets read
// receipts through the ZEGOCLOUD ZIM server API, within the API's rate
// limit, losing nothing. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // receiptd ran and failed
	exitUsage   = 2 // bad flags, arguments or configuration
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], streams{out: os.Stdout, errOut: os.Stderr})
	stop()
	os.Exit(code)
}

// streams are where a command writes: its results to out, its diagnostics
// and logs to errOut.
type streams struct {
	out, errOut io.Writer
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, s streams) int
}

// commands are the commands of every build, then the developer build's own
// (devCommands).
func commands() []command {
	return append([]command{
		{"run", "consume events and set read receipts (the worker)", runCmd},
		{"check", "validate the config and reach Kafka and ZIM", checkCmd},
		{"dlq", "inspect or replay the dead-letter topic (dlq inspect | dlq replay)", dlqCmd},
		{"zimfake", "serve the ZIM simulator over HTTP, for local setups and tests", zimfakeCmd},
		{"version", "print the version", versionCmd},
	}, devCommands()...)
}

// productionTag is the build tag of the production build, the one the
// Dockerfile builds: it leaves out devCommandNames, and with them the
// in-process Kafka (kfake), the traffic generator and the benchmark harness.
const productionTag = "receiptd_prod"

// devCommandNames are the commands of the developer build only (devcmds.go).
var devCommandNames = []string{"demo", "bench"}

func run(ctx context.Context, args []string, s streams) int {
	if len(args) == 0 {
		usage(s.errOut)
		return exitUsage
	}
	switch name := args[0]; name {
	case "-h", "-help", "--help":
		usage(s.out)
		return exitOK
	case "-version", "--version":
		return versionCmd(ctx, nil, s)
	case "help":
		return helpCmd(ctx, args[1:], s)
	}
	if c, ok := findCommand(args[0]); ok {
		return c.run(ctx, args[1:], s)
	}
	if slices.Contains(devCommandNames, args[0]) {
		return notInThisBuild(args[0], s)
	}
	fmt.Fprintf(s.errOut, "receiptd: unknown command %q\n\n", args[0])
	usage(s.errOut)
	return exitUsage
}

// helpCmd is `receiptd help [command [subcommand]]`: the overview, or the
// help of one command, which is what `receiptd command -h` prints.
func helpCmd(ctx context.Context, args []string, s streams) int {
	if len(args) == 0 {
		usage(s.out)
		return exitOK
	}
	c, ok := findCommand(args[0])
	if !ok && slices.Contains(devCommandNames, args[0]) {
		return notInThisBuild(args[0], s)
	}
	if !ok {
		fmt.Fprintf(s.errOut, "receiptd help: unknown command %q\n\n", args[0])
		usage(s.errOut)
		return exitUsage
	}
	return c.run(ctx, append(slices.Clone(args[1:]), "-h"), s)
}

func findCommand(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// notInThisBuild answers a developer command in the production build: it
// says what is missing and where to get it, and exits 2.
func notInThisBuild(name string, s streams) int {
	fmt.Fprintf(s.errOut, "receiptd: this build has no %s command: it is the production build (-tags %s, as in the container image),\n", name, productionTag)
	fmt.Fprintln(s.errOut, "which leaves out the in-process Kafka, the traffic generator and the benchmark harness.")
	fmt.Fprintf(s.errOut, "Run it from a checkout of receiptd: 'go run ./cmd/receiptd %s', or build without -tags %s.\n", name, productionTag)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: receiptd <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands() {
		if slices.Contains(devCommandNames, c.name) {
			continue
		}
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	if dev := devCommands(); len(dev) > 0 {
		fmt.Fprintln(w, "Developer commands (not in the production build):")
		for _, c := range dev {
			fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
		}
	} else {
		fmt.Fprintf(w, "This is the production build (-tags %s): %s are in the developer build only\n",
			productionTag, strings.Join(devCommandNames, " and "))
		fmt.Fprintln(w, "('go run ./cmd/receiptd demo' from a checkout).")
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'receiptd <command> -h' or 'receiptd help <command>' for the command's flags,")
	fmt.Fprintln(w, "'receiptd --version' for the version.")
}

// newFlags returns a FlagSet whose usage names the command and explains it.
func newFlags(name, synopsis, explanation string, s streams) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(s.errOut)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: receiptd %s\n\n%s\n\nFlags:\n", synopsis, strings.TrimSpace(explanation))
		fs.PrintDefaults()
	}
	return fs
}

// hideFlags replaces fs's usage with one that leaves out the hidden flags:
// they are for the bench to start its workers and baseline as children, not
// options for an operator. Both builds use it (run has hidden flags too).
func hideFlags(fs *flag.FlagSet, synopsis, explanation string, hidden ...string) {
	visible := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
	fs.VisitAll(func(f *flag.Flag) {
		if !slices.Contains(hidden, f.Name) {
			visible.Var(f.Value, f.Name, f.Usage)
		}
	})
	fs.Usage = func() {
		w := fs.Output()
		visible.SetOutput(w)
		fmt.Fprintf(w, "Usage: receiptd %s\n\n%s\n\nFlags:\n", synopsis, strings.TrimSpace(explanation))
		visible.PrintDefaults()
	}
}

// parse parses args into fs. It returns the exit code to use and false when
// the command must stop: 0 after -h (the usage on stdout), 2 after a bad
// flag or a stray argument (the error and the usage on stderr). Usage
// printed later, for a bad flag value found after parsing, goes to stderr.
func parse(fs *flag.FlagSet, args []string, s streams) (int, bool) {
	// The flag package would print the error and the usage itself, both to
	// one writer; they are printed here instead, each where it belongs.
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(s.errOut)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(s.out)
		fs.Usage()
		fs.SetOutput(s.errOut)
		return exitOK, false
	case err != nil:
		fmt.Fprintf(s.errOut, "receiptd %s: %v\n\n", fs.Name(), err)
		fs.Usage()
		return exitUsage, false
	case fs.NArg() > 0:
		fmt.Fprintf(s.errOut, "receiptd %s: unexpected argument %q\n\n", fs.Name(), fs.Arg(0))
		fs.Usage()
		return exitUsage, false
	}
	return exitOK, true
}
