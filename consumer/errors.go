package consumer

// The errors the consumer returns and reports. Plain values, safe to share.

import (
	"errors"
	"fmt"
	"strings"
)

// ErrAbandon, given as the cause of the context passed to Consumer.Run
// (context.WithCancelCause), stops the consumer the way kill -9 would as far
// as offsets go: no drain and no commit; the work in flight stays uncommitted
// and is redelivered to the group. The consumer still leaves the group so
// that the partitions move on without waiting out the session timeout. The
// Stages must be discarded with it. Tests use it to check that nothing is
// lost when a process dies.
var ErrAbandon = errors.New("consumer abandoned without draining or committing")

// ConfigError lists every problem found in a Config.
type ConfigError struct {
	Problems []string
}

func (e *ConfigError) Error() string {
	return "invalid consumer configuration: " + strings.Join(e.Problems, "; ")
}

// MissingTopicError is returned by Run and CheckTopics when a topic does not
// exist and Config.AutoCreateTopics is false.
type MissingTopicError struct {
	Topic string
	Role  string // "source topic" or "dead-letter topic"
}

func (e *MissingTopicError) Error() string {
	return fmt.Sprintf("kafka %s %q does not exist: create it (kafka-topics.sh --create --topic %s "+
		"--partitions N --replication-factor 3 --config min.insync.replicas=2) or enable topic auto-creation",
		e.Role, e.Topic, e.Topic)
}
