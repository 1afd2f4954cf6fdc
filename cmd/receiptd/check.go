package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/receiptd/receiptd/consumer"
	"github.com/receiptd/receiptd/deadletter"
	"github.com/receiptd/receiptd/internal/config"
	"github.com/receiptd/receiptd/internal/pipeline"
	"github.com/receiptd/receiptd/receipt"
	"github.com/receiptd/receiptd/zimapi"
)

func checkCmd(ctx context.Context, args []string, s streams) int {
	fs := newFlags("check", "check [--config FILE]", `
Validate the configuration, then reach what receiptd needs and say what was
verified: the Kafka brokers, the source and dead-letter topics, the group
coordinator; the ZIM endpoint's DNS name and TLS certificate, and the
credentials, with a signed request that cannot set a receipt (it carries no
sequence numbers, so ZIM must refuse its content; a refusal of the signature
instead means the AppID or the ServerSecret is wrong). Exit 0 when everything
passed, 1 when a check failed, 2 when the configuration is invalid.`, s)
	path := fs.String("config", "", configHelp)
	timeout := fs.Duration("timeout", 15*time.Second, "bound on each network check")
	skipZIM := fs.Bool("skip-zim-request", false, "do not send the signed request to ZIM")
	if code, ok := parse(fs, args, s); !ok {
		return code
	}
	cfg, code, ok := loadConfig(*path, s)
	if !ok {
		return code
	}
	c := checker{s: s, timeout: *timeout}
	source := configPath(*path)
	if source == "" {
		source = "defaults and RECEIPTD_* variables"
	}
	c.ok("config", fmt.Sprintf("%s: valid (app %d, topic %s, group %s)", source, cfg.ZIM.AppID, cfg.Kafka.Topic, cfg.Kafka.GroupID))
	c.kafka(ctx, cfg)
	c.zim(ctx, cfg, *skipZIM)
	if c.failed {
		fmt.Fprintln(s.out, "\nsome checks failed")
		return exitFailure
	}
	fmt.Fprintln(s.out, "\nall checks passed")
	return exitOK
}

type checker struct {
	s       streams
	timeout time.Duration
	failed  bool
}

func (c *checker) ok(what, detail string) { fmt.Fprintf(c.s.out, "ok    %-16s %s\n", what, detail) }

func (c *checker) fail(what string, err error) {
	c.failed = true
	fmt.Fprintf(c.s.out, "FAIL  %-16s %v\n", what, err)
}

func (c *checker) kafka(ctx context.Context, cfg config.Config) {
	ccfg, err := pipeline.ConsumerConfig(cfg, zap.NewNop())
	if err != nil {
		c.fail("kafka", err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	transport := ccfg.Transport()
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(ccfg.Brokers...), Transport: transport, Timeout: c.timeout}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{ccfg.Topic, ccfg.DLQTopic}})
	if err != nil {
		c.fail("kafka brokers", fmt.Errorf("%v: %w", ccfg.Brokers, err))
		return
	}
	c.ok("kafka brokers", fmt.Sprintf("%d broker(s) answer, controller %d", len(md.Brokers), md.Controller.ID))
	for _, want := range []struct{ name, topic string }{{"source topic", ccfg.Topic}, {"dlq topic", ccfg.DLQTopic}} {
		var found *kafka.Topic
		for i := range md.Topics {
			if md.Topics[i].Name == want.topic {
				found = &md.Topics[i]
			}
		}
		switch {
		case found == nil || errors.Is(found.Error, kafka.UnknownTopicOrPartition):
			err := &consumer.MissingTopicError{Topic: want.topic, Role: want.name}
			if cfg.Kafka.AutoCreateTopics {
				c.ok(want.name, fmt.Sprintf("%s does not exist yet; kafka.auto_create_topics is on", want.topic))
				continue
			}
			c.fail(want.name, err)
		case found.Error != nil:
			c.fail(want.name, fmt.Errorf("%s: %w", want.topic, found.Error))
		default:
			c.ok(want.name, fmt.Sprintf("%s has %d partition(s)", want.topic, len(found.Partitions)))
			if want.topic == ccfg.DLQTopic {
				c.dlqLimit(ctx, pipeline.DeadLetterConfig(cfg, ccfg, ""))
			}
		}
	}
	coord, err := client.FindCoordinator(ctx, &kafka.FindCoordinatorRequest{Key: ccfg.GroupID, KeyType: kafka.CoordinatorKeyTypeConsumer})
	switch {
	case err != nil:
		c.fail("group", fmt.Errorf("find the coordinator of group %s: %w", ccfg.GroupID, err))
	case coord.Error != nil:
		c.fail("group", fmt.Errorf("coordinator of group %s: %w", ccfg.GroupID, coord.Error))
	default:
		c.ok("group", fmt.Sprintf("coordinator of %s is broker %d at %s:%d", ccfg.GroupID, coord.Coordinator.NodeID, coord.Coordinator.Host, coord.Coordinator.Port))
	}
}

