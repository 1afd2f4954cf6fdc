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
	"golang.org/x/time/rate"

	"github.com/receiptd/receiptd/consumer"
	"github.com/receiptd/receiptd/internal/pipeline"
	"github.com/receiptd/receiptd/internal/telemetry"
	"github.com/receiptd/receiptd/worker"
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

// dlqFilter selects dead-letter records.
type dlqFilter struct {
	class        string
	code         int64
	since, until string
	sinceT       time.Time
	untilT       time.Time
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
func (f *dlqFilter) resolve(now time.Time) error {
	var errs []error
	switch worker.FailureClass(f.class) {
	case "", worker.FailInvalidEvent, worker.FailRejected, worker.FailExhausted:
	default:
		errs = append(errs, fmt.Errorf("--class %q: want invalid_event, rejected or exhausted", f.class))
	}
	var err error
	if f.sinceT, err = parseWhen(f.since, now); err != nil {
		errs = append(errs, fmt.Errorf("--since: %w", err))
	}
	if f.untilT, err = parseWhen(f.until, now); err != nil {
		errs = append(errs, fmt.Errorf("--until: %w", err))
	}
	return errors.Join(errs...)
}

func (f *dlqFilter) match(info consumer.DeadLetterInfo) bool {
	return (f.class == "" || string(info.Class) == f.class) &&
		(f.code == 0 || info.Code == f.code) &&
		(f.sinceT.IsZero() || !info.FailedAt.Before(f.sinceT)) &&
		(f.untilT.IsZero() || info.FailedAt.Before(f.untilT))
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

// scanDLQ reads the dead-letter topic from its first record to its end as
// of the start of the scan, and calls fn for each record in partition
// order. A record written during the scan is not read.
func scanDLQ(ctx context.Context, cfg consumer.Config, fn func(kafka.Message) error) error {
	transport := cfg.Transport()
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Transport: transport, Timeout: cfg.DialTimeout}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{cfg.DLQTopic}})
	if err != nil {
		return fmt.Errorf("read metadata of %s: %w", cfg.DLQTopic, err)
	}
	if len(md.Topics) != 1 || md.Topics[0].Error != nil {
		if len(md.Topics) == 1 {
			err = md.Topics[0].Error
		}
		return fmt.Errorf("dead-letter topic %s: %w", cfg.DLQTopic, err)
	}
	var reqs []kafka.OffsetRequest
	for _, p := range md.Topics[0].Partitions {
		reqs = append(reqs, kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
	}
	offs, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{cfg.DLQTopic: reqs}})
	if err != nil {
		return fmt.Errorf("list offsets of %s: %w", cfg.DLQTopic, err)
	}
	parts := offs.Topics[cfg.DLQTopic]
	slices.SortFunc(parts, func(a, b kafka.PartitionOffsets) int { return a.Partition - b.Partition })
	for _, po := range parts {
		if po.Error != nil {
			return fmt.Errorf("offsets of %s partition %d: %w", cfg.DLQTopic, po.Partition, po.Error)
		}
		if po.FirstOffset >= po.LastOffset {
			continue
		}
		if err := scanPartition(ctx, cfg, po.Partition, po.FirstOffset, po.LastOffset, fn); err != nil {
			return err
		}
	}
	return nil
}

func scanPartition(ctx context.Context, cfg consumer.Config, partition int, first, end int64, fn func(kafka.Message) error) error {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: cfg.Brokers, Topic: cfg.DLQTopic, Partition: partition, Dialer: cfg.Dialer(),
		MaxWait: 500 * time.Millisecond, ReadLagInterval: -1, MaxBytes: 10 << 20,
	})
	defer r.Close()
	if err := r.SetOffset(first); err != nil {
		return err
	}
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			return fmt.Errorf("read %s partition %d: %w", cfg.DLQTopic, partition, err)
		}
		if err := fn(m); err != nil {
			return err
		}
		if m.Offset+1 >= end {
			return nil
		}
	}
}

// dlqConfig loads the configuration the dlq commands need: Kafka only.
func dlqConfig(path string, s streams) (consumer.Config, int, bool) {
	cfg, code, ok := loadConfig(path, s)
	if !ok {
		return consumer.Config{}, code, false
	}
	ccfg, err := pipeline.ConsumerConfig(cfg, zap.NewNop(), "")
	if err != nil {
		fmt.Fprintf(s.errOut, "receiptd: %v\n", err)
		return ccfg, exitUsage, false
	}
	return ccfg, exitOK, true
}

