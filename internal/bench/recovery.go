package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/receiptd/receiptd/deadletter"
	"github.com/receiptd/receiptd/internal/ownkafka"
	"github.com/receiptd/receiptd/internal/sandbox"
	"github.com/receiptd/receiptd/internal/traffic"
	"github.com/receiptd/receiptd/retry"
	"github.com/receiptd/receiptd/zimapi/zimfake"
)

// Scenario (f) measures what recovering from a fault costs: the same
// backlog, consumed by one worker at a time, once without a fault and once
// per fault, and what each fault adds: receipts sent twice, dead letters
// written twice, calls, and time.

// Sizes and goals of the recovery scenario.
const (
	recoveryRecords = 20_000
	recoveryRPS     = 200
	recoveryPause   = 15 * time.Second
	// The goals hold for the broker faults.
	goalRecoveryDuplicates = 5.0 // % of all receipts
	goalRecoveryEfficiency = 0.95
)

// recoveryFault is one run of the scenario.
type recoveryFault struct {
	id, name string
	// at are the shares of the expected receipts at ZIM at which the fault
	// strikes, one per strike.
	at []float64
	// strike injects the fault; it may replace the worker.
	strike func(ctx context.Context, rr *recoveryRun) error
	// keys override the worker's configuration.
	keys map[string]string
	// brokerFault: the goals apply, and the Kafka must be one the
	// scenario controls.
	brokerFault bool
}

// brokerControl injects faults into the Kafka of scenario (f): the
// in-process one, or a real broker of the scenario's own.
type brokerControl interface {
	pause(ctx context.Context, e *env) error
	resume(ctx context.Context, e *env) error
	restart(ctx context.Context, e *env) error
}

// recoveryRun is one run's state while a fault strikes.
type recoveryRun struct {
	r      *runner
	e      *env
	broker brokerControl
	keys   map[string]string
	worker *child
	starts int // workers started
}

// startWorker starts the run's next worker.
func (rr *recoveryRun) startWorker() error {
	rr.starts++
	w, err := rr.e.startWorker(fmt.Sprintf("%s-receiptd-%d", rr.e.id, rr.starts), rr.keys)
	if err != nil {
		return err
	}
	rr.worker = w
	return nil
}

// stopWorker sends the worker SIGTERM once it handles the signal, and
// waits for its exit.
func (rr *recoveryRun) stopWorker(ctx context.Context) error {
	err := waitFor(ctx, time.Minute, 20*time.Millisecond, []*child{rr.worker}, func(context.Context) (bool, error) {
		return rr.worker.logged(`"msg":"starting receiptd"`)
	})
	if err != nil {
		return err
	}
	_, err = rr.worker.stop(time.Minute)
	return err
}

// recoveryResult is what one run measured.
type recoveryResult struct {
	receipts, duplicates int64 // distinct receipts accepted, and acceptances beyond the first
	missing              int   // expected receipts never accepted
	calls                int64
	deadLetters          int // records in the dead-letter topic
	deadLetterCopies     int // beyond the first per source record
	took                 time.Duration
}

