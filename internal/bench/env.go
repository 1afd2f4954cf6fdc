package bench

import (
	"context"
	"errors"
	"fmt"
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
	c, err := startChild(name, e.r.opts.Executable, args, keys, e.r.opts.Dir)
	if err == nil {
		e.r.logf("scenario %s: started %s (pid %d, log %s)", e.id, name, c.cmd.Process.Pid, c.logPath)
	}
	return c, err
}

// startNaive starts the baseline as child name; pace makes it wait on a
// token bucket at zim.rate_limit_rps.
func (e *env) startNaive(name string, keys map[string]string, pace bool) (*child, error) {
	args := []string{"bench", "--naive-worker"}
	if pace {
		args = append(args, "--naive-pace")
	}
	c, err := startChild(name, e.r.opts.Executable, args, keys, e.r.opts.Dir)
	if err == nil {
		e.r.logf("scenario %s: started %s (pid %d, log %s)", e.id, name, c.cmd.Process.Pid, c.logPath)
	}
	return c, err
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
