package bench

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/receiptd/receiptd/internal/sandbox"
	"github.com/receiptd/receiptd/internal/traffic"
	"github.com/receiptd/receiptd/zimapi/zimfake"
)

// env is one scenario's surroundings: Kafka with its topics, the ZIM
// simulator, and what the harness needs to watch consumer groups.
type env struct {
	r               *runner
	id              string
	box             *sandbox.Sandbox
	topic, dlqTopic string
	partitions      int
	watch           *groupWatch
}

// envSpec is what a scenario runs on: its topic, the traffic it writes
// there and the simulator that answers receiptd.
type envSpec struct {
	id         string // names its topics on real brokers, and its progress lines
	partitions int
	// traffic is the scenario's traffic; the simulator rejects the groups
	// and users it names as failing, as ZIM would.
	traffic traffic.Config
	rps     float64 // the simulator's limit per action; 0: none
	// delayed makes the simulator answer after simulatorLatency, where a
	// scenario measures time against a limit; otherwise it answers at once.
	delayed bool
}

// simulatorLatency is the simulator's answer delay in the scenarios that
// measure time against a limit: log-normal, p50 15ms and p99 120ms, as
// their notes say.
var simulatorLatency = zimfake.LogNormalLatency(15*time.Millisecond, 120*time.Millisecond)

// seededTraffic returns the default traffic mix with the run's seed.
func (r *runner) seededTraffic() traffic.Config {
	tcfg := traffic.DefaultConfig()
	tcfg.Seed = r.opts.Seed
	return tcfg
}

// startEnv starts the environment spec describes (newEnv), and the
// generator of its traffic.
func (r *runner) startEnv(ctx context.Context, spec envSpec) (*env, *traffic.Generator, error) {
	gen, err := traffic.New(spec.traffic)
	if err != nil {
		return nil, nil, err
	}
	zcfg := zimfake.DefaultConfig()
	zcfg.RPS = spec.rps
	zcfg.FailGroups, zcfg.FailUsers = spec.traffic.FailingGroups, spec.traffic.FailingUsers
	if spec.delayed {
		zcfg.Latency = simulatorLatency
	}
	e, err := r.newEnv(ctx, spec.id, spec.partitions, zcfg)
	return e, gen, err
}

// newEnv starts a sandbox for scenario id: an in-process Kafka, or fresh
// topics on the run's brokers, and the simulator configured by zcfg.
func (r *runner) newEnv(ctx context.Context, id string, partitions int, zcfg zimfake.Config) (*env, error) {
	return r.newEnvWith(ctx, id, sandbox.Config{Partitions: partitions, Brokers: r.opts.Brokers, ZIM: zcfg})
}

// newEnvWith starts the sandbox cfg describes, with scenario id's topics.
func (r *runner) newEnvWith(ctx context.Context, id string, cfg sandbox.Config) (*env, error) {
	cfg.Topic, cfg.DLQTopic = "message-read", "message-read-dlq"
	if len(cfg.Brokers) > 0 {
		name := fmt.Sprintf("receiptd-bench-%d-%s", r.started.Unix(), id)
		cfg.Topic, cfg.DLQTopic = name, name+"-dlq"
	}
	cfg.ZIM.Seed = r.opts.Seed
	box, err := sandbox.Start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &env{r: r, id: id, box: box, topic: cfg.Topic, dlqTopic: cfg.DLQTopic, partitions: cfg.Partitions,
		watch: newGroupWatch(box.Brokers, cfg.Topic)}, nil
}

func (e *env) close() { e.box.Close() }

// preload writes the n records next returns to the topic as fast as Kafka
// takes them, calling visit (if set) with each record and its partition,
// in order.
func (e *env) preload(ctx context.Context, n int, next func() traffic.Record, visit func(traffic.Record, int)) error {
	p, err := newProducer(e.box.Brokers, e.topic, e.partitions, 20*time.Millisecond)
	if err != nil {
		return err
	}
	defer p.close()
	began := time.Now()
	failed := newErrorOnce()
	for i := range n {
		rec := next()
		part := p.partition(rec.Key)
		if visit != nil {
			visit(rec, part)
		}
		p.produce(ctx, rec, part, failed)
		if i%100_000 == 99_999 {
			if err := failed.get(); err != nil {
				return fmt.Errorf("produce: %w", err)
			}
		}
	}
	if err := p.flush(ctx, failed); err != nil {
		return err
	}
	took := time.Since(began)
	e.r.logf("scenario %s: preloaded %d records in %s (%.0f/s)", e.id, n, took.Round(time.Millisecond), float64(n)/took.Seconds())
	return nil
}

// generated returns a source of gen's records for preload, each read now.
func generated(gen *traffic.Generator) func() traffic.Record {
	return func() traffic.Record { return gen.Next(time.Now()) }
}

// replayed returns a source of records for preload, in order.
func replayed(records []traffic.Record) func() traffic.Record {
	i := 0
	return func() traffic.Record { i++; return records[i-1] }
}

