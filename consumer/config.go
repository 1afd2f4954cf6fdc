package consumer

// The Consumer's configuration: its fields, their defaults and Validate. A
// Config is a plain value; New copies it, so it is never shared. The rules
// among its group timeouts are in timing.go.

import (
	"crypto/tls"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// Start offsets for a group with no committed offset on a partition.
const (
	StartEarliest = "earliest" // the oldest record still in the log (the default)
	StartLatest   = "latest"   // the next record produced
)

// SASL mechanism names accepted by NewSASLMechanism.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// Config configures a Consumer. Start from DefaultConfig; a
// zero duration or size takes its default, a negative one is invalid.
//
// Config holds credentials (SASL). Its String and GoString methods redact
// them, so printing a Config is safe; printing its SASL field directly is not.
type Config struct {
	Brokers  []string // host:port of one or more bootstrap brokers
	Topic    string   // the source topic of read events
	DLQTopic string   // the dead-letter topic
	GroupID  string   // the consumer group
	ClientID string   // the Kafka client id, default "receiptd"

	// StartOffset is where the group starts on a partition it has never
	// committed: StartEarliest (default) or StartLatest. It is also the
	// reset policy when a committed offset is out of range.
	StartOffset string
	// AutoCreateTopics lets the brokers create a missing topic; when false a
	// missing source or dead-letter topic is an error at start.
	AutoCreateTopics bool

	CommitInterval    time.Duration // how often done offsets are committed, default 1s
	SessionTimeout    time.Duration // default 30s
	HeartbeatInterval time.Duration // default 3s; it also bounds how fast a rebalance is noticed
	// RebalanceTimeout bounds how long the coordinator waits for members to
	// rejoin; it must exceed RebalanceDrainTimeout plus a commit. Default 30s.
	RebalanceTimeout time.Duration
	JoinGroupBackoff time.Duration // wait after a failed join, default 5s
	// PartitionWatchInterval is how often the group looks for new
	// partitions of the topic, default 5s.
	PartitionWatchInterval time.Duration
	// LagPollInterval is how often the owned partitions' log end offsets
	// are read for the lag figures (Progress), default 5s.
	LagPollInterval time.Duration

	FetchMaxWait     time.Duration // longest a fetch waits for data, default 500ms
	FetchMaxBytes    int           // most bytes per fetch, default 1 MiB
	ReadBatchTimeout time.Duration // longest read of one fetched batch, default 2s
	DialTimeout      time.Duration // default 10s

	// RebalanceDrainTimeout bounds the drain of revoked work at a
	// rebalance, default 10s.
	RebalanceDrainTimeout time.Duration
	// DrainTimeout bounds the drain at shutdown, default 25s.
	DrainTimeout time.Duration

	TLS  *tls.Config    // nil: plaintext
	SASL sasl.Mechanism // nil: no SASL; see NewSASLMechanism

	Limits Limits // event validation bounds

	// Logger and ErrorLogger receive kafka-go's own log lines; Logger is
	// chatty (one line per fetch and write) and suits debug level. Nil
	// discards them.
	Logger      kafka.Logger
	ErrorLogger kafka.Logger
}

// Defaults of Config.
const (
	DefaultClientID               = "receiptd"
	DefaultCommitInterval         = time.Second
	DefaultSessionTimeout         = 30 * time.Second
	DefaultHeartbeatInterval      = 3 * time.Second
	DefaultRebalanceTimeout       = 30 * time.Second
	DefaultJoinGroupBackoff       = 5 * time.Second
	DefaultPartitionWatchInterval = 5 * time.Second
	DefaultLagPollInterval        = 5 * time.Second
	DefaultFetchMaxWait           = 500 * time.Millisecond
	DefaultFetchMaxBytes          = 1 << 20
	DefaultReadBatchTimeout       = 2 * time.Second
	DefaultDialTimeout            = 10 * time.Second
	DefaultRebalanceDrainTimeout  = 10 * time.Second
	DefaultDrainTimeout           = 25 * time.Second
)

// DefaultConfig returns a Config with every default filled in. Brokers,
// Topic, DLQTopic and GroupID have no default.
func DefaultConfig() Config {
	var c Config
	c.setDefaults()
	return c
}

func (c *Config) setDefaults() {
	if c.ClientID == "" {
		c.ClientID = DefaultClientID
	}
	if c.StartOffset == "" {
		c.StartOffset = StartEarliest
	}
	c.durations().setDefaults()
	c.sizes().setDefaults()
}

// A number is a numeric field of Config whose zero value takes its default
// and whose negative values are invalid.
type number[T int | time.Duration] struct {
	name string // the field's name in Validate's problems
	v    *T
	def  T
}

// numbers are some fields of one Config, in the order Validate reports them.
type numbers[T int | time.Duration] []number[T]

func (ns numbers[T]) setDefaults() {
	for _, n := range ns {
		if *n.v == 0 {
			*n.v = n.def
		}
	}
}

func (ns numbers[T]) checkNotNegative(add func(format string, args ...any)) {
	for _, n := range ns {
		if *n.v < 0 {
			add("%s: %v is negative", n.name, *n.v)
		}
	}
}

// durations are c's timeouts and intervals.
func (c *Config) durations() numbers[time.Duration] {
	return numbers[time.Duration]{
		{"commit_interval", &c.CommitInterval, DefaultCommitInterval},
		{"session_timeout", &c.SessionTimeout, DefaultSessionTimeout},
		{"heartbeat_interval", &c.HeartbeatInterval, DefaultHeartbeatInterval},
		{"rebalance_timeout", &c.RebalanceTimeout, DefaultRebalanceTimeout},
		{"join_group_backoff", &c.JoinGroupBackoff, DefaultJoinGroupBackoff},
		{"partition_watch_interval", &c.PartitionWatchInterval, DefaultPartitionWatchInterval},
		{"lag_poll_interval", &c.LagPollInterval, DefaultLagPollInterval},
		{"fetch_max_wait", &c.FetchMaxWait, DefaultFetchMaxWait},
		{"read_batch_timeout", &c.ReadBatchTimeout, DefaultReadBatchTimeout},
		{"dial_timeout", &c.DialTimeout, DefaultDialTimeout},
		{"rebalance_drain_timeout", &c.RebalanceDrainTimeout, DefaultRebalanceDrainTimeout},
		{"drain_timeout", &c.DrainTimeout, DefaultDrainTimeout},
	}
}

// sizes are c's byte sizes and counts.
func (c *Config) sizes() numbers[int] {
	return numbers[int]{
		{"fetch_max_bytes", &c.FetchMaxBytes, DefaultFetchMaxBytes},
		{"max_id_length", &c.Limits.MaxIDLength, DefaultMaxIDLength},
		{"max_seqs_per_event", &c.Limits.MaxSeqsPerEvent, DefaultMaxSeqsPerEvent},
	}
}

// Validate reports every problem of c, after defaults, as a *ConfigError.
func (c Config) Validate() error {
	c.setDefaults()
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }

	if len(c.Brokers) == 0 {
		add("brokers: none given")
	}
	for i, b := range c.Brokers {
		if b == "" {
			add("brokers[%d]: empty", i)
		}
	}
	if c.Topic == "" {
		add("topic: empty")
	}
	if c.DLQTopic == "" {
		add("dlq_topic: empty")
	}
	if c.Topic != "" && c.Topic == c.DLQTopic {
		add("dlq_topic: must differ from topic %q", c.Topic)
	}
	if c.GroupID == "" {
		add("group_id: empty")
	}
	if c.StartOffset != StartEarliest && c.StartOffset != StartLatest {
		add("start_offset: %q is not %s or %s", c.StartOffset, StartEarliest, StartLatest)
	}
	c.durations().checkNotNegative(add)
	for _, r := range c.timing().Broken() {
		switch r {
		case HeartbeatBelowSession:
			add("heartbeat_interval: %v must be below session_timeout %v", c.HeartbeatInterval, c.SessionTimeout)
		case RebalanceDrainBelowRebalance:
			add("rebalance_drain_timeout: %v must be below rebalance_timeout %v", c.RebalanceDrainTimeout, c.RebalanceTimeout)
		case RebalanceDrainFitsSession:
			add("rebalance_drain_timeout: %v plus heartbeat_interval %v must be below session_timeout %v",
				c.RebalanceDrainTimeout, c.HeartbeatInterval, c.SessionTimeout)
		case ShutdownDrainFitsSession:
			add("drain_timeout: %v plus heartbeat_interval %v must be below session_timeout %v",
				c.DrainTimeout, c.HeartbeatInterval, c.SessionTimeout)
		}
	}
	c.sizes().checkNotNegative(add)
	if len(p) > 0 {
		return &ConfigError{Problems: p}
	}
	return nil
}

