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

func commands() []command {
	return []command{
		{"run", "consume events and set read receipts (the worker)", runCmd},
		{"demo", "run the whole pipeline on this machine: in-process Kafka, ZIM simulator, synthetic traffic", demoCmd},
		{"dlq", "inspect or replay the dead-letter topic (dlq inspect | dlq replay)", dlqCmd},
		{"zimfake", "serve the ZIM simulator over HTTP, for tests and local use", zimfakeCmd},
		{"check", "validate the config and reach Kafka and ZIM", checkCmd},
		{"bench", "measure throughput, API efficiency, latency, scale-out and memory", benchCmd},
		{"version", "print the version", versionCmd},
	}
}

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

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: receiptd <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
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
