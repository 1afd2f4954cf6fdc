// Package pipeline assembles receiptd from its parts (the consumer, the
// worker, the ZIM client, the rate budget and telemetry) from one
// config.Config, and runs them in the order the delivery invariants need:
// the worker outlives the consumer, so that at shutdown the consumer can
// stop fetching, drain the worker, commit and leave the group before the
// worker stops.
package pipeline

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/receiptd/receiptd/consumer"
	"github.com/receiptd/receiptd/deadletter"
	"github.com/receiptd/receiptd/internal/buildinfo"
	"github.com/receiptd/receiptd/internal/config"
	"github.com/receiptd/receiptd/internal/telemetry"
	"github.com/receiptd/receiptd/receipt"
	"github.com/receiptd/receiptd/retry"
	"github.com/receiptd/receiptd/worker"
	"github.com/receiptd/receiptd/zimapi"
)

// Options are what a Pipeline needs beyond its Config.
type Options struct {
	Config config.Config
	Log    *zap.Logger
	// Registry receives the metrics; nil makes a new one with the Go and
	// process collectors.
	Registry *prometheus.Registry
	// HTTPListener, when set, serves /metrics, /healthz and /readyz instead
	// of listening on Config.HTTP.Listen.
	HTTPListener net.Listener
	// WorkerID names this process in dead-letter headers; default the
	// host name.
	WorkerID string
	// OnDone, when set, is called for every record done, with the worker's
	// lock held: it must be quick. The demo and the benchmark measure
	// latency with it.
	OnDone func(*worker.Record)
	// ClockOffset shifts this process's reading of the wall clock in the
	// rate budget's slot schedule. Only for tests: the benchmark skews its
	// workers' clocks with it.
	ClockOffset time.Duration
	// FloorShares selects the former rate share by partitions (whole
	// requests per second, rounded down). Only for the benchmark's
	// baseline.
	FloorShares bool
}

// Pipeline is one receiptd worker process's machinery.
type Pipeline struct {
	cfg      config.Config
	log      *zap.Logger
	reg      *prometheus.Registry
	listener net.Listener

	zim      *zimapi.Client
	budget   *retry.Budget
	dlq      *deadletter.Writer
	dead     *deadletter.Stage
	worker   *worker.Worker
	consumer *consumer.Consumer
	cobs     *telemetry.ConsumerObserver
	ready    []telemetry.ReadyFunc // what /readyz and receiptd_ready check
}

// New builds a Pipeline. It does not touch the network.
func New(opts Options) (*Pipeline, error) {
	cfg := opts.Config
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := opts.Log
	if log == nil {
		log = zap.NewNop()
	}
	reg := opts.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	p := &Pipeline{cfg: cfg, log: log, reg: reg, listener: opts.HTTPListener}

	zim, err := zimapi.NewClient(zimapi.Config{
		Endpoint:         cfg.ZIM.Endpoint,
		AppID:            cfg.ZIM.AppID,
		ServerSecret:     cfg.ZIM.ServerSecret,
		Timeout:          cfg.ZIM.RequestTimeout,
		MaxResponseBytes: int64(cfg.ZIM.MaxResponseBytes),
	})
	if err != nil {
		return nil, err
	}
	p.zim = zim
	p.budget, err = retry.NewBudget(retry.BudgetConfig{
		RPS:               float64(cfg.ZIM.RateLimitRPS),
		Actions:           receipt.Actions[:],
		Shared:            cfg.ZIM.RateLimitShared,
		ShareByPartitions: cfg.ZIM.RateShare == config.RateSharePartitions,
		Guard:             cfg.ZIM.RateGuard,
		ClockOffset:       opts.ClockOffset,
		FloorShares:       opts.FloorShares,
	})
	if err != nil {
		zim.Close()
		return nil, err
	}

	ccfg, err := ConsumerConfig(cfg, log)
	if err != nil {
		zim.Close()
		return nil, err
	}
	p.cobs = telemetry.NewConsumerObserver(log.Named("consumer"), reg)
	p.dlq, err = deadletter.NewWriter(DeadLetterConfig(cfg, ccfg, opts.WorkerID), consumer.SourceMessage, p.cobs)
	if err != nil {
		zim.Close()
		return nil, err
	}
	var done worker.Completer = consumer.Completer{}
	if opts.OnDone != nil {
		done = hookedCompleter{next: done, hook: opts.OnDone}
	}
	wobs := telemetry.NewWorkerObserver(log.Named("worker"), reg,
		telemetry.NewLogIDs(cfg.Log.UserIDs, telemetry.IDHashKey(cfg.ZIM.ServerSecret.Value())))
	// One bound for the records held by the worker and the dead-letter
	// stage together.
	wcfg := WorkerConfig(cfg)
	wcfg.Slots = worker.NewSlots(wcfg.MaxPendingRecords)
	p.dead, err = deadletter.NewStage(deadletter.StageConfig{Slots: wcfg.Slots}, p.dlq, done, wobs)
	if err != nil {
		p.closeClients()
		return nil, err
	}
	p.worker, err = worker.New(wcfg, zim, p.dead, done, worker.WithPacer(p.budget), worker.WithObserver(wobs))
	if err != nil {
		p.closeClients()
		return nil, err
	}
	telemetry.RegisterWorkerMetrics(reg, p.worker, p.dead, p.budget)
	p.consumer, err = consumer.New(ccfg, Stages{p.worker, p.dead}, p.cobs)
	if err != nil {
		p.closeClients()
		return nil, err
	}
	telemetry.RegisterConsumerMetrics(reg, p.consumer)
	telemetry.RegisterBuildInfo(reg, buildinfo.Get())
	p.ready = []telemetry.ReadyFunc{p.cobs.Ready, func() (bool, string) {
		return p.worker.Ready(), "dispatch paused: ZIM rejects receiptd's configuration (see the error log)"
	}, func() (bool, string) {
		if err := p.dead.Pause(); err != nil {
			return false, "dead-letter writes paused: " + err.Error()
		}
		return true, ""
	}}
	telemetry.RegisterReadiness(reg, p.ready...)
	return p, nil
}

