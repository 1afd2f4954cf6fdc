// Package deadletter is receiptd's dead-letter stage: the records that
// cannot succeed (invalid events, data ZIM rejects, keys that keep failing)
// are written to the dead-letter topic with the reason, and can be read
// back, inspected and replayed.
//
// A dead letter is the source record's key, value and headers with
// receiptd's headers added (format.go: Header*, [Parse], [ReplayMessage]).
// A [Writer] writes letters durably, learning the topic's max.message.bytes
// before its first write and cutting a letter that would not fit, saying so
// in its headers (fit.go); an error it returns for a write the topic
// refuses for good wraps worker.ErrDeadLetterRefused. [Scan], [Inspect] and
// [Replay] read the topic for the `receiptd dlq` commands.
//
// The package sits beside the worker: it imports worker for the record and
// failure types, never the consumer; the consumer's records reach it
// through a [SourceFunc].
package deadletter
