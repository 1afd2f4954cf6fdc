package config

import (
	"slices"
	"strings"
	"time"

	"github.com/receiptd/receiptd/consumer"
	"github.com/receiptd/receiptd/retry"
	"github.com/receiptd/receiptd/zimapi"
)

// Validate checks every rule documented in config.yaml and returns a *ProblemsError
// listing each broken one, or nil. It reads nothing but the TLS files, which it opens
// to prove they are readable. Enumerated values must be in their normalised spelling
// (Load normalises them). Secret files are read by Load, not here: Validate only
// requires the secrets to be set.
func (c Config) Validate() error {
	return problemsError(c.validate())
}

func (c Config) validate() []problem {
	var ck checker
	c.validateLog(&ck)
	c.validateHTTP(&ck)
	c.validateKafka(&ck)
	c.validateTLS(&ck)
	c.validateSASL(&ck)
	c.validateZIM(&ck)
	c.validateWorker(&ck)
	c.validateEvents(&ck)
	c.validateShutdown(&ck)
	return ck.ps
}

func (c Config) validateLog(ck *checker) {
	ck.oneOf("log.level", c.Log.Level, LogLevelDebug, LogLevelInfo, LogLevelWarn, LogLevelError)
	ck.oneOf("log.user_ids", c.Log.UserIDs, LogUserIDsPlain, LogUserIDsHash, LogUserIDsOmit)
	if d := c.Log.SummaryInterval; d != 0 && d < time.Second {
		ck.addf([]string{"log.summary_interval"}, "log.summary_interval (%s) must be 0 (no summary) or at least 1s", formatDuration(d))
	}
}

func (c Config) validateHTTP(ck *checker) {
	if c.HTTP.Listen == "" {
		return
	}
	if err := checkHostPort(c.HTTP.Listen, true); err != nil {
		ck.addf([]string{"http.listen"}, "http.listen (%q) %v, such as \":8080\"; \"\" disables it", c.HTTP.Listen, err)
	}
}

func (c Config) validateKafka(ck *checker) {
	k := c.Kafka
	if len(k.Brokers) == 0 {
		ck.addf([]string{"kafka.brokers"}, "kafka.brokers is empty; list at least one broker as host:port (%s is comma-separated)", envOf("kafka.brokers"))
	}
	for i, b := range k.Brokers {
		if err := checkHostPort(b, false); err != nil {
			ck.addf([]string{"kafka.brokers"}, "kafka.brokers item %d (%q) %v, such as \"kafka-1:9092\"", i+1, b, err)
		}
	}
	topicsOK := true
	for _, t := range []struct{ key, name string }{{"kafka.topic", k.Topic}, {"kafka.dlq_topic", k.DLQTopic}} {
		if err := checkTopic(t.name); err != nil {
			ck.addf([]string{t.key}, "%s (%q) %v", t.key, t.name, err)
			topicsOK = false
		}
	}
	if topicsOK && k.Topic == k.DLQTopic {
		ck.addf([]string{"kafka.topic", "kafka.dlq_topic"}, "kafka.dlq_topic (%q) must differ from kafka.topic, or dead letters would be consumed again", k.DLQTopic)
	}
	if k.GroupID == "" {
		ck.addf([]string{"kafka.group_id"}, "kafka.group_id is required: every receiptd pod of one deployment uses the same group")
	}
	ck.oneOf("kafka.start_offset", k.StartOffset, StartOffsetEarliest, StartOffsetLatest)
	ck.positive("kafka.commit_interval", k.CommitInterval)
	if s := k.SessionTimeout; s < minSessionTimeout || s > maxSessionTimeout {
		ck.addf([]string{"kafka.session_timeout"},
			"kafka.session_timeout (%s) must be between 6s and 5m (the brokers' default group.min.session.timeout.ms and group.max.session.timeout.ms)", formatDuration(s))
	}
	ck.positive("kafka.heartbeat_interval", k.HeartbeatInterval)
	if slices.Contains(c.timing().Broken(), consumer.HeartbeatBelowSession) {
		ck.addf([]string{"kafka.heartbeat_interval", "kafka.session_timeout"}, "kafka.heartbeat_interval (%s) must be less than kafka.session_timeout (%s)",
			formatDuration(k.HeartbeatInterval), formatDuration(k.SessionTimeout))
	}
	// The other rules among the group's timeouts involve the shutdown keys:
	// validateShutdown reports them.
	ck.positive("kafka.join_group_backoff", k.JoinGroupBackoff)
	if k.LagPollInterval < time.Second {
		ck.addf([]string{"kafka.lag_poll_interval"}, "kafka.lag_poll_interval (%s) must be at least 1s", formatDuration(k.LagPollInterval))
	}
	ck.atLeast("kafka.fetch_max_wait", k.FetchMaxWait, 100*time.Millisecond)
	ck.intAtLeast("kafka.fetch_max_bytes", k.FetchMaxBytes, 1024)
	ck.positive("kafka.read_batch_timeout", k.ReadBatchTimeout)
	ck.positive("kafka.dial_timeout", k.DialTimeout)
	ck.positive("kafka.dlq_write_timeout", k.DLQWriteTimeout)
	if n := k.DLQMaxMessageBytes; n != 0 && n < minDLQMessageBytes {
		ck.addf([]string{"kafka.dlq_max_message_bytes"},
			"kafka.dlq_max_message_bytes (%d) must be 0 (read the topic's max.message.bytes) or at least %d, room for receiptd's dead-letter headers",
			n, minDLQMessageBytes)
	}
}