// Worker returns the pipeline's worker, for its stats.
func (p *Pipeline) Worker() *worker.Worker { return p.worker }

// DeadLetters returns the pipeline's dead-letter stage, for its stats.
func (p *Pipeline) DeadLetters() *deadletter.Stage { return p.dead }

// RecordsDone counts the records finished: acknowledged by ZIM (the
// worker's) or durably dead-lettered (the dead-letter stage's).
func (p *Pipeline) RecordsDone() uint64 { return p.worker.Stats().RecordsDone + p.dead.Stats().Done() }

// Stages are the consumer's Stages (consumer.Stages): valid records go to
// the worker, invalid ones straight to the dead-letter stage, which also
// takes the records the worker gives up on.
type Stages struct {
	Worker      *worker.Worker
	DeadLetters *deadletter.Stage
}

// Submit hands rec to the worker.
func (f Stages) Submit(ctx context.Context, rec *worker.Record) error {
	return f.Worker.Submit(ctx, rec)
}

// Reject hands rec to the dead-letter stage.
func (f Stages) Reject(ctx context.Context, rec *worker.Record, fl worker.Failure) error {
	return f.DeadLetters.Reject(ctx, rec, fl)
}

// Drain drains the worker first, since until it returns it may still hand
// records to the dead-letter stage, then the stage.
func (f Stages) Drain(ctx context.Context) []*worker.Record {
	return append(f.Worker.Drain(ctx), f.DeadLetters.Drain(ctx)...)
}

// SetShare sets the worker's share of the rate budget.
func (f Stages) SetShare(partitions []int, total int) { f.Worker.SetShare(partitions, total) }

// Lag returns the records between the committed offset and the log end per
// owned partition.
func (p *Pipeline) Lag() map[int]int64 { return p.consumer.Lag() }

// Budget returns the rate budget.
func (p *Pipeline) Budget() *retry.Budget { return p.budget }

// Registry returns the metrics registry.
func (p *Pipeline) Registry() *prometheus.Registry { return p.reg }

// Run runs the pipeline until ctx ends, then shuts down in order: stop
// fetching, drain within shutdown.drain_timeout, commit, leave the group,
// stop the worker. It returns nil after a clean shutdown, or the error that
// stopped the consumer.
func (p *Pipeline) Run(ctx context.Context) error {
	defer p.closeClients()
	// The worker, telemetry and HTTP run on a context of their own, so that
	// they keep serving while the consumer drains after ctx ended.
	bg, stopBackground := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = p.worker.Run(bg) })
	wg.Go(func() { _ = p.dead.Run(bg) })
	wg.Go(func() {
		// Learn the dead-letter topic's limit now, not at the first dead
		// letter; if the brokers cannot be asked yet, that write asks again.
		if _, err := p.dlq.Limit(bg); err != nil && bg.Err() == nil {
			p.log.Warn("dead-letter topic limit not read yet; read again before the first dead-letter write", zap.Error(err))
		}
	})
	wg.Go(func() {
		telemetry.Summary{Log: p.log.Named("summary"), Interval: p.cfg.Log.SummaryInterval,
			Worker: p.worker, DeadLetters: p.dead, Lag: p.consumer, Rates: p.budget}.Run(bg)
	})
	httpErr := make(chan error, 1)
	if p.listener != nil || p.cfg.HTTP.Listen != "" {
		h := telemetry.Handler(p.reg, p.ready...)
		wg.Go(func() {
			ln := p.listener
			if ln == nil {
				var err error
				if ln, err = net.Listen("tcp", p.cfg.HTTP.Listen); err != nil {
					httpErr <- fmt.Errorf("http listener on %s: %w", p.cfg.HTTP.Listen, err)
					return
				}
			}
			// The address, since http.listen may name port 0.
			p.log.Info("serving /metrics, /healthz and /readyz", zap.String("addr", ln.Addr().String()))
			httpErr <- telemetry.ServeListener(bg, ln, h)
		})
	}

	runCtx, stopRun := context.WithCancelCause(ctx)
	var runErr error
	consumerDone := make(chan struct{})
	go func() {
		defer close(consumerDone)
		runErr = p.consumer.Run(runCtx)
	}()
	select {
	case <-consumerDone:
	case err := <-httpErr:
		// The operator asked for endpoints receiptd cannot serve: stop
		// cleanly rather than run blind.
		stopRun(err)
		<-consumerDone
		if runErr == nil {
			runErr = err
		}
	}
	stopRun(nil)
	stopBackground()
	wg.Wait()
	if runErr != nil {
		p.log.Error("receiptd stopped", zap.Error(runErr))
		return runErr
	}
	st := p.worker.Stats()
	p.log.Info("shutdown complete", zap.Uint64("records_done", p.RecordsDone()),
		zap.Uint64("receipts_acknowledged", st.SeqsAcked), zap.Uint64("calls", st.Calls))
	return nil
}

