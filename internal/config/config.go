// Package config loads, overrides, validates and redacts receiptd's configuration.
//
// The configuration is one YAML file whose keys are documented, with their defaults,
// in config.yaml at the repository root. Every key can be overridden by an environment
// variable named RECEIPTD_ followed by the key path upper-cased with dots replaced by
// underscores (kafka.sasl.password is RECEIPTD_KAFKA_SASL_PASSWORD). Secrets (the ZIM
// ServerSecret and the Kafka SASL password) may come from the file, the environment or a
// file named by a *_file key; they are held in a [secret.Secret], which never prints its value.
//
// [Load] reports every problem it finds at once, as a [*ProblemsError].
package config

import (
	"time"

	"github.com/receiptd/receiptd/consumer"
	"github.com/receiptd/receiptd/deadletter"
	"github.com/receiptd/receiptd/internal/secret"
	"github.com/receiptd/receiptd/retry"
	"github.com/receiptd/receiptd/worker"
	"github.com/receiptd/receiptd/zimapi"
)

// Accepted values of the enumerated keys, in their normalised spelling.
const (
	LogLevelDebug = "debug"
	LogLevelInfo  = "info"
	LogLevelWarn  = "warn"
	LogLevelError = "error"

	// LogUserIDsPlain logs user and conversation IDs as they are.
	LogUserIDsPlain = "plain"
	// LogUserIDsHash logs a keyed hash of each ID: stable, so one user's lines still group.
	LogUserIDsHash = "hash"
	// LogUserIDsOmit leaves user and conversation IDs out of log lines.
	LogUserIDsOmit = "omit"

	// StartOffsetEarliest makes a group with no committed offset start at the oldest record.
	StartOffsetEarliest = consumer.StartEarliest
	// StartOffsetLatest makes a group with no committed offset start at the next new record.
	StartOffsetLatest = consumer.StartLatest

	SASLPlain       = consumer.SASLPlain
	SASLScramSHA256 = consumer.SASLScramSHA256
	SASLScramSHA512 = consumer.SASLScramSHA512

	// RateSharePartitions shares rate_limit_rps between pods by the partitions each owns.
	RateSharePartitions = "partitions"
	// RateShareFull gives a pod the whole rate_limit_rps (one pod per app).
	RateShareFull = "full"
)

// Config is receiptd's whole configuration. The yaml tags are the key names of
// config.yaml. Start from [Default]; the zero value is not a valid configuration.
type Config struct {
	Log      LogConfig      `yaml:"log"`
	HTTP     HTTPConfig     `yaml:"http"`
	Kafka    KafkaConfig    `yaml:"kafka"`
	ZIM      ZIMConfig      `yaml:"zim"`
	Worker   WorkerConfig   `yaml:"worker"`
	Events   EventsConfig   `yaml:"events"`
	Shutdown ShutdownConfig `yaml:"shutdown"`
}

// LogConfig controls logging.
type LogConfig struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// SummaryInterval is the period of the summary log line; 0 disables it.
	SummaryInterval time.Duration `yaml:"summary_interval"`
	// UserIDs is how log lines show user and conversation IDs: plain, hash or omit.
	// Dead-letter records keep the original record whatever the setting.
	UserIDs string `yaml:"user_ids"`
}

// HTTPConfig controls the /metrics, /healthz and /readyz listener.
type HTTPConfig struct {
	// Listen is the host:port to listen on; "" disables the listener.
	Listen string `yaml:"listen"`
}

