package deadletter

// The configuration of a Writer and of the tools that read the topic, its
// defaults and Validate.
//
// Lock and goroutine contract: a Config is a plain value; every function
// that takes one works on its own copy.

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/segmentio/kafka-go"
)

// Config configures a Writer and the tools that read the dead-letter topic
// (Scan, Replay, Inspect). The zero value of a field selects its default,
// except where noted.
type Config struct {
	Brokers []string // host:port of one or more bootstrap brokers
	Topic   string   // the dead-letter topic
	// Dialer carries the client id, the dial timeout, TLS and SASL shared
	// with the consumer (consumer.Config.Dialer). Required.
	Dialer *kafka.Dialer
	// WriteTimeout bounds one dead-letter write; overriding the default of
	// 30s.
	WriteTimeout time.Duration
	// MaxMessageBytes is the topic's max.message.bytes, for a principal
	// that may not describe the topic's configuration. 0 (the default)
	// reads it from the topic, falling back to DefaultMaxMessageBytes when
	// the brokers refuse.
	MaxMessageBytes int
	// AutoCreateTopic lets the brokers create a missing topic on the first
	// write.
	AutoCreateTopic bool
	// WorkerID names this process in the receiptd-worker header; default
	// the host name.
	WorkerID string
	// Logger and ErrorLogger receive kafka-go's own log lines; nil discards
	// them.
	Logger      kafka.Logger
	ErrorLogger kafka.Logger
}

// DefaultWriteTimeout is Config.WriteTimeout's default.
const DefaultWriteTimeout = 30 * time.Second

func (c *Config) setDefaults() {
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.WorkerID == "" {
		if h, err := os.Hostname(); err == nil {
			c.WorkerID = h
		}
	}
}

// Validate reports every problem of c, after defaults are applied.
func (c Config) Validate() error {
	c.setDefaults()
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("dead-letter config: no brokers given"))
	}
	if c.Topic == "" {
		errs = append(errs, errors.New("dead-letter config: no topic given"))
	}
	if c.Dialer == nil {
		errs = append(errs, errors.New("dead-letter config: no dialer given"))
	}
	if c.WriteTimeout < 0 {
		errs = append(errs, fmt.Errorf("dead-letter config: write timeout %v is negative", c.WriteTimeout))
	}
	if c.MaxMessageBytes < 0 {
		errs = append(errs, fmt.Errorf("dead-letter config: max message bytes %d is negative", c.MaxMessageBytes))
	}
	return errors.Join(errs...)
}

// transport returns a kafka-go Transport with the Dialer's client id,
// timeout, TLS and SASL. Defaults applied.
func (c *Config) transport() *kafka.Transport {
	return &kafka.Transport{DialTimeout: c.Dialer.Timeout, ClientID: c.Dialer.ClientID, TLS: c.Dialer.TLS, SASL: c.Dialer.SASLMechanism}
}

// client returns a kafka-go Client of the brokers over tr.
func (c *Config) client(tr *kafka.Transport) *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(c.Brokers...), Transport: tr, Timeout: c.Dialer.Timeout}
}