func (c Config) validateTLS(ck *checker) {
	t := c.Kafka.TLS
	if !t.Enabled {
		var set []string
		for _, f := range []struct {
			key string
			on  bool
		}{
			{"kafka.tls.ca_file", t.CAFile != ""},
			{"kafka.tls.cert_file", t.CertFile != ""},
			{"kafka.tls.key_file", t.KeyFile != ""},
			{"kafka.tls.server_name", t.ServerName != ""},
			{"kafka.tls.insecure_skip_verify", t.InsecureSkipVerify},
		} {
			if f.on {
				set = append(set, f.key)
			}
		}
		if len(set) > 0 {
			ck.addf(append(set, "kafka.tls.enabled"), "%s set but kafka.tls.enabled is false, so TLS is off; enable it or remove %s",
				strings.Join(set, ", "), pronoun(len(set)))
		}
		return
	}
	if t.CAFile != "" {
		if err := checkReadable(t.CAFile); err != nil {
			ck.addf([]string{"kafka.tls.ca_file"}, "kafka.tls.ca_file: %v", err)
		}
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		ck.addf([]string{"kafka.tls.cert_file", "kafka.tls.key_file"}, "kafka.tls.cert_file and kafka.tls.key_file must be set together (client certificate) or both left empty")
		return
	}
	for _, f := range []struct{ key, path string }{{"kafka.tls.cert_file", t.CertFile}, {"kafka.tls.key_file", t.KeyFile}} {
		if f.path == "" {
			continue
		}
		if err := checkReadable(f.path); err != nil {
			ck.addf([]string{f.key}, "%s: %v", f.key, err)
		}
	}
}

