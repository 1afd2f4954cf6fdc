//go:build !receiptd_prod

package main

import (
	"context"
	"fmt"

	"maps"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/receiptd/receiptd/deadletter"
	"github.com/receiptd/receiptd/internal/config"
	"github.com/receiptd/receiptd/internal/pipeline"
	"github.com/receiptd/receiptd/internal/sandbox"
	"github.com/receiptd/receiptd/internal/telemetry"
	"github.com/receiptd/receiptd/internal/traffic"
	"github.com/receiptd/receiptd/worker"
	"github.com/receiptd/receiptd/zimapi"
	"github.com/receiptd/receiptd/zimapi/zimfake"
)

func demoCmd(ctx context.Context, args []string, s streams) int {
	fs := newFlags("demo", "demo [flags]", `
Run receiptd's real pipeline on this machine with nothing to install: an
in-process Kafka cluster, the ZIM simulator at ZIM's default limit of 20
requests/s per action (with a disbanded group and a deactivated user that it
rejects, and some latency and busy answers), and synthetic traffic of many
users reading bursts of messages in many groups and chats, a few records
malformed. Prints a progress line, then a report: what reached ZIM, how well
calls were filled, that the rate limit held, what was dead-lettered, and the
latency from read to receipt. Stops by itself when all is done or at
--duration, draining like a SIGTERM.`, s)
	events := fs.Int("events", 4000, "events to produce")
	perSec := fs.Float64("rate", 200, "events produced per second (faster than ZIM's limit absorbs, so a backlog forms)")
	duration := fs.Duration("duration", 2*time.Minute, "stop after this long even if work is left")
	seed := fs.Int64("seed", 1, "seed of the traffic and of the simulator's failures")
	rps := fs.Float64("rps", zimapi.RateLimitRPS, "the simulator's rate limit and receiptd's budget, requests/s per action")
	malformed := fs.Float64("malformed", 0.005, "fraction of malformed records")
	failing := fs.Float64("failing", 0.005, "fraction of records about a group or user that ZIM rejects")
	logPath := fs.String("log", "", "file for receiptd's JSON logs (default: a new file in the temp directory)")
	if code, ok := parse(fs, args, s); !ok {
		return code
	}
	if *events < 1 || !(*perSec > 0) || !(*rps >= 1) || *duration <= 0 || *malformed < 0 || *failing < 0 {
		fmt.Fprintln(s.errOut, "receiptd demo: --events, --rate, --duration must be positive, --rps at least 1, fractions not negative")
		fs.Usage()
		return exitUsage
	}
	d := &demo{s: s, events: *events, perSec: *perSec, duration: *duration, seed: *seed, rps: *rps}
	d.traffic = traffic.DefaultConfig()
	d.traffic.Seed, d.traffic.MalformedFraction, d.traffic.FailingFraction = *seed, *malformed, *failing
	d.traffic.Users, d.traffic.Groups = 2000, 200
	if err := d.openLog(*logPath); err != nil {
		fmt.Fprintf(s.errOut, "receiptd demo: %v\n", err)
		return exitFailure
	}
	defer d.logFile.Close()
	if err := d.run(ctx); err != nil {
		fmt.Fprintf(s.errOut, "receiptd demo: %v\n", err)
		return exitFailure
	}
	return exitOK
}

type demo struct {
	s        streams
	events   int
	perSec   float64
	duration time.Duration
	seed     int64
	rps      float64
	traffic  traffic.Config

	logFile *os.File
	tally   *traffic.Tally
	box     *sandbox.Sandbox

	mu        sync.Mutex
	latencies []time.Duration
	produced  int
}

func (d *demo) openLog(path string) error {
	var err error
	if path == "" {
		d.logFile, err = os.CreateTemp("", "receiptd-demo-*.log")
	} else {
		d.logFile, err = os.Create(path)
	}
	return err
}

