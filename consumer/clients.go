package consumer

// kafka-go clients built from a Config, for tools beside the Consumer. Each
// call returns a new value that is the caller's own.

import "github.com/segmentio/kafka-go"

// Dialer returns a kafka-go Dialer with the Config's client id, timeout, TLS
// and SASL, for tools that read topics outside a consumer group (such as
// `receiptd dlq`).
func (c Config) Dialer() *kafka.Dialer {
	c.setDefaults()
	return c.dialer()
}

// Transport returns a kafka-go Transport with the Config's client id,
// timeout, TLS and SASL, for a kafka.Client or kafka.Writer.
func (c Config) Transport() *kafka.Transport {
	c.setDefaults()
	return c.transport()
}
