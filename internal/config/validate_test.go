package config_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/receiptd/receiptd/internal/config"
)

func TestValidateRules(t *testing.T) {
	dir := t.TempDir()
	pem := writeFileIn(t, dir, "ca.pem", "-----BEGIN CERTIFICATE-----\n")
	missing := filepath.Join(dir, "missing.pem")

	tests := []struct {
		name   string
		change func(*config.Config)
		want   []string // nil: valid
	}{
		{"log level", func(c *config.Config) { c.Log.Level = "verbose" }, []string{`log.level ("verbose") must be one of debug, info, warn, error`}},
		{"log user ids", func(c *config.Config) { c.Log.UserIDs = "mask" }, []string{`log.user_ids ("mask") must be one of plain, hash, omit`}},
		{"summary interval off", func(c *config.Config) { c.Log.SummaryInterval = 0 }, nil},
		{"summary interval too short", func(c *config.Config) { c.Log.SummaryInterval = 500 * time.Millisecond },
			[]string{"log.summary_interval (500ms) must be 0 (no summary) or at least 1s"}},
		{"http disabled", func(c *config.Config) { c.HTTP.Listen = "" }, nil},
		{"http any port", func(c *config.Config) { c.HTTP.Listen = "127.0.0.1:0" }, nil},
		{"http no port", func(c *config.Config) { c.HTTP.Listen = "8080" },
			[]string{`http.listen ("8080") must be host:port, such as ":8080"; "" disables it`}},
		{"brokers empty", func(c *config.Config) { c.Kafka.Brokers = nil },
			[]string{"kafka.brokers is empty; list at least one broker as host:port (RECEIPTD_KAFKA_BROKERS is comma-separated)"}},
		{"broker without port", func(c *config.Config) { c.Kafka.Brokers = []string{"k1:9092", "k2"} },
			[]string{`kafka.brokers item 2 ("k2") must be host:port, such as "kafka-1:9092"`}},
		{"broker without host", func(c *config.Config) { c.Kafka.Brokers = []string{":9092"} },
			[]string{`kafka.brokers item 1 (":9092") has no host; must be host:port, such as "kafka-1:9092"`}},
		{"broker bad port", func(c *config.Config) { c.Kafka.Brokers = []string{"k1:99999"} },
			[]string{`kafka.brokers item 1 ("k1:99999") has port "99999"; must be a number from 1 to 65535, such as "kafka-1:9092"`}},
		{"broker ipv6", func(c *config.Config) { c.Kafka.Brokers = []string{"[::1]:9092"} }, nil},
		{"topic empty", func(c *config.Config) { c.Kafka.Topic = "" }, []string{`kafka.topic ("") is required`}},
		{"topic illegal", func(c *config.Config) { c.Kafka.Topic = "message read" },
			[]string{`kafka.topic ("message read") may hold only letters, digits, '.', '_' and '-'`}},
		{"topic too long", func(c *config.Config) { c.Kafka.DLQTopic = strings.Repeat("t", 250) },
			[]string{`kafka.dlq_topic ("` + strings.Repeat("t", 250) + `") is longer than Kafka's 249 characters`}},
		{"dlq equals topic", func(c *config.Config) { c.Kafka.DLQTopic = c.Kafka.Topic },
			[]string{`kafka.dlq_topic ("message-read") must differ from kafka.topic, or dead letters would be consumed again`}},
		{"group id", func(c *config.Config) { c.Kafka.GroupID = "" },
			[]string{"kafka.group_id is required: every receiptd pod of one deployment uses the same group"}},
		{"start offset", func(c *config.Config) { c.Kafka.StartOffset = "oldest" },
			[]string{`kafka.start_offset ("oldest") must be one of earliest, latest`}},
		{"commit interval", func(c *config.Config) { c.Kafka.CommitInterval = 0 }, []string{"kafka.commit_interval (0s) must be greater than 0"}},
		{"session timeout low", func(c *config.Config) { c.Kafka.SessionTimeout = 5 * time.Second },
			[]string{"kafka.session_timeout (5s) must be between 6s and 5m (the brokers' default group.min.session.timeout.ms and group.max.session.timeout.ms)"}},
		{"session timeout high", func(c *config.Config) { c.Kafka.SessionTimeout = 6 * time.Minute },
			[]string{"kafka.session_timeout (6m) must be between 6s and 5m (the brokers' default group.min.session.timeout.ms and group.max.session.timeout.ms)"}},
		{"session timeout bounds", func(c *config.Config) {
			c.Kafka.SessionTimeout = 6 * time.Second
			c.Kafka.HeartbeatInterval = time.Second
			c.Shutdown.RebalanceDrainTimeout = 4 * time.Second
			c.Shutdown.DrainTimeout = 4 * time.Second
		}, nil},
		{"heartbeat zero", func(c *config.Config) { c.Kafka.HeartbeatInterval = 0 }, []string{"kafka.heartbeat_interval (0s) must be greater than 0"}},
		{"heartbeat equals session", func(c *config.Config) { c.Kafka.HeartbeatInterval = 30 * time.Second },
			[]string{"kafka.heartbeat_interval (30s) must be less than kafka.session_timeout (30s)"}},
		{"rebalance timeout not above drain", func(c *config.Config) { c.Kafka.RebalanceTimeout = 10 * time.Second },
			[]string{"kafka.rebalance_timeout (10s) must be greater than shutdown.rebalance_drain_timeout (10s), or the group evicts a member still draining"}},
		{"join group backoff", func(c *config.Config) { c.Kafka.JoinGroupBackoff = -time.Second },
			[]string{"kafka.join_group_backoff (-1s) must be greater than 0"}},
		{"lag poll interval", func(c *config.Config) { c.Kafka.LagPollInterval = 500 * time.Millisecond },
			[]string{"kafka.lag_poll_interval (500ms) must be at least 1s"}},
		{"fetch max wait", func(c *config.Config) { c.Kafka.FetchMaxWait = 99 * time.Millisecond },
			[]string{"kafka.fetch_max_wait (99ms) must be at least 100ms"}},
		{"fetch max bytes", func(c *config.Config) { c.Kafka.FetchMaxBytes = 1023 }, []string{"kafka.fetch_max_bytes (1023) must be at least 1024"}},
		{"read batch timeout", func(c *config.Config) { c.Kafka.ReadBatchTimeout = 0 }, []string{"kafka.read_batch_timeout (0s) must be greater than 0"}},
		{"dial timeout", func(c *config.Config) { c.Kafka.DialTimeout = 0 }, []string{"kafka.dial_timeout (0s) must be greater than 0"}},
		{"dlq write timeout", func(c *config.Config) { c.Kafka.DLQWriteTimeout = 0 }, []string{"kafka.dlq_write_timeout (0s) must be greater than 0"}},
		{"dlq max message bytes set", func(c *config.Config) { c.Kafka.DLQMaxMessageBytes = 1048588 }, nil},
		{"dlq max message bytes too small", func(c *config.Config) { c.Kafka.DLQMaxMessageBytes = 4000 },
			[]string{"kafka.dlq_max_message_bytes (4000) must be 0 (read the topic's max.message.bytes) or at least 4096, room for receiptd's dead-letter headers"}},
		{"dlq max message bytes negative", func(c *config.Config) { c.Kafka.DLQMaxMessageBytes = -1 },
			[]string{"kafka.dlq_max_message_bytes (-1) must be 0 (read the topic's max.message.bytes) or at least 4096, room for receiptd's dead-letter headers"}},
		{"tls with readable files", func(c *config.Config) {
			c.Kafka.TLS = config.TLSConfig{Enabled: true, CAFile: pem, CertFile: pem, KeyFile: pem, ServerName: "k"}
		}, nil},
		{"tls ca missing", func(c *config.Config) { c.Kafka.TLS = config.TLSConfig{Enabled: true, CAFile: missing} },
			[]string{"kafka.tls.ca_file: open " + missing + ": no such file or directory"}},
		{"tls ca is a directory", func(c *config.Config) { c.Kafka.TLS = config.TLSConfig{Enabled: true, CAFile: dir} },
			[]string{"kafka.tls.ca_file: " + dir + " is a directory, not a file"}},
		{"tls cert without key", func(c *config.Config) { c.Kafka.TLS = config.TLSConfig{Enabled: true, CertFile: pem} },
			[]string{"kafka.tls.cert_file and kafka.tls.key_file must be set together (client certificate) or both left empty"}},
		{"tls key missing", func(c *config.Config) { c.Kafka.TLS = config.TLSConfig{Enabled: true, CertFile: pem, KeyFile: missing} },
			[]string{"kafka.tls.key_file: open " + missing + ": no such file or directory"}},
		{"tls settings while disabled", func(c *config.Config) { c.Kafka.TLS = config.TLSConfig{CAFile: pem, InsecureSkipVerify: true} },
			[]string{"kafka.tls.ca_file, kafka.tls.insecure_skip_verify set but kafka.tls.enabled is false, so TLS is off; enable it or remove them"}},
		{"sasl ok", func(c *config.Config) {
			c.Kafka.SASL = config.SASLConfig{Mechanism: config.SASLPlain, Username: "u", Password: "p"}
		}, nil},
		{"sasl unknown mechanism", func(c *config.Config) { c.Kafka.SASL = config.SASLConfig{Mechanism: "GSSAPI"} },
			[]string{`kafka.sasl.mechanism ("GSSAPI") must be PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or empty (no SASL)`}},
		{"sasl missing user and password", func(c *config.Config) { c.Kafka.SASL = config.SASLConfig{Mechanism: config.SASLScramSHA256} },
			[]string{
				"kafka.sasl.username is required with kafka.sasl.mechanism SCRAM-SHA-256",
				"kafka.sasl.password is required with kafka.sasl.mechanism SCRAM-SHA-256: set RECEIPTD_KAFKA_SASL_PASSWORD, or kafka.sasl.password_file (RECEIPTD_KAFKA_SASL_PASSWORD_FILE)",
			}},
		{"sasl credentials without mechanism", func(c *config.Config) { c.Kafka.SASL = config.SASLConfig{Username: "u"} },
			[]string{"kafka.sasl.username set but kafka.sasl.mechanism is empty, so SASL is off; set it to PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, or remove it"}},
		{"sasl password file without mechanism", func(c *config.Config) {
			c.Kafka.SASL = config.SASLConfig{Password: "p", PasswordFile: "/run/secrets/pw"}
		}, []string{"kafka.sasl.password_file set but kafka.sasl.mechanism is empty, so SASL is off; set it to PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, or remove it"}},
		{"endpoint regional", func(c *config.Config) { c.ZIM.Endpoint = "https://zim-api-fra.zego.im/" }, nil},
		{"endpoint http localhost", func(c *config.Config) { c.ZIM.Endpoint = "http://localhost:8081" }, nil},
		{"endpoint http ipv6 loopback", func(c *config.Config) { c.ZIM.Endpoint = "http://[::1]:8081/" }, nil},
		{"endpoint http remote", func(c *config.Config) { c.ZIM.Endpoint = "http://zim-api.zego.im/" },
			[]string{`zim.endpoint ("http://zim-api.zego.im/") must use https; http is allowed only to 127.0.0.1, localhost or ::1`}},
		{"endpoint other scheme", func(c *config.Config) { c.ZIM.Endpoint = "ftp://zim-api.zego.im/" },
			[]string{`zim.endpoint ("ftp://zim-api.zego.im/") must use https`}},
		{"endpoint relative", func(c *config.Config) { c.ZIM.Endpoint = "zim-api.zego.im" },
			[]string{`zim.endpoint ("zim-api.zego.im") must be an absolute URL, such as "https://zim-api.zego.im/"`}},
		{"endpoint empty", func(c *config.Config) { c.ZIM.Endpoint = "" },
			[]string{`zim.endpoint is required, such as "https://zim-api.zego.im/"`}},
		{"endpoint with query", func(c *config.Config) { c.ZIM.Endpoint = "https://zim-api.zego.im/?AppId=1" },
			[]string{`zim.endpoint ("https://zim-api.zego.im/?AppId=1") must not have a query or fragment; receiptd builds the query string itself`}},
		{"endpoint unparsable", func(c *config.Config) { c.ZIM.Endpoint = "https://zim-api.zego.im/%zz" },
			[]string{`zim.endpoint is not a valid URL: invalid URL escape "%zz"`}},
		{"app id", func(c *config.Config) { c.ZIM.AppID = 0 },
			[]string{"zim.app_id is required: the AppID of the app in the ZEGOCLOUD console (or set RECEIPTD_ZIM_APP_ID)"}},
		{"request timeout", func(c *config.Config) { c.ZIM.RequestTimeout = 0 }, []string{"zim.request_timeout (0s) must be greater than 0"}},
		{"max response bytes", func(c *config.Config) { c.ZIM.MaxResponseBytes = 100 }, []string{"zim.max_response_bytes (100) must be at least 1024"}},
		{"rate limit", func(c *config.Config) { c.ZIM.RateLimitRPS = 0 },
			[]string{"zim.rate_limit_rps (0) must be greater than 0: the requests per second ZEGO grants the app per action (20 unless ZEGO changed it)"}},
		{"rate share", func(c *config.Config) { c.ZIM.RateShare = "half" }, []string{`zim.rate_share ("half") must be one of partitions, full`}},
		{"rate guard", func(c *config.Config) { c.ZIM.RateGuard = time.Second }, []string{"zim.rate_guard (1s) must be greater than 0 and at most 500ms"}},
		{"no rate guard", func(c *config.Config) { c.ZIM.RateGuard = 0 }, []string{"zim.rate_guard (0s) must be greater than 0 and at most 500ms"}},
		{"seqs per call zero", func(c *config.Config) { c.Worker.MaxSeqsPerCall = 0 }, []string{"worker.max_seqs_per_call (0) must be between 1 and 10"}},
		{"seqs per call over the API cap", func(c *config.Config) { c.Worker.MaxSeqsPerCall = 11 }, []string{"worker.max_seqs_per_call (11) must be between 1 and 10"}},
		{"linger zero", func(c *config.Config) { c.Worker.Linger = 0 }, nil},
		{"linger negative", func(c *config.Config) { c.Worker.Linger = -time.Millisecond }, []string{"worker.linger (-1ms) must be at least 0s"}},
		{"in flight", func(c *config.Config) { c.Worker.MaxInFlight = 257 }, []string{"worker.max_in_flight (257) must be between 1 and 256"}},
		{"pending records", func(c *config.Config) { c.Worker.MaxPendingRecords = 0 }, []string{"worker.max_pending_records (0) must be at least 1"}},
		{"unknown attempts", func(c *config.Config) { c.Worker.UnknownMaxAttempts = 0 }, []string{"worker.unknown_max_attempts (0) must be at least 1"}},
		{"isolated failure age", func(c *config.Config) { c.Worker.IsolatedFailureMaxAge = time.Second }, []string{"worker.isolated_failure_max_age (1s) must be at least 10s"}},
		{"backoff initial", func(c *config.Config) { c.Worker.BackoffInitial = 0 }, []string{"worker.backoff_initial (0s) must be greater than 0"}},
		{"backoff max below initial", func(c *config.Config) { c.Worker.BackoffMax = 100 * time.Millisecond },
			[]string{"worker.backoff_max (100ms) must be at least worker.backoff_initial (250ms)"}},
		{"systemic backoff max below initial", func(c *config.Config) { c.Worker.SystemicBackoffMax = time.Second },
			[]string{"worker.systemic_backoff_max (1s) must be at least worker.systemic_backoff_initial (10s)"}},
		{"systemic backoff initial", func(c *config.Config) { c.Worker.SystemicBackoffInitial = 0 },
			[]string{"worker.systemic_backoff_initial (0s) must be greater than 0"}},
		{"id length", func(c *config.Config) { c.Events.MaxIDLength = 0 }, []string{"events.max_id_length (0) must be at least 1"}},
		{"seqs per event", func(c *config.Config) { c.Events.MaxSeqsPerEvent = 0 }, []string{"events.max_seqs_per_event (0) must be at least 1"}},
		{"drain timeout", func(c *config.Config) { c.Shutdown.DrainTimeout = 0 }, []string{"shutdown.drain_timeout (0s) must be greater than 0"}},
		{"rebalance drain timeout", func(c *config.Config) { c.Shutdown.RebalanceDrainTimeout = 0 },
			[]string{"shutdown.rebalance_drain_timeout (0s) must be greater than 0"}},
		{"rebalance drain above rebalance timeout", func(c *config.Config) { c.Shutdown.RebalanceDrainTimeout = 40 * time.Second },
			[]string{"kafka.rebalance_timeout (30s) must be greater than shutdown.rebalance_drain_timeout (40s), or the group evicts a member still draining"}},
		{"rebalance drain outlasting the session", func(c *config.Config) {
			c.Kafka.SessionTimeout, c.Kafka.HeartbeatInterval = 10*time.Second, time.Second
			c.Shutdown.DrainTimeout = 8 * time.Second
		}, []string{"shutdown.rebalance_drain_timeout (10s) plus kafka.heartbeat_interval (1s) must be less than kafka.session_timeout (10s): no heartbeat is sent while revoked work drains, and a member silent for a whole session is evicted before it can commit"}},
		{"shutdown drain outlasting the session", func(c *config.Config) { c.Shutdown.DrainTimeout = 27 * time.Second },
			[]string{"shutdown.drain_timeout (27s) plus kafka.heartbeat_interval (3s) must be less than kafka.session_timeout (30s): no heartbeat is sent while work drains after SIGTERM, and a member silent for a whole session is evicted before it can commit"}},
		{"shutdown drain within the session", func(c *config.Config) { c.Shutdown.DrainTimeout = 26 * time.Second }, nil},
		{"both drains outlasting the session", func(c *config.Config) {
			c.Kafka.SessionTimeout, c.Kafka.HeartbeatInterval = 6*time.Second, time.Second
		}, []string{
			"shutdown.rebalance_drain_timeout (10s) plus kafka.heartbeat_interval (1s) must be less than kafka.session_timeout (6s): no heartbeat is sent while revoked work drains, and a member silent for a whole session is evicted before it can commit",
			"shutdown.drain_timeout (25s) plus kafka.heartbeat_interval (1s) must be less than kafka.session_timeout (6s): no heartbeat is sent while work drains after SIGTERM, and a member silent for a whole session is evicted before it can commit",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.change(&c)
			err := c.Validate()
			got := problemsOf(t, err)
			if !slices.Equal(got, tt.want) {
				t.Errorf("problems:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// Validate lists every broken rule at once, in key order.
func TestValidateListsEveryProblem(t *testing.T) {
	c := config.Default()
	c.Log.Level = "loud"
	c.Worker.MaxSeqsPerCall = 20
	c.Shutdown.DrainTimeout = 0
	want := []string{
		`log.level ("loud") must be one of debug, info, warn, error`,
		"zim.app_id is required: the AppID of the app in the ZEGOCLOUD console (or set RECEIPTD_ZIM_APP_ID)",
		"zim.server_secret is required: the ServerSecret of the app in the ZEGOCLOUD console; set RECEIPTD_ZIM_SERVER_SECRET, or zim.server_secret_file (RECEIPTD_ZIM_SERVER_SECRET_FILE)",
		"worker.max_seqs_per_call (20) must be between 1 and 10",
		"shutdown.drain_timeout (0s) must be greater than 0",
	}
	if got := problemsOf(t, c.Validate()); !slices.Equal(got, want) {
		t.Errorf("problems:\n got %q\nwant %q", got, want)
	}
}