func (d *demo) run(ctx context.Context) error {
	start := time.Now()
	zcfg := zimfake.DefaultConfig()
	zcfg.RPS, zcfg.Seed = d.rps, d.seed
	zcfg.FailGroups, zcfg.FailUsers = d.traffic.FailingGroups, d.traffic.FailingUsers
	zcfg.TransientRate = 0.01
	zcfg.Latency = zimfake.LogNormalLatency(15*time.Millisecond, 120*time.Millisecond)
	box, err := sandbox.Start(ctx, sandbox.Config{ZIM: zcfg})
	if err != nil {
		return err
	}
	defer box.Close()
	d.box = box

	cfg := box.Configure(config.Default())
	cfg.Kafka.GroupID = "receiptd-demo"
	cfg.Log.SummaryInterval = 10 * time.Second
	cfg.ZIM.RateLimitRPS = int(d.rps)
	cfg.Shutdown.DrainTimeout = 10 * time.Second
	log, err := telemetry.NewLoggerTo(d.logFile, "info")
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	p, err := pipeline.New(pipeline.Options{Config: cfg, Log: log, HTTPListener: ln, WorkerID: "demo", OnDone: d.onDone})
	if err != nil {
		ln.Close()
		return err
	}
	fmt.Fprintf(d.s.out, "receiptd demo: %d events at %.0f/s into an in-process Kafka (%s, 8 partitions); ZIM simulator at %s (%.0f req/s per action)\n",
		d.events, d.perSec, cfg.Kafka.Topic, box.ZIMURL, d.rps)
	fmt.Fprintf(d.s.out, "metrics at http://%s/metrics, logs in %s\n\n", ln.Addr(), d.logFile.Name())

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	pipeErr := make(chan error, 1)
	go func() { pipeErr <- p.Run(runCtx) }()
	prodErr := make(chan error, 1)
	go func() { prodErr <- d.produce(runCtx) }()

	deadline := time.After(d.duration)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	reason := "all events done"
loop:
	for {
		select {
		case err := <-prodErr:
			if err != nil && runCtx.Err() == nil {
				stop()
				<-pipeErr
				return fmt.Errorf("produce traffic: %w", err)
			}
			prodErr = nil
		case err := <-pipeErr:
			return fmt.Errorf("pipeline stopped: %w", err)
		case <-deadline:
			reason = "stopped at --duration"
			break loop
		case <-ctx.Done():
			reason = "interrupted"
			break loop
		case <-tick.C:
			st, dead := p.Worker().Stats(), p.DeadLetters().Stats()
			d.progress(time.Since(start), st, dead, p.Lag())
			if prodErr == nil && int(st.RecordsDone+dead.Done()) >= d.events {
				break loop
			}
		}
	}
	fmt.Fprintln(d.s.out)
	stop() // the drain and the final commit run now, as at a SIGTERM
	if err := <-pipeErr; err != nil {
		return fmt.Errorf("pipeline stopped: %w", err)
	}
	d.report(time.Since(start), reason, p)
	return nil
}