// KafkaConfig controls the source consumer group and the dead-letter writer.
type KafkaConfig struct {
	Brokers  []string `yaml:"brokers"`
	Topic    string   `yaml:"topic"`
	DLQTopic string   `yaml:"dlq_topic"`
	GroupID  string   `yaml:"group_id"`
	ClientID string   `yaml:"client_id"`
	// StartOffset is where a group with no committed offset starts: earliest or latest.
	StartOffset string `yaml:"start_offset"`
	// AutoCreateTopics lets the client create missing topics; when false a missing
	// topic is an error at start.
	AutoCreateTopics  bool          `yaml:"auto_create_topics"`
	CommitInterval    time.Duration `yaml:"commit_interval"`
	SessionTimeout    time.Duration `yaml:"session_timeout"`
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	RebalanceTimeout  time.Duration `yaml:"rebalance_timeout"`
	JoinGroupBackoff  time.Duration `yaml:"join_group_backoff"`
	// LagPollInterval is how often the owned partitions' log end offsets are read
	// for the lag figures.
	LagPollInterval  time.Duration `yaml:"lag_poll_interval"`
	FetchMaxWait     time.Duration `yaml:"fetch_max_wait"`
	FetchMaxBytes    int           `yaml:"fetch_max_bytes"`
	ReadBatchTimeout time.Duration `yaml:"read_batch_timeout"`
	DialTimeout      time.Duration `yaml:"dial_timeout"`
	DLQWriteTimeout  time.Duration `yaml:"dlq_write_timeout"`
	// DLQMaxMessageBytes is the dead-letter topic's max.message.bytes; 0 reads
	// it from the topic's configuration.
	DLQMaxMessageBytes int        `yaml:"dlq_max_message_bytes"`
	TLS                TLSConfig  `yaml:"tls"`
	SASL               SASLConfig `yaml:"sasl"`
}

