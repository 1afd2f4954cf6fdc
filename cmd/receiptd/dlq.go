package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/receiptd/receiptd/deadletter"
	"github.com/receiptd/receiptd/internal/pipeline"
	"github.com/receiptd/receiptd/worker"
	"github.com/receiptd/receiptd/zimapi"
)

func dlqCmd(ctx context.Context, args []string, s streams) int {
	if len(args) > 0 {
		switch args[0] {
		case "inspect":
			return dlqInspectCmd(ctx, args[1:], s)
		case "replay":
			return dlqReplayCmd(ctx, args[1:], s)
		case "-h", "-help", "--help", "help":
			dlqUsage(s.out)
			return exitOK
		}
		fmt.Fprintf(s.errOut, "receiptd dlq: unknown subcommand %q\n\n", args[0])
	}
	dlqUsage(s.errOut)
	return exitUsage
}

func dlqUsage(w io.Writer) {
	fmt.Fprint(w, `Usage: receiptd dlq <inspect|replay> [flags]

  inspect  count the dead-letter topic's records by class and code, show samples
  replay   re-produce dead-lettered records to kafka.topic (or --to-topic)

Run 'receiptd dlq <subcommand> -h' for its flags.
`)
}

// dlqFilter holds the filter flags of the dlq commands.
type dlqFilter struct {
	class        string
	code         int64
	since, until string
}

func (f *dlqFilter) register(fs interface {
	StringVar(*string, string, string, string)
	Int64Var(*int64, string, int64, string)
}) {
	fs.StringVar(&f.class, "class", "", "only this class: invalid_event, rejected or exhausted")
	fs.Int64Var(&f.code, "code", 0, "only this ZIM return code")
	fs.StringVar(&f.since, "since", "", "only records dead-lettered at or after this time (RFC 3339, or a duration ago such as 2h)")
	fs.StringVar(&f.until, "until", "", "only records dead-lettered before this time (RFC 3339, or a duration ago)")
}

// resolve checks the filter's flags, listing every problem.
func (f *dlqFilter) resolve(now time.Time) (deadletter.Filter, error) {
	out := deadletter.Filter{Class: worker.FailureClass(f.class), Code: f.code}
	var errs []error
	if err := out.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("--%w", err))
	}
	var err error
	if out.Since, err = parseWhen(f.since, now); err != nil {
		errs = append(errs, fmt.Errorf("--since: %w", err))
	}
	if out.Until, err = parseWhen(f.until, now); err != nil {
		errs = append(errs, fmt.Errorf("--until: %w", err))
	}
	return out, errors.Join(errs...)
}

// parseWhen reads an RFC 3339 time or a duration before now; "" is zero.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a duration", s)
	}
	return t, nil
}

// dlqConfig loads the configuration the dlq commands need: Kafka only. It
// returns the dead-letter topic's and the source topic's name.
func dlqConfig(path string, s streams) (deadletter.Config, string, int, bool) {
	cfg, code, ok := loadConfig(path, s)
	if !ok {
		return deadletter.Config{}, "", code, false
	}
	ccfg, err := pipeline.ConsumerConfig(cfg, zap.NewNop())
	if err != nil {
		fmt.Fprintf(s.errOut, "receiptd: %v\n", err)
		return deadletter.Config{}, "", exitUsage, false
	}
	return pipeline.DeadLetterConfig(cfg, ccfg, ""), ccfg.Topic, exitOK, true
}