type classCode struct {
	class string
	code  int64
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
	if err := filter.resolve(time.Now()); err != nil {
		fmt.Fprintf(s.errOut, "receiptd dlq inspect: %v\n", err)
		return exitUsage
	}
	cfg, code, ok := dlqConfig(*path, s)
	if !ok {
		return code
	}
	counts := map[classCode]int{}
	var total, matched, unreadable int
	var oldest, newest time.Time
	var shown []string
	err := scanDLQ(ctx, cfg, func(m kafka.Message) error {
		total++
		info, err := consumer.ParseDeadLetter(m)
		if err != nil {
			unreadable++
			return nil
		}
		if !filter.match(info) {
			return nil
		}
		matched++
		counts[classCode{string(info.Class), info.Code}]++
		if oldest.IsZero() || info.FailedAt.Before(oldest) {
			oldest = info.FailedAt
		}
		if info.FailedAt.After(newest) {
			newest = info.FailedAt
		}
		if len(shown) < *samples {
			shown = append(shown, describeLetter(m, info))
		}
		return nil
	})
	if err != nil {
		fmt.Fprintf(s.errOut, "receiptd dlq inspect: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(s.out, "dead-letter topic %s: %d records, %d matching", cfg.DLQTopic, total, matched)
	if unreadable > 0 {
		fmt.Fprintf(s.out, ", %d with receiptd headers missing or unreadable", unreadable)
	}
	fmt.Fprintln(s.out)
	if matched == 0 {
		return exitOK
	}
	fmt.Fprintf(s.out, "failed between %s and %s\n\n", oldest.Format(time.RFC3339), newest.Format(time.RFC3339))
	tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLASS\tCODE\tRECORDS\tMEANING")
	keys := slices.SortedFunc(maps.Keys(counts), func(a, b classCode) int {
		if c := counts[b] - counts[a]; c != 0 {
			return c
		}
		return strings.Compare(a.class, b.class)
	})
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", k.class, k.code, counts[k], codeMeaning(k.code, k.class))
	}
	_ = tw.Flush()
	if len(shown) > 0 {
		fmt.Fprintf(s.out, "\nsamples:\n")
		for _, line := range shown {
			fmt.Fprintln(s.out, line)
		}
	}
	return exitOK
}

func codeMeaning(code int64, class string) string {
	if class == string(worker.FailInvalidEvent) {
		return "the record broke an event rule (see the message)"
	}
	if h := telemetry.Hint(code); h != "" {
		return h
	}
	return ""
}

func describeLetter(m kafka.Message, info consumer.DeadLetterInfo) string {
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
	if err := filter.resolve(time.Now()); err != nil {
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
	cfg, code, ok := dlqConfig(*path, s)
	if !ok {
		return code
	}
	target := cfg.Topic
	if *toTopic != "" {
		target = *toTopic
	}
	if target == cfg.DLQTopic {
		fmt.Fprintf(s.errOut, "receiptd dlq replay: --to-topic %q is the dead-letter topic (kafka.dlq_topic): "+
			"its records would be dead letters again, never consumed\n", target)
		fs.Usage()
		return exitUsage
	}
	if err := checkTopic(ctx, cfg, target); err != nil {
		fmt.Fprintf(s.errOut, "receiptd dlq replay: %v\n", err)
		return exitFailure
	}
	transport := cfg.Transport()
	defer transport.CloseIdleConnections()
	w := &kafka.Writer{
		Addr: kafka.TCP(cfg.Brokers...), Transport: transport, RequiredAcks: kafka.RequireAll,
		Balancer: kafka.Murmur2Balancer{}, BatchTimeout: 5 * time.Millisecond,
	}
	defer w.Close()
	pace := rate.NewLimiter(rate.Limit(*perSec), 1)
	var replayed, refused, notMatching, skipped, cut int
	// Records dead-lettered from another topic than kafka.topic, by topic:
	// replayed with --all-sources, left alone otherwise.
	fromElsewhere := map[string]int{}
	errLimit := errors.New("limit reached")
	err := scanDLQ(ctx, cfg, func(m kafka.Message) error {
		info, err := consumer.ParseDeadLetter(m)
		if err != nil {
			skipped++
			reportSkipped(s.errOut, skipped, m, err)
			return nil
		}
		if !filter.match(info) {
			notMatching++
			return nil
		}
		if info.SourceTopic != cfg.Topic && !*allSources {
			fromElsewhere[info.SourceTopic]++
			return nil
		}
		if info.ReplayCount >= *maxReplays {
			refused++
			return nil
		}
		if *limit > 0 && replayed >= *limit {
			return errLimit
		}
		out, err := consumer.ReplayMessage(m, target)
		if errors.Is(err, consumer.ErrTruncated) {
			cut++
			if cut <= maxSkippedShown {
				fmt.Fprintf(s.errOut, "not replayed dlq %d/%d: its %s was cut to fit the dead-letter topic; the whole record is at %s partition %d offset %d\n",
					m.Partition, m.Offset, strings.Join(info.Truncated, ", "), info.SourceTopic, info.SourcePartition, info.SourceOffset)
			}
			return nil
		}
		if err != nil {
			skipped++
			reportSkipped(s.errOut, skipped, m, err)
			return nil
		}
		if !*dryRun {
			if err := pace.Wait(ctx); err != nil {
				return err
			}
			wctx, cancel := context.WithTimeout(ctx, cfg.DLQWriteTimeout)
			err := w.WriteMessages(wctx, out)
			cancel()
			if err != nil {
				return fmt.Errorf("replay dlq %d/%d to %s: %w", m.Partition, m.Offset, target, err)
			}
		} else if replayed < 10 {
			fmt.Fprintf(s.out, "would replay dlq %d/%d (%s, code %d) to %s\n", m.Partition, m.Offset, info.Class, info.Code, target)
		}
		replayed++
		if info.SourceTopic != cfg.Topic {
			fromElsewhere[info.SourceTopic]++
		}
		return nil
	})
	if skipped > maxSkippedShown {
		fmt.Fprintf(s.errOut, "... and %d more skipped records\n", skipped-maxSkippedShown)
	}
	if cut > maxSkippedShown {
		fmt.Fprintf(s.errOut, "... and %d more records cut to fit the dead-letter topic\n", cut-maxSkippedShown)
	}
	if err != nil && !errors.Is(err, errLimit) {
		fmt.Fprintf(s.errOut, "receiptd dlq replay: %v (replayed %d before the error)\n", err, replayed)
		return exitFailure
	}
	verb := "replayed"
	if *dryRun {
		verb = "would replay"
	}
	fmt.Fprintf(s.out, "%s %d record(s) to %s", verb, replayed, target)
	if len(fromElsewhere) > 0 {
		var parts []string
		n := 0
		for _, t := range slices.Sorted(maps.Keys(fromElsewhere)) {
			parts = append(parts, fmt.Sprintf("%q: %d", t, fromElsewhere[t]))
			n += fromElsewhere[t]
		}
		if *allSources {
			fmt.Fprintf(s.out, " (among them, dead-lettered from other topics than %s: %s)", cfg.Topic, strings.Join(parts, ", "))
		} else {
			fmt.Fprintf(s.out, "; %d left alone, dead-lettered from other topics than %s (%s; --all-sources replays them)",
				n, cfg.Topic, strings.Join(parts, ", "))
		}
	}
	fmt.Fprintf(s.out, "; %d not matching the filters; %d refused after %d replays", notMatching, refused, *maxReplays)
	if skipped > 0 {
		fmt.Fprintf(s.out, "; %d skipped, their receiptd headers missing or unreadable (listed on stderr)", skipped)
	}
	if cut > 0 {
		fmt.Fprintf(s.out, "; %d not replayed because they were cut to fit the dead-letter topic: replay them from the source topic (listed on stderr)", cut)
	}
	if errors.Is(err, errLimit) {
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
	if he := (*consumer.HeaderError)(nil); errors.As(err, &he) {
		reason = strings.Join(he.Problems, "; ")
	}
	fmt.Fprintf(w, "skipped dlq %d/%d: %s\n", m.Partition, m.Offset, reason)
}

// checkTopic reports whether topic exists.
func checkTopic(ctx context.Context, cfg consumer.Config, topic string) error {
	transport := cfg.Transport()
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Transport: transport, Timeout: cfg.DialTimeout}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return fmt.Errorf("read metadata of topic %q: %w", topic, err)
	}
	for _, t := range md.Topics {
		if t.Name == topic && t.Error != nil {
			return fmt.Errorf("topic %q: %w", topic, t.Error)
		}
		if t.Name == topic {
			return nil
		}
	}
	return fmt.Errorf("topic %q: %w", topic, kafka.UnknownTopicOrPartition)
}