// TLSConfig controls TLS to the Kafka brokers.
type TLSConfig struct {
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM bundle of CAs to trust instead of the system pool.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a PEM client certificate and key, set together or not at all.
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// SASLConfig controls SASL authentication to the Kafka brokers.
type SASLConfig struct {
	// Mechanism is "", PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; "" disables SASL.
	Mechanism string        `yaml:"mechanism"`
	Username  string        `yaml:"username"`
	Password  secret.Secret `yaml:"password"`
	// PasswordFile names the file Load read Password from, if any.
	PasswordFile string `yaml:"password_file"`
}

// ZIMConfig controls calls to the ZEGOCLOUD ZIM server API.
type ZIMConfig struct {
	// Endpoint is the API's base URL: https, or http to a loopback host.
	Endpoint     string        `yaml:"endpoint"`
	AppID        uint32        `yaml:"app_id"`
	ServerSecret secret.Secret `yaml:"server_secret"`
	// ServerSecretFile names the file Load read ServerSecret from, if any.
	ServerSecretFile string        `yaml:"server_secret_file"`
	RequestTimeout   time.Duration `yaml:"request_timeout"`
	MaxResponseBytes int           `yaml:"max_response_bytes"`
	// RateLimitRPS is the requests per second ZEGO grants per app and action.
	RateLimitRPS int `yaml:"rate_limit_rps"`
	// RateLimitShared makes the four receipt actions share one budget.
	RateLimitShared bool `yaml:"rate_limit_shared"`
	// RateShare is how pods divide RateLimitRPS: partitions or full.
	RateShare string `yaml:"rate_share"`
	// RateGuard is how long a request may take to reach ZIM after it
	// leaves: with rate_share partitions, a pod waits a round of the slot
	// schedule plus RateGuard before it uses a partition it gained.
	RateGuard time.Duration `yaml:"rate_guard"`
}

// WorkerConfig controls batching, dispatch and retries.
type WorkerConfig struct {
	MaxSeqsPerCall     int           `yaml:"max_seqs_per_call"`
	Linger             time.Duration `yaml:"linger"`
	MaxInFlight        int           `yaml:"max_in_flight"`
	MaxPendingRecords  int           `yaml:"max_pending_records"`
	UnknownMaxAttempts int           `yaml:"unknown_max_attempts"`
	// IsolatedFailureMaxAge is how long a key may fail alone before its records are
	// dead-lettered as exhausted.
	IsolatedFailureMaxAge  time.Duration `yaml:"isolated_failure_max_age"`
	BackoffInitial         time.Duration `yaml:"backoff_initial"`
	BackoffMax             time.Duration `yaml:"backoff_max"`
	SystemicBackoffInitial time.Duration `yaml:"systemic_backoff_initial"`
	SystemicBackoffMax     time.Duration `yaml:"systemic_backoff_max"`
}

// EventsConfig bounds what counts as a valid input event.
type EventsConfig struct {
	// MaxIDLength is the longest user_id, group_id or conv_id accepted, in bytes.
	MaxIDLength int `yaml:"max_id_length"`
	// MaxSeqsPerEvent is the most sequence numbers one event may carry.
	MaxSeqsPerEvent int `yaml:"max_seqs_per_event"`
}

// ShutdownConfig bounds how long stopping may take.
type ShutdownConfig struct {
	// DrainTimeout bounds the drain after SIGTERM.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
	// RebalanceDrainTimeout bounds the drain of revoked partitions at a rebalance.
	RebalanceDrainTimeout time.Duration `yaml:"rebalance_drain_timeout"`
}

// Default returns the configuration with every key at its documented default. It does
// not validate: zim.app_id and zim.server_secret have no default and must be supplied.
//
// The defaults of the packages that use a key are theirs (consumer.DefaultConfig,
// worker.DefaultConfig, deadletter's, zimapi's and retry's); only the keys those
// packages leave to the deployment (where to connect, what to name, how long a batch
// lingers) have their defaults here.
func Default() Config {
	k := consumer.DefaultConfig()
	w := worker.DefaultConfig()
	return Config{
		Log: LogConfig{
			Level:           LogLevelInfo,
			SummaryInterval: 30 * time.Second,
			UserIDs:         LogUserIDsPlain,
		},
		HTTP: HTTPConfig{Listen: ":8080"},
		Kafka: KafkaConfig{
			Brokers:           []string{"127.0.0.1:9092"},
			Topic:             "message-read",
			DLQTopic:          "message-read-dlq",
			GroupID:           "receiptd",
			ClientID:          k.ClientID,
			StartOffset:       k.StartOffset,
			CommitInterval:    k.CommitInterval,
			SessionTimeout:    k.SessionTimeout,
			HeartbeatInterval: k.HeartbeatInterval,
			RebalanceTimeout:  k.RebalanceTimeout,
			JoinGroupBackoff:  k.JoinGroupBackoff,
			LagPollInterval:   k.LagPollInterval,
			FetchMaxWait:      k.FetchMaxWait,
			FetchMaxBytes:     k.FetchMaxBytes,
			ReadBatchTimeout:  k.ReadBatchTimeout,
			DialTimeout:       k.DialTimeout,
			DLQWriteTimeout:   deadletter.DefaultWriteTimeout,
		},
		ZIM: ZIMConfig{
			Endpoint:         zimapi.DefaultEndpoint,
			RequestTimeout:   zimapi.DefaultTimeout,
			MaxResponseBytes: int(zimapi.DefaultMaxResponseBytes),
			RateLimitRPS:     zimapi.RateLimitRPS,
			RateShare:        RateSharePartitions,
			RateGuard:        retry.DefaultGuard,
		},
		Worker: WorkerConfig{
			MaxSeqsPerCall:         w.MaxSeqsPerCall,
			Linger:                 200 * time.Millisecond,
			MaxInFlight:            w.MaxInFlight,
			MaxPendingRecords:      w.MaxPendingRecords,
			UnknownMaxAttempts:     w.UnknownMaxAttempts,
			IsolatedFailureMaxAge:  w.IsolatedFailureMaxAge,
			BackoffInitial:         retry.DefaultInitial,
			BackoffMax:             retry.DefaultMax,
			SystemicBackoffInitial: w.SystemicBackoff.Initial,
			SystemicBackoffMax:     w.SystemicBackoff.Max,
		},
		Events: EventsConfig{
			MaxIDLength:     k.Limits.MaxIDLength,
			MaxSeqsPerEvent: k.Limits.MaxSeqsPerEvent,
		},
		Shutdown: ShutdownConfig{
			DrainTimeout:          k.DrainTimeout,
			RebalanceDrainTimeout: k.RebalanceDrainTimeout,
		},
	}
}