func (r *runner) recovery(ctx context.Context) (Scenario, error) {
	sc := Scenario{Title: "the cost of recovering from faults"}
	// Traffic without client retries: every receipt accepted twice is then
	// a redelivery.
	tcfg := traffic.DefaultConfig()
	tcfg.Seed, tcfg.DuplicateFraction = r.opts.Seed, 0
	gen, err := traffic.New(tcfg)
	if err != nil {
		return sc, err
	}
	n := max(int(float64(recoveryRecords)*r.opts.Scale), 1000)
	tally := traffic.NewTally(tcfg)
	records := make([]traffic.Record, n)
	now := time.Now()
	for i := range records {
		records[i] = gen.Next(now)
		tally.Add(records[i])
	}

	broker, brokers, cleanup, err := r.recoveryKafka(ctx)
	if err != nil {
		return sc, err
	}
	defer cleanup()
	kafkaNote := "the in-process Kafka (kfake): a pause blocks its only goroutine, a restart closes it and opens it again on its port and data"
	if brokers != nil {
		kafkaNote = fmt.Sprintf("a real broker of the scenario's own at %s (scripts/kafka.sh pause, resume, restart)", brokers[0])
	}

	results := map[string]recoveryResult{}
	var faultFree recoveryResult
	for _, f := range recoveryFaults() {
		res, err := r.recoveryRunOnce(ctx, f, broker, brokers, tcfg, records, tally)
		if err != nil {
			return sc, fmt.Errorf("%s: %w", f.name, err)
		}
		results[f.id] = res
		if f.id == "none" {
			faultFree = res
		}
		sc.Figures = append(sc.Figures, recoveryFigures(f, res, faultFree, tally)...)
		r.logf("scenario f: %s: %d receipts, %d sent twice, %d calls (ideal %d), %d dead letters (%d copies), %s",
			f.name, res.receipts, res.duplicates, res.calls, tally.IdealCalls(10), res.deadLetters, res.deadLetterCopies,
			res.took.Round(100*time.Millisecond))
	}
	lost := 0
	for _, res := range results {
		lost += res.missing
	}
	sc.Figures = append(sc.Figures, figure("expected receipts not acknowledged, all runs", "", float64(lost)).goal("<=", 0))
	sc.Notes = append(sc.Notes, fmt.Sprintf("%d records preloaded on 8 partitions (%d receipts, ideal %d calls, %d to dead-letter), "+
		"realistic traffic without client retries; one worker at zim.rate_limit_rps=%d with the default Kafka settings; "+
		"simulator latency log-normal p50 15ms p99 120ms; Kafka: %s. "+
		"Each fault's figures stand beside the fault-free run's; seconds of API budget are the duplicate receipts over the fault-free run's receipts per second",
		n, tally.Receipts(), tally.IdealCalls(10), tally.Malformed()+tally.Rejected(), recoveryRPS, kafkaNote))
	return sc, nil
}

// recoveryFaults are the runs of the scenario, the fault-free one first.
func recoveryFaults() []recoveryFault {
	kill := func(ctx context.Context, rr *recoveryRun) error {
		rr.worker.kill()
		return rr.startWorker()
	}
	term := func(ctx context.Context, rr *recoveryRun) error {
		if err := rr.stopWorker(ctx); err != nil {
			return err
		}
		return rr.startWorker()
	}
	pause := func(ctx context.Context, rr *recoveryRun) error {
		if err := rr.broker.pause(ctx, rr.e); err != nil {
			return err
		}
		// The fault lasts a fixed time by design.
		_ = retry.Sleep(ctx, recoveryPause)
		return rr.broker.resume(ctx, rr.e)
	}
	restart := func(ctx context.Context, rr *recoveryRun) error { return rr.broker.restart(ctx, rr.e) }
	three := []float64{0.2, 0.45, 0.7}
	return []recoveryFault{
		{id: "none", name: "fault-free"},
		{id: "kill", name: "kill -9 x3", at: three, strike: kill},
		// With the default 25 s drain the first SIGTERM finishes nearly the
		// whole backlog; a short drain leaves work in flight at every signal.
		{id: "term", name: "SIGTERM x3", at: three, strike: term},
		{id: "term2s", name: "SIGTERM x3 (drain 2s)", at: three, strike: term, keys: map[string]string{"shutdown.drain_timeout": "2s"}},
		{id: "pause", name: "broker paused 15s", at: []float64{1.0 / 3}, strike: pause, brokerFault: true},
		{id: "restart", name: "broker restarted", at: []float64{1.0 / 3}, strike: restart, brokerFault: true},
	}
}