// String describes c without credentials.
func (c Config) String() string {
	sasl := "none"
	if c.SASL != nil {
		sasl = c.SASL.Name() + " (credentials redacted)"
	}
	return fmt.Sprintf("consumer.Config{Brokers:%v Topic:%q DLQTopic:%q GroupID:%q ClientID:%q StartOffset:%q TLS:%t SASL:%s}",
		c.Brokers, c.Topic, c.DLQTopic, c.GroupID, c.ClientID, c.StartOffset, c.TLS != nil, sasl)
}

// GoString is String, so that %#v redacts credentials too.
func (c Config) GoString() string { return c.String() }

// NewSASLMechanism returns the SASL mechanism named name (SASLPlain,
// SASLScramSHA256 or SASLScramSHA512) for user and password. Its errors never
// contain the password.
func NewSASLMechanism(name, user, password string) (sasl.Mechanism, error) {
	algo := scram.SHA256
	switch name {
	case SASLPlain:
		return plain.Mechanism{Username: user, Password: password}, nil
	case SASLScramSHA256:
	case SASLScramSHA512:
		algo = scram.SHA512
	default:
		return nil, fmt.Errorf("SASL mechanism %q is not %s, %s or %s", name, SASLPlain, SASLScramSHA256, SASLScramSHA512)
	}
	m, err := scram.Mechanism(algo, user, password)
	if err != nil {
		// The underlying error quotes the password: never pass it on.
		return nil, fmt.Errorf("SASL %s: the username or password contains characters SASLprep (RFC 4013) prohibits", name)
	}
	return m, nil
}

func (c *Config) startOffset() int64 {
	if c.StartOffset == StartLatest {
		return kafka.LastOffset
	}
	return kafka.FirstOffset
}

func (c *Config) dialer() *kafka.Dialer {
	return &kafka.Dialer{
		ClientID:      c.ClientID,
		Timeout:       c.DialTimeout,
		DualStack:     true,
		TLS:           c.TLS,
		SASLMechanism: c.SASL,
	}
}

func (c *Config) transport() *kafka.Transport {
	return &kafka.Transport{
		DialTimeout: c.DialTimeout,
		ClientID:    c.ClientID,
		TLS:         c.TLS,
		SASL:        c.SASL,
	}
}