func dlqInspectCmd(ctx context.Context, args []string, s streams) int {
	fs := newFlags("dlq inspect", "dlq inspect [flags]", `
Read the dead-letter topic from its beginning to its current end and print
how many records it holds by class and ZIM code, when they failed, and a few
samples with the reason they failed and where they came from.`, s)
	path := fs.String("config", "", configHelp)
	samples := fs.Int("samples", 5, "how many sample records to print")
	var filter dlqFilter
	filter.register(fs)
	if code, ok := parse(fs, args, s); !ok {
		return code
	}
	flt, err := filter.resolve(time.Now())
	if err != nil {
		fmt.Fprintf(s.errOut, "receiptd dlq inspect: %v\n", err)
		return exitUsage
	}
	cfg, _, code, ok := dlqConfig(*path, s)
	if !ok {
		return code
	}
	sum, err := deadletter.Inspect(ctx, cfg, flt, *samples)
	if err != nil {
		fmt.Fprintf(s.errOut, "receiptd dlq inspect: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(s.out, "dead-letter topic %s: %d records, %d matching", cfg.Topic, sum.Total, sum.Matched)
	if sum.Unreadable > 0 {
		fmt.Fprintf(s.out, ", %d with receiptd headers missing or unreadable", sum.Unreadable)
	}
	fmt.Fprintln(s.out)
	if sum.Matched == 0 {
		return exitOK
	}
	fmt.Fprintf(s.out, "failed between %s and %s\n\n", sum.Oldest.Format(time.RFC3339), sum.Newest.Format(time.RFC3339))
	tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLASS\tCODE\tRECORDS\tMEANING")
	counts := sum.Counts
	keys := slices.SortedFunc(maps.Keys(counts), func(a, b deadletter.ClassCode) int {
		if c := counts[b] - counts[a]; c != 0 {
			return c
		}
		return strings.Compare(string(a.Class), string(b.Class))
	})
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", k.Class, k.Code, counts[k], codeMeaning(k.Code, k.Class))
	}
	_ = tw.Flush()
	if len(sum.Samples) > 0 {
		fmt.Fprintf(s.out, "\nsamples:\n")
		for _, l := range sum.Samples {
			fmt.Fprintln(s.out, describeLetter(l.Msg, l.Info))
		}
	}
	return exitOK
}

func codeMeaning(code int64, class worker.FailureClass) string {
	if class == worker.FailInvalidEvent {
		return "the record broke an event rule (see the message)"
	}
	if h := zimapi.Hint(code); h != "" {
		return h
	}
	return ""
}

func describeLetter(m kafka.Message, info deadletter.Info) string {
	value := string(m.Value)
	if len(value) > 160 {
		value = value[:160] + "…"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "- dlq %d/%d  %s code=%d action=%s failed_at=%s\n", m.Partition, m.Offset, info.Class, info.Code,
		orDash(info.Action), info.FailedAt.Format(time.RFC3339))
	fmt.Fprintf(&b, "    reason: %s\n", info.Message)
	fmt.Fprintf(&b, "    source: %s partition %d offset %d; request id %s; attempts %d; replayed %d time(s)\n",
		info.SourceTopic, info.SourcePartition, info.SourceOffset, orDash(info.RequestID), info.Attempts, info.ReplayCount)
	if len(info.FailedSeqs) > 0 {
		fmt.Fprintf(&b, "    failed seqs: %v\n", info.FailedSeqs)
	}
	if info.Truncated != nil {
		fmt.Fprintf(&b, "    cut to fit the dead-letter topic: %s; the value had %d bytes, SHA-256 %s\n",
			strings.Join(info.Truncated, ", "), info.OriginalValueSize, info.OriginalValueSHA256)
	}
	fmt.Fprintf(&b, "    value: %q", value)
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func dlqReplayCmd(ctx context.Context, args []string, s streams) int {
	fs := newFlags("dlq replay", "dlq replay [flags]", `
Re-produce dead-lettered records to the topic receiptd consumes (kafka.topic,
or --to-topic), unchanged but for one header: receiptd-replay-count goes up by
one. Fix the cause first (add the user to the group, register the user...),
then replay. Records already replayed --max-replays times are refused, so a
record that keeps failing cannot cycle forever. A record whose receiptd
headers are missing or unreadable is reported and skipped, and the replay goes
on. Only records dead-lettered from kafka.topic are replayed: a dead-letter
topic shared with another deployment keeps that deployment's records (they
are counted, and --all-sources replays them too). The dead-letter topic itself
is not changed; use --since/--until to avoid replaying the same records twice.
Start with --dry-run.`, s)
	path := fs.String("config", "", configHelp)
	dryRun := fs.Bool("dry-run", false, "print what would be replayed; produce nothing")
	maxReplays := fs.Int("max-replays", 3, "refuse records already replayed this many times")
	limit := fs.Int("limit", 0, "replay at most this many records (0: no limit)")
	perSec := fs.Float64("rate", 100, "records produced per second")
	toTopic := fs.String("to-topic", "", "produce to this topic instead of kafka.topic (never the dead-letter topic)")
	allSources := fs.Bool("all-sources", false, "also replay records dead-lettered from topics other than kafka.topic")
	var filter dlqFilter
	filter.register(fs)
	if code, ok := parse(fs, args, s); !ok {
		return code
	}
	var problems []error
	flt, err := filter.resolve(time.Now())
	if err != nil {
		problems = append(problems, err)
	}
	if *maxReplays < 1 {
		problems = append(problems, fmt.Errorf("--max-replays %d: want at least 1", *maxReplays))
	}
	if *limit < 0 {
		problems = append(problems, fmt.Errorf("--limit %d: want 0 or more", *limit))
	}
	if !(*perSec > 0) {
		problems = append(problems, fmt.Errorf("--rate %v: want more than 0", *perSec))
	}
	if err := errors.Join(problems...); err != nil {
		fmt.Fprintf(s.errOut, "receiptd dlq replay: %v\n", err)
		fs.Usage()
		return exitUsage
	}
	cfg, source, code, ok := dlqConfig(*path, s)
	if !ok {
		return code
	}
	target := source
	if *toTopic != "" {
		target = *toTopic
	}
	if target == cfg.Topic {
		fmt.Fprintf(s.errOut, "receiptd dlq replay: --to-topic %q is the dead-letter topic (kafka.dlq_topic): "+
			"its records would be dead letters again, never consumed\n", target)
		fs.Usage()
		return exitUsage
	}
	if err := deadletter.CheckTopic(ctx, cfg, target); err != nil {
		fmt.Fprintf(s.errOut, "receiptd dlq replay: %v\n", err)
		return exitFailure
	}
	var skipped, cut, wouldReplay int
	res, err := deadletter.Replay(ctx, cfg, deadletter.ReplayOptions{
		Filter: flt, From: source, AllSources: *allSources, To: target,
		MaxReplays: *maxReplays, Limit: *limit, Rate: *perSec, DryRun: *dryRun,
		Report: func(ev deadletter.ReplayEvent) {
			m, info := ev.Msg, ev.Info
			switch {
			case ev.Err == nil:
				if wouldReplay++; wouldReplay <= 10 {
					fmt.Fprintf(s.out, "would replay dlq %d/%d (%s, code %d) to %s\n", m.Partition, m.Offset, info.Class, info.Code, target)
				}
			case errors.Is(ev.Err, deadletter.ErrTruncated):
				if cut++; cut <= maxSkippedShown {
					fmt.Fprintf(s.errOut, "not replayed dlq %d/%d: its %s was cut to fit the dead-letter topic; the whole record is at %s partition %d offset %d\n",
						m.Partition, m.Offset, strings.Join(info.Truncated, ", "), info.SourceTopic, info.SourcePartition, info.SourceOffset)
				}
			default:
				skipped++
				reportSkipped(s.errOut, skipped, m, ev.Err)
			}
		},
	})
	if res.Skipped > maxSkippedShown {
		fmt.Fprintf(s.errOut, "... and %d more skipped records\n", res.Skipped-maxSkippedShown)
	}
	if res.Cut > maxSkippedShown {
		fmt.Fprintf(s.errOut, "... and %d more records cut to fit the dead-letter topic\n", res.Cut-maxSkippedShown)
	}
	if err != nil {
		fmt.Fprintf(s.errOut, "receiptd dlq replay: %v (replayed %d before the error)\n", err, res.Replayed)
		return exitFailure
	}
	verb := "replayed"
	if *dryRun {
		verb = "would replay"
	}
	fmt.Fprintf(s.out, "%s %d record(s) to %s", verb, res.Replayed, target)
	if len(res.Elsewhere) > 0 {
		var parts []string
		n := 0
		for _, t := range slices.Sorted(maps.Keys(res.Elsewhere)) {
			parts = append(parts, fmt.Sprintf("%q: %d", t, res.Elsewhere[t]))
			n += res.Elsewhere[t]
		}
		if *allSources {
			fmt.Fprintf(s.out, " (among them, dead-lettered from other topics than %s: %s)", source, strings.Join(parts, ", "))
		} else {
			fmt.Fprintf(s.out, "; %d left alone, dead-lettered from other topics than %s (%s; --all-sources replays them)",
				n, source, strings.Join(parts, ", "))
		}
	}
	fmt.Fprintf(s.out, "; %d not matching the filters; %d refused after %d replays", res.NotMatching, res.Refused, *maxReplays)
	if res.Skipped > 0 {
		fmt.Fprintf(s.out, "; %d skipped, their receiptd headers missing or unreadable (listed on stderr)", res.Skipped)
	}
	if res.Cut > 0 {
		fmt.Fprintf(s.out, "; %d not replayed because they were cut to fit the dead-letter topic: replay them from the source topic (listed on stderr)", res.Cut)
	}
	if res.LimitReached {
		fmt.Fprintf(s.out, "; stopped at --limit %d", *limit)
	}
	fmt.Fprintln(s.out)
	return exitOK
}

// maxSkippedShown bounds the lines that report skipped records, so that a
// topic full of foreign records does not flood the terminal.
const maxSkippedShown = 20

// reportSkipped reports the n-th skipped record and why it was skipped.
func reportSkipped(w io.Writer, n int, m kafka.Message, err error) {
	if n > maxSkippedShown {
		return
	}
	reason := err.Error()
	if he := (*deadletter.HeaderError)(nil); errors.As(err, &he) {
		reason = strings.Join(he.Problems, "; ")
	}
	fmt.Fprintf(w, "skipped dlq %d/%d: %s\n", m.Partition, m.Offset, reason)
}