// recoveryRunOnce runs f on a fresh topic with the backlog records.
func (r *runner) recoveryRunOnce(ctx context.Context, f recoveryFault, broker brokerControl, brokers []string,
	tcfg traffic.Config, records []traffic.Record, tally *traffic.Tally) (recoveryResult, error) {
	var res recoveryResult
	zcfg := zimfake.DefaultConfig()
	zcfg.RPS, zcfg.Latency = recoveryRPS, simulatorLatency
	zcfg.FailGroups, zcfg.FailUsers = tcfg.FailingGroups, tcfg.FailingUsers
	id := "f-" + f.id
	scfg := sandbox.Config{Partitions: 8, Brokers: brokers, ZIM: zcfg}
	if brokers == nil {
		scfg.KafkaDataDir = filepath.Join(r.opts.Dir, id+"-kafka")
	}
	e, err := r.newEnvWith(ctx, id, scfg)
	if err != nil {
		return res, err
	}
	defer e.close()
	if err := e.preload(ctx, len(records), replayed(records), nil); err != nil {
		return res, err
	}

	group := "bench-" + id
	keys := e.keys(group)
	keys["zim.rate_limit_rps"] = fmt.Sprint(recoveryRPS)
	keys["kafka.commit_interval"] = "1s" // the default: what one commit interval of work costs is a figure
	for k, v := range f.keys {
		keys[k] = v
	}
	rr := &recoveryRun{r: r, e: e, broker: broker, keys: keys}
	began := time.Now()
	if err := rr.startWorker(); err != nil {
		return res, err
	}
	defer func() { rr.worker.kill() }()
	want := int64(tally.Receipts())
	for k, at := range f.at {
		target := int64(at * float64(want))
		// Joined first, so that every strike hits a worker at work.
		err := waitFor(ctx, 5*time.Minute, 20*time.Millisecond, []*child{rr.worker}, func(context.Context) (bool, error) {
			joined, err := rr.worker.logged(`"msg":"joined consumer group"`)
			return joined && e.box.ZIM.Stats().DistinctReceipts >= target, err
		})
		if err != nil {
			return res, fmt.Errorf("waiting for %d receipts before strike %d: %w", target, k+1, err)
		}
		r.logf("scenario f: %s: strike %d at %d of %d receipts", f.name, k+1, e.box.ZIM.Stats().DistinctReceipts, want)
		if err := f.strike(ctx, rr); err != nil {
			return res, fmt.Errorf("strike %d: %w", k+1, err)
		}
	}
	prog, err := e.follow(ctx, group, int64(len(records)), 10*time.Minute, []*child{rr.worker})
	if err != nil {
		return res, fmt.Errorf("receiptd worker: %w", err)
	}
	res.took = prog.last.Sub(began)
	if err := rr.stopWorker(ctx); err != nil {
		return res, err
	}

	st := e.box.ZIM.Stats()
	res.calls, res.receipts = st.Calls, st.DistinctReceipts
	for _, d := range e.box.ZIM.DistinctReceipts() {
		res.duplicates += d.Count - 1
	}
	res.missing = missingReceipts(tally, e.box.ZIM)
	res.deadLetters, res.deadLetterCopies, err = countDeadLetters(ctx, e)
	return res, err
}

// recoveryFigures are one run's figures; the fault-free run's are its
// baseline.
func recoveryFigures(f recoveryFault, res, faultFree recoveryResult, tally *traffic.Tally) []Figure {
	at := ", " + f.name
	dupShare := 100 * ratioOf(res.duplicates, res.receipts)
	pace := float64(faultFree.receipts) / faultFree.took.Seconds()
	eff := float64(tally.IdealCalls(10)) / float64(res.calls)
	figs := []Figure{
		figure("receipts sent twice"+at, "%", dupShare),
		figure("  in seconds of API budget", "s", float64(res.duplicates)/pace),
		figure("dead letters written twice"+at, "", float64(res.deadLetterCopies)),
		figure("efficiency (ideal / calls)"+at, "", eff),
		figure("time to finish"+at, "s", res.took.Seconds()),
	}
	if f.brokerFault {
		figs[0] = figs[0].goal("<=", goalRecoveryDuplicates)
		figs[2] = figs[2].goal("<=", 0)
		figs[3] = figs[3].goal(">=", goalRecoveryEfficiency)
	}
	if len(f.at) > 1 {
		// One commit interval (1s) of work at the fault-free pace.
		figs = append(figs, figure("  per strike, in commit intervals of work", "", float64(res.duplicates)/pace/float64(len(f.at))))
	}
	return figs
}