// keys returns the configuration every worker of the scenario shares:
// the sandbox's Kafka and simulator, no HTTP listener (several workers
// share the machine), commits every 250ms so that the harness sees
// progress finely, and a summary line every 10s in the worker's log.
func (e *env) keys(group string) map[string]string {
	return map[string]string{
		"kafka.brokers":         strings.Join(e.box.Brokers, ","),
		"kafka.topic":           e.topic,
		"kafka.dlq_topic":       e.dlqTopic,
		"kafka.group_id":        group,
		"kafka.commit_interval": "250ms",
		"zim.endpoint":          e.box.ZIMURL,
		"zim.app_id":            strconv.FormatUint(uint64(sandbox.AppID), 10),
		"zim.server_secret":     sandbox.Secret,
		"http.listen":           "",
		"log.summary_interval":  "10s",
	}
}

// startWorker starts `receiptd run` as child name, with extra arguments,
// and with profiles if the run asks for them.
func (e *env) startWorker(name string, keys map[string]string, extra ...string) (*child, error) {
	args := append([]string{"run"}, extra...)
	if e.r.opts.Profile {
		args = append(args,
			"--cpuprofile", filepath.Join(e.r.opts.Dir, name+".cpu.pprof"),
			"--memprofile", filepath.Join(e.r.opts.Dir, name+".heap.pprof"))
	}
	return e.launch(name, args, keys)
}

// startNaive starts the baseline as child name; pace makes it wait on a
// token bucket at zim.rate_limit_rps.
func (e *env) startNaive(name string, keys map[string]string, pace bool) (*child, error) {
	args := []string{"bench", "--naive-worker"}
	if pace {
		args = append(args, "--naive-pace")
	}
	return e.launch(name, args, keys)
}

// launch starts the run's executable with args as child name,
// configured by keys, and says so in the progress lines.
func (e *env) launch(name string, args []string, keys map[string]string) (*child, error) {
	c, err := startChild(name, e.r.opts.Executable, args, keys, e.r.opts.Dir)
	if err == nil {
		e.r.logf("scenario %s: started %s (pid %d, log %s)", e.id, name, c.cmd.Process.Pid, c.logPath)
	}
	return c, err
}

// workerSpec is a worker a scenario runs over its topic and measures.
type workerSpec struct {
	name  string            // the child's name, which names its log
	group string            // its consumer group
	set   map[string]string // its configuration on top of keys(group)
	// naive runs the baseline instead of receiptd; pace makes the baseline
	// wait on a token bucket at zim.rate_limit_rps.
	naive, pace bool
	// afterStart, if set, is called as soon as the worker's process started.
	afterStart func()
}

// measured is what the harness saw of a worker it ran.
type measured struct {
	started time.Time // when the process started
	prog    progress  // its group's commits while it ran
	use     usage     // what the kernel accounted to the process
}

// run starts the worker spec describes, follows its group's commits until
// they sum to target (target <= 0: for limit), and stops it within 30 s of
// SIGTERM. A worker that exits early or does not get there is killed, and
// the error names which worker it was.
func (e *env) run(ctx context.Context, spec workerSpec, target int64, limit time.Duration) (measured, error) {
	keys := e.keys(spec.group)
	maps.Copy(keys, spec.set)
	role := "receiptd worker"
	var w *child
	var err error
	if spec.naive {
		role = "naive worker"
		w, err = e.startNaive(spec.name, keys, spec.pace)
	} else {
		w, err = e.startWorker(spec.name, keys)
	}
	if err != nil {
		return measured{}, err
	}
	defer w.kill()
	if spec.afterStart != nil {
		spec.afterStart()
	}
	m := measured{started: w.started}
	if m.prog, err = e.follow(ctx, spec.group, target, limit, []*child{w}); err != nil {
		return m, fmt.Errorf("%s: %w", role, err)
	}
	m.use, err = w.stop(30 * time.Second)
	return m, err
}

// progress is a consumer group's commits as the harness saw them.
type progress struct {
	first, last         time.Time // first commit seen, and the latest change
	atFirst, committed  int64     // records committed at first, and at last
	firstSeen, lastSeen bool
}

// rate returns the records committed per second between the first and the
// last commit the harness saw.
func (p progress) rate() float64 {
	if d := p.last.Sub(p.first).Seconds(); d > 0 {
		return float64(p.committed-p.atFirst) / d
	}
	return 0
}

// follow polls group's committed offsets every 100ms until they sum to
// target (target <= 0: until limit), limit passes or a child in kids exits.
// Reaching limit is not an error when target <= 0.
func (e *env) follow(ctx context.Context, group string, target int64, limit time.Duration, kids []*child) (progress, error) {
	var p progress
	err := waitFor(ctx, limit, 100*time.Millisecond, kids, func(ctx context.Context) (bool, error) {
		c, err := e.watch.committed(ctx, group, e.partitions)
		if err != nil {
			return false, err
		}
		n, now := sum(c), time.Now()
		if n > 0 && !p.firstSeen {
			p.first, p.atFirst, p.firstSeen = now, n, true
		}
		if n != p.committed || !p.lastSeen {
			p.last, p.committed, p.lastSeen = now, n, true
		}
		return target > 0 && n >= target, nil
	})
	if target <= 0 && errors.Is(err, errNotReached) {
		err = nil
	}
	return p, err
}

// ends returns the number of records in the topic.
func (e *env) ends(ctx context.Context) (map[int]int64, int64, error) {
	m, err := e.watch.ends(ctx, e.partitions)
	return m, sum(m), err
}