func (p *Pipeline) closeClients() {
	if p.dlq != nil {
		if err := p.dlq.Close(); err != nil {
			p.log.Warn("closing the dead-letter writer", zap.Error(err))
		}
	}
	if p.zim != nil {
		p.zim.Close()
	}
}

type hookedCompleter struct {
	next worker.Completer
	hook func(*worker.Record)
}

func (h hookedCompleter) Done(r *worker.Record) {
	h.next.Done(r)
	h.hook(r)
}

// WorkerConfig maps the configuration to the worker's.
func WorkerConfig(cfg config.Config) worker.Config {
	w := cfg.Worker
	return worker.Config{
		MaxSeqsPerCall:        w.MaxSeqsPerCall,
		Linger:                w.Linger,
		MaxInFlight:           w.MaxInFlight,
		MaxPendingRecords:     w.MaxPendingRecords,
		UnknownMaxAttempts:    w.UnknownMaxAttempts,
		IsolatedFailureMaxAge: w.IsolatedFailureMaxAge,
		Backoff:               retry.Policy{Initial: w.BackoffInitial, Max: w.BackoffMax},
		SystemicBackoff:       retry.Policy{Initial: w.SystemicBackoffInitial, Max: w.SystemicBackoffMax},
	}
}

// DeadLetterConfig maps the configuration to the dead-letter writer's; it
// reaches Kafka as the consumer ccfg does (client id, TLS, SASL).
func DeadLetterConfig(cfg config.Config, ccfg consumer.Config, workerID string) deadletter.Config {
	k := cfg.Kafka
	return deadletter.Config{
		Brokers: k.Brokers, Topic: k.DLQTopic, Dialer: ccfg.Dialer(),
		WriteTimeout: k.DLQWriteTimeout, MaxMessageBytes: k.DLQMaxMessageBytes, AutoCreateTopic: k.AutoCreateTopics,
		WorkerID: workerID, Logger: ccfg.Logger, ErrorLogger: ccfg.ErrorLogger,
	}
}

// ConsumerConfig maps the configuration to the consumer's, loading TLS
// files and building the SASL mechanism.
func ConsumerConfig(cfg config.Config, log *zap.Logger) (consumer.Config, error) {
	k := cfg.Kafka
	info, errs := telemetry.KafkaLoggers(log)
	c := consumer.Config{
		Brokers: k.Brokers, Topic: k.Topic, DLQTopic: k.DLQTopic, GroupID: k.GroupID, ClientID: k.ClientID,
		StartOffset: k.StartOffset, AutoCreateTopics: k.AutoCreateTopics,
		CommitInterval: k.CommitInterval, SessionTimeout: k.SessionTimeout, HeartbeatInterval: k.HeartbeatInterval,
		RebalanceTimeout: k.RebalanceTimeout, JoinGroupBackoff: k.JoinGroupBackoff, LagPollInterval: k.LagPollInterval,
		FetchMaxWait: k.FetchMaxWait, FetchMaxBytes: k.FetchMaxBytes, ReadBatchTimeout: k.ReadBatchTimeout,
		DialTimeout:           k.DialTimeout,
		RebalanceDrainTimeout: cfg.Shutdown.RebalanceDrainTimeout, DrainTimeout: cfg.Shutdown.DrainTimeout,
		Limits: consumer.Limits{MaxIDLength: cfg.Events.MaxIDLength, MaxSeqsPerEvent: cfg.Events.MaxSeqsPerEvent},
		Logger: kafka.LoggerFunc(info), ErrorLogger: kafka.LoggerFunc(errs),
	}
	var err error
	if c.TLS, err = TLSConfig(k.TLS); err != nil {
		return c, err
	}
	if k.SASL.Mechanism != "" {
		if c.SASL, err = consumer.NewSASLMechanism(k.SASL.Mechanism, k.SASL.Username, k.SASL.Password.Value()); err != nil {
			return c, fmt.Errorf("kafka.sasl: %w", err)
		}
	}
	return c, nil
}

// TLSConfig builds the Kafka TLS configuration; nil when TLS is off.
func TLSConfig(t config.TLSConfig) (*tls.Config, error) {
	if !t.Enabled {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // an explicit operator choice
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka.tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka.tls.ca_file %s: no PEM certificate found", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka.tls.cert_file/key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