// produce writes the demo's traffic at d.perSec, in small batches.
func (d *demo) produce(ctx context.Context) error {
	g, err := traffic.New(d.traffic)
	if err != nil {
		return err
	}
	d.tally = traffic.NewTally(d.traffic)
	w := d.box.Writer()
	defer w.Close()
	const tick = 50 * time.Millisecond
	perTick := max(1, int(d.perSec*tick.Seconds()))
	t := time.NewTicker(tick)
	defer t.Stop()
	for sent := 0; sent < d.events; {
		batch := make([]kafka.Message, 0, perTick)
		for i := 0; i < perTick && sent < d.events; i++ {
			r := g.Next(time.Now())
			d.tally.Add(r)
			batch = append(batch, kafka.Message{Key: r.Key, Value: r.Value})
			sent++
		}
		if err := w.WriteMessages(ctx, batch...); err != nil {
			return err
		}
		d.mu.Lock()
		d.produced = sent
		d.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

func (d *demo) onDone(r *worker.Record) {
	if r.ReadAt.IsZero() {
		return
	}
	lat := time.Since(r.ReadAt)
	d.mu.Lock()
	d.latencies = append(d.latencies, lat)
	d.mu.Unlock()
}

func (d *demo) progress(elapsed time.Duration, st worker.Stats, dead deadletter.Stats, lag map[int]int64) {
	var total int64
	for _, n := range lag {
		total += n
	}
	d.mu.Lock()
	produced := d.produced
	d.mu.Unlock()
	zs := d.box.ZIM.Stats()
	fmt.Fprintf(d.s.out, "[%3.0fs] produced %d/%d  done %d  lag %d  pending %d  calls %d  seqs/call %.1f  receipts %d  rate-limited %d  dead-lettered %d\n",
		elapsed.Seconds(), produced, d.events, st.RecordsDone+dead.Done(), total, st.Pending+dead.Pending, st.Calls,
		ratio(st.SeqsSent, st.Calls), st.SeqsAcked, zs.RateLimited, dead.Done())
}

func (d *demo) report(elapsed time.Duration, reason string, p *pipeline.Pipeline) {
	st, dead := p.Worker().Stats(), p.DeadLetters().Stats()
	zs := d.box.ZIM.Stats()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dlqRecords, _ := d.box.Count(ctx, "message-read-dlq")

	missing := 0
	for r := range d.tally.Expected() {
		if !d.box.ZIM.Seen(r.Action, r.UserID, r.ConvID, r.Seq) {
			missing++
		}
	}
	ideal := d.tally.IdealCalls(10)
	w := d.s.out
	fmt.Fprintf(w, "receiptd demo report (%s, %s)\n", elapsed.Round(100*time.Millisecond), reason)
	row := func(label, format string, args ...any) {
		fmt.Fprintf(w, "  %-30s %s\n", label, fmt.Sprintf(format, args...))
	}
	row("events produced", "%d (%d malformed, %d for a group or user ZIM rejects)", d.tally.Records(), d.tally.Malformed(), d.tally.Rejected())
	row("events done", "%d (committed; anything else stays uncommitted for the next run)", st.RecordsDone+dead.Done())
	row("receipts expected", "%d distinct (action, reader, conversation, seq)", d.tally.Receipts())
	if missing == 0 {
		row("receipts acknowledged", "%d by ZIM: every expected receipt arrived", zs.DistinctReceipts)
	} else {
		row("receipts acknowledged", "%d by ZIM; %d expected receipts not (yet) sent", zs.DistinctReceipts, missing)
	}
	row("API calls", "%d, of which %d accepted (fewest possible for this traffic: %d)", zs.Calls, zs.AcceptedCalls, ideal)
	row("seqs per call", "%.2f (cap 10)", ratio(uint64(zs.AcceptedReceipts), uint64(zs.AcceptedCalls)))
	row("peak calls in 1 s per action", "%s (limit %.0f)", peakString(zs.PeakPerSecond), d.rps)
	row("rate-limited answers", "%d (660300005)", zs.RateLimited)
	row("busy answers retried", "%d (code 1, backed off and sent again)", zs.ByCode[1])
	row("dead-lettered", "invalid_event %d, rejected %d, exhausted %d (DLQ topic holds %d records)",
		dead.DeadLettered[worker.FailInvalidEvent], dead.DeadLettered[worker.FailRejected], dead.DeadLettered[worker.FailExhausted], dlqRecords)
	p50, p99 := d.percentiles()
	row("latency, read to receipt", "p50 %s, p99 %s (includes the backlog the demo builds on purpose)", p50, p99)
	row("logs", "%s", d.logFile.Name())
	fmt.Fprintln(w, "\nNext: 'receiptd dlq inspect' on a real cluster shows what was dead-lettered and why; see README.md.")
}

func (d *demo) percentiles() (p50, p99 time.Duration) {
	d.mu.Lock()
	lat := slices.Clone(d.latencies)
	d.mu.Unlock()
	if len(lat) == 0 {
		return 0, 0
	}
	slices.Sort(lat)
	at := func(q float64) time.Duration {
		return lat[min(len(lat)-1, int(q*float64(len(lat))))].Round(time.Millisecond)
	}
	return at(0.50), at(0.99)
}

func peakString(peaks map[string]int64) string {
	var out string
	for _, a := range slices.Sorted(maps.Keys(peaks)) {
		if out != "" {
			out += ", "
		}
		out += fmt.Sprintf("%s %d", a, peaks[a])
	}
	if out == "" {
		return "-"
	}
	return out
}

func ratio(a, b uint64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