func pronoun(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

func (c Config) validateSASL(ck *checker) {
	s := c.Kafka.SASL
	if s.Mechanism == "" {
		var set []string
		if s.Username != "" {
			set = append(set, "kafka.sasl.username")
		}
		switch {
		case s.PasswordFile != "":
			set = append(set, "kafka.sasl.password_file")
		case s.Password != "":
			set = append(set, "kafka.sasl.password")
		}
		if len(set) > 0 {
			ck.addf(append(set, "kafka.sasl.mechanism"), "%s set but kafka.sasl.mechanism is empty, so SASL is off; set it to %s, %s or %s, or remove %s",
				strings.Join(set, ", "), SASLPlain, SASLScramSHA256, SASLScramSHA512, pronoun(len(set)))
		}
		return
	}
	switch s.Mechanism {
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
	default:
		ck.addf([]string{"kafka.sasl.mechanism"}, "kafka.sasl.mechanism (%q) must be %s, %s, %s or empty (no SASL)",
			s.Mechanism, SASLPlain, SASLScramSHA256, SASLScramSHA512)
		return
	}
	if s.Username == "" {
		ck.addf([]string{"kafka.sasl.username"}, "kafka.sasl.username is required with kafka.sasl.mechanism %s", s.Mechanism)
	}
	if s.Password == "" {
		ck.addf([]string{"kafka.sasl.password"}, "kafka.sasl.password is required with kafka.sasl.mechanism %s: set %s, or kafka.sasl.password_file (%s)",
			s.Mechanism, envOf("kafka.sasl.password"), envOf("kafka.sasl.password_file"))
	}
}

func (c Config) validateZIM(ck *checker) {
	z := c.ZIM
	if err := checkEndpoint(z.Endpoint); err != nil {
		ck.addf([]string{"zim.endpoint"}, "zim.endpoint %v", err)
	}
	if z.AppID == 0 {
		ck.addf([]string{"zim.app_id"}, "zim.app_id is required: the AppID of the app in the ZEGOCLOUD console (or set %s)", envOf("zim.app_id"))
	}
	if z.ServerSecret == "" {
		ck.addf([]string{"zim.server_secret"}, "zim.server_secret is required: the ServerSecret of the app in the ZEGOCLOUD console; set %s, or zim.server_secret_file (%s)",
			envOf("zim.server_secret"), envOf("zim.server_secret_file"))
	}
	ck.positive("zim.request_timeout", z.RequestTimeout)
	ck.intAtLeast("zim.max_response_bytes", z.MaxResponseBytes, 1024)
	if z.RateLimitRPS <= 0 {
		ck.addf([]string{"zim.rate_limit_rps"}, "zim.rate_limit_rps (%d) must be greater than 0: the requests per second ZEGO grants the app per action (%d unless ZEGO changed it)", z.RateLimitRPS, zimapi.RateLimitRPS)
	}
	ck.oneOf("zim.rate_share", z.RateShare, RateSharePartitions, RateShareFull)
	if z.RateGuard <= 0 || z.RateGuard > retry.MaxGuard {
		ck.addf([]string{"zim.rate_guard"}, "zim.rate_guard (%s) must be greater than 0 and at most %s", formatDuration(z.RateGuard), formatDuration(retry.MaxGuard))
	}
}

func (c Config) validateWorker(ck *checker) {
	w := c.Worker
	ck.intBetween("worker.max_seqs_per_call", w.MaxSeqsPerCall, 1, zimapi.MaxSeqsPerCall)
	ck.atLeast("worker.linger", w.Linger, 0)
	ck.intBetween("worker.max_in_flight", w.MaxInFlight, 1, 256)
	ck.intAtLeast("worker.max_pending_records", w.MaxPendingRecords, 1)
	ck.intAtLeast("worker.unknown_max_attempts", w.UnknownMaxAttempts, 1)
	ck.atLeast("worker.isolated_failure_max_age", w.IsolatedFailureMaxAge, 10*time.Second)
	ck.positive("worker.backoff_initial", w.BackoffInitial)
	ck.notBelow("worker.backoff_max", w.BackoffMax, "worker.backoff_initial", w.BackoffInitial)
	ck.positive("worker.systemic_backoff_initial", w.SystemicBackoffInitial)
	ck.notBelow("worker.systemic_backoff_max", w.SystemicBackoffMax, "worker.systemic_backoff_initial", w.SystemicBackoffInitial)
}

func (c Config) validateEvents(ck *checker) {
	ck.intAtLeast("events.max_id_length", c.Events.MaxIDLength, 1)
	ck.intAtLeast("events.max_seqs_per_event", c.Events.MaxSeqsPerEvent, 1)
}

func (c Config) validateShutdown(ck *checker) {
	s := c.Shutdown
	ck.positive("shutdown.drain_timeout", s.DrainTimeout)
	ck.positive("shutdown.rebalance_drain_timeout", s.RebalanceDrainTimeout)
	k := c.Kafka
	for _, r := range c.timing().Broken() {
		switch r {
		case consumer.RebalanceDrainBelowRebalance:
			ck.addf([]string{"kafka.rebalance_timeout", "shutdown.rebalance_drain_timeout"},
				"kafka.rebalance_timeout (%s) must be greater than shutdown.rebalance_drain_timeout (%s), or the group evicts a member still draining",
				formatDuration(k.RebalanceTimeout), formatDuration(s.RebalanceDrainTimeout))
		case consumer.RebalanceDrainFitsSession:
			ck.drainFitsSession(k, "shutdown.rebalance_drain_timeout", s.RebalanceDrainTimeout, "revoked work drains")
		case consumer.ShutdownDrainFitsSession:
			ck.drainFitsSession(k, "shutdown.drain_timeout", s.DrainTimeout, "work drains after SIGTERM")
		}
	}
}

// timing returns the group timeouts whose rules consumer.Timing states.
func (c Config) timing() consumer.Timing {
	return consumer.Timing{Heartbeat: c.Kafka.HeartbeatInterval, Session: c.Kafka.SessionTimeout,
		Rebalance: c.Kafka.RebalanceTimeout, RebalanceDrain: c.Shutdown.RebalanceDrainTimeout, Drain: c.Shutdown.DrainTimeout}
}

// drainFitsSession reports the drain of key outlasting the session, unless
// the session timeout is itself out of the brokers' range (reported with
// the kafka keys).
func (ck *checker) drainFitsSession(k KafkaConfig, key string, drain time.Duration, when string) {
	if k.SessionTimeout < minSessionTimeout {
		return
	}
	ck.addf([]string{"kafka.session_timeout", key},
		"%s (%s) plus kafka.heartbeat_interval (%s) must be less than kafka.session_timeout (%s): no heartbeat is sent while %s, and a member silent for a whole session is evicted before it can commit",
		key, formatDuration(drain), formatDuration(k.HeartbeatInterval), formatDuration(k.SessionTimeout), when)
}

// minDLQMessageBytes is the smallest kafka.dlq_max_message_bytes: a dead
// letter cut to its smallest still carries receiptd's headers (the error
// message alone may take 1 KiB).
const minDLQMessageBytes = 4096

// The brokers' default group.min.session.timeout.ms and
// group.max.session.timeout.ms.
const (
	minSessionTimeout = 6 * time.Second
	maxSessionTimeout = 5 * time.Minute
)
