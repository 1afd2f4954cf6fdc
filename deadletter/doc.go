// Package deadletter is receiptd's dead-letter stage: the records that
// cannot succeed (invalid events, data ZIM rejects, keys that keep failing)
// are written to the dead-letter topic with the reason, and can be read
// back, inspected and replayed.
//
// A [Stage] sits beside the worker. The consumer hands it invalid records
// ([Stage.Reject]); the worker hands it the records it gives up on
// ([Stage.DeadLetter], the worker's DeadLetterer). Both share one bound
// with the worker ([worker.Slots]). The Stage writes their letters through
// a [LetterWriter], retrying what fails, splitting what the topic refuses
// and pausing on a letter refused even alone (settle.go), and reports each
// record done once its letter is durable.
//
// A dead letter is the source record's key, value and headers with
// receiptd's headers added (format.go: Header*, [Parse], [ReplayMessage]).
// A [Writer] writes letters durably, learning the topic's max.message.bytes
// before its first write and cutting a letter that would not fit, saying so
// in its headers (fit.go); an error it returns for a write the topic
// refuses for good wraps [ErrRefused]. [Scan], [Inspect] and
// [Replay] read the topic for the `receiptd dlq` commands.
//
// The package sits beside the worker: it imports worker for the record and
// failure types, never the consumer; the consumer's records reach it
// through a [SourceFunc].
package deadletter