// countDeadLetters returns the records of the dead-letter topic and how
// many of them repeat a source record already there.
func countDeadLetters(ctx context.Context, e *env) (records, copies int, err error) {
	ends, err := e.box.EndOffsets(ctx, e.dlqTopic)
	if err != nil {
		return 0, 0, err
	}
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(e.box.Brokers...), Timeout: 30 * time.Second, Transport: transport}
	type source struct {
		partition int
		offset    int64
	}
	seen := map[source]bool{}
	for p, end := range ends {
		for next := int64(0); next < end; {
			resp, err := client.Fetch(ctx, &kafka.FetchRequest{Topic: e.dlqTopic, Partition: p, Offset: next,
				MinBytes: 1, MaxBytes: 8 << 20, MaxWait: 500 * time.Millisecond})
			if err == nil {
				err = resp.Error
			}
			if err != nil {
				return records, copies, fmt.Errorf("read dead-letter topic %s/%d at %d: %w", e.dlqTopic, p, next, err)
			}
			for {
				rec, err := resp.Records.ReadRecord()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					return records, copies, fmt.Errorf("read dead-letter topic %s/%d: %w", e.dlqTopic, p, err)
				}
				if rec.Offset < next {
					continue
				}
				next = rec.Offset + 1
				info, err := deadletter.Parse(kafka.Message{Headers: rec.Headers})
				if err != nil {
					return records, copies, err
				}
				records++
				s := source{info.SourcePartition, info.SourceOffset}
				if seen[s] {
					copies++
				}
				seen[s] = true
			}
		}
	}
	return records, copies, nil
}

// recoveryKafka returns the brokers scenario (f) runs on and how to fault
// them: a broker of its own when Options.KafkaScript is set (brokers is its
// address), else the in-process Kafka of each run (brokers is nil).
func (r *runner) recoveryKafka(ctx context.Context) (brokerControl, []string, func(), error) {
	if r.opts.KafkaScript == "" {
		return sandboxKafka{}, nil, func() {}, nil
	}
	r.logf("scenario f: starting a broker of its own with %s", r.opts.KafkaScript)
	b, err := ownkafka.Start(ctx, r.opts.KafkaScript, filepath.Join(r.opts.Dir, "f-kafka"))
	if err != nil {
		return nil, nil, nil, err
	}
	stop := func() {
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := b.Stop(sctx); err != nil {
			r.logf("scenario f: stopping its broker: %v", err)
		}
	}
	return scriptKafka{b}, []string{b.Addr}, stop, nil
}

// sandboxKafka faults the in-process Kafka of the run's sandbox.
type sandboxKafka struct{}

func (sandboxKafka) pause(_ context.Context, e *env) error { return e.box.PauseKafka() }
func (sandboxKafka) resume(_ context.Context, e *env) error {
	e.box.ResumeKafka()
	return nil
}
func (sandboxKafka) restart(ctx context.Context, e *env) error { return e.box.RestartKafka(ctx, 0) }

// scriptKafka faults a real broker started with scripts/kafka.sh.
type scriptKafka struct{ b *ownkafka.Broker }

func (s scriptKafka) pause(ctx context.Context, _ *env) error   { return s.b.Pause(ctx) }
func (s scriptKafka) resume(ctx context.Context, _ *env) error  { return s.b.Resume(ctx) }
func (s scriptKafka) restart(ctx context.Context, _ *env) error { return s.b.Restart(ctx, 0) }