// dlqLimit reports the largest dead letter the dead-letter topic takes,
// as the dead-letter writer learns it.
func (c *checker) dlqLimit(ctx context.Context, dcfg deadletter.Config) {
	var learned deadletter.LimitLearned
	w, err := deadletter.NewWriter(dcfg, consumer.SourceMessage, limitSeen{l: &learned})
	if err != nil {
		c.fail("dlq limit", err)
		return
	}
	defer w.Close()
	limit, err := w.Limit(ctx)
	if err != nil {
		c.fail("dlq limit", err)
		return
	}
	detail := fmt.Sprintf("dead letters up to %d bytes, from the topic's max.message.bytes; larger ones are cut", limit)
	switch learned.From {
	case deadletter.LimitFromConfig:
		detail = fmt.Sprintf("dead letters up to %d bytes, from kafka.dlq_max_message_bytes; larger ones are cut", limit)
	case deadletter.LimitFromDefault:
		detail = fmt.Sprintf("dead letters up to %d bytes, Kafka's default, assumed (%v): set kafka.dlq_max_message_bytes to the topic's max.message.bytes", limit, learned.Err)
	}
	c.ok("dlq limit", detail)
}

// limitSeen keeps the limit a dead-letter writer reports.
type limitSeen struct {
	deadletter.NopObserver
	l *deadletter.LimitLearned
}

func (s limitSeen) LimitLearned(l deadletter.LimitLearned) { *s.l = l }

func (c *checker) zim(ctx context.Context, cfg config.Config, skipRequest bool) {
	u, err := url.Parse(cfg.ZIM.Endpoint)
	if err != nil {
		c.fail("zim endpoint", err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(ctx, u.Hostname())
	if err != nil {
		c.fail("zim dns", err)
		return
	}
	c.ok("zim dns", fmt.Sprintf("%s resolves to %v", u.Hostname(), addrs))
	if u.Scheme == "https" {
		port := u.Port()
		if port == "" {
			port = "443"
		}
		d := tls.Dialer{NetDialer: &net.Dialer{Timeout: c.timeout}, Config: &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}}
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(u.Hostname(), port))
		if err != nil {
			c.fail("zim tls", err)
			return
		}
		state := conn.(*tls.Conn).ConnectionState()
		_ = conn.Close()
		c.ok("zim tls", fmt.Sprintf("certificate for %s valid until %s", state.PeerCertificates[0].Subject.CommonName,
			state.PeerCertificates[0].NotAfter.Format(time.DateOnly)))
	}
	if skipRequest {
		return
	}
	client, err := zimapi.NewClient(zimapi.Config{Endpoint: cfg.ZIM.Endpoint, AppID: cfg.ZIM.AppID,
		ServerSecret: cfg.ZIM.ServerSecret, Timeout: c.timeout, MaxResponseBytes: int64(cfg.ZIM.MaxResponseBytes)})
	if err != nil {
		c.fail("zim request", err)
		return
	}
	defer client.Close()
	out := client.Send(ctx, receipt.Request{Key: receipt.Key{Action: receipt.GroupRead, UserID: "receiptd-check", ConvID: "receiptd-check"}})
	c.probeOutcome(out)
}

// probeOutcome judges the answer to a request with no sequence numbers:
// ZIM checked the signature and then refused the content, or it refused the
// signature.
func (c *checker) probeOutcome(out receipt.Result) {
	switch out.Class {
	case receipt.ClassSystemic, receipt.ClassResign:
		c.fail("zim credentials", fmt.Errorf("ZIM refused the signed request: code %d %q (request id %s): %s",
			out.Code, out.Message, orDash(out.RequestID), zimapi.Hint(out.Code)))
	case receipt.ClassTransient:
		c.fail("zim request", fmt.Errorf("no answer from ZIM: %v", out.Err))
	case receipt.ClassRateLimited:
		c.ok("zim credentials", fmt.Sprintf("signature accepted; ZIM rate-limited the probe (code %d), so the AppID is busy right now", out.Code))
	default:
		c.ok("zim credentials", fmt.Sprintf("signature accepted; the empty probe was answered code %d %q (request id %s)",
			out.Code, out.Message, orDash(out.RequestID)))
	}
}
