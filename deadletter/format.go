package deadletter

// The format of a dead letter: receiptd's headers, reading them back
// (Parse) and the record that replays a letter (ReplayMessage).
//
// Lock and goroutine contract: pure functions of their arguments; no state,
// no locks, safe from any goroutine.

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/segmentio/kafka-go"

	"github.com/receiptd/receiptd/worker"
)

// Headers receiptd adds to a dead-letter record (README, "The dead-letter
// workflow"). Every one starts with HeaderPrefix.
const (
	HeaderPrefix          = "receiptd-"
	HeaderErrorClass      = "receiptd-error-class"      // invalid_event, rejected or exhausted
	HeaderErrorCode       = "receiptd-error-code"       // the ZIM return code, 0 for invalid events
	HeaderErrorMessage    = "receiptd-error-message"    // the ZIM message or the validation error
	HeaderRequestID       = "receiptd-request-id"       // the ZIM RequestId of the failed call, if any
	HeaderAction          = "receiptd-action"           // the ZIM action, e.g. GroupReadReceipt; empty if unknown
	HeaderFailedSeqs      = "receiptd-failed-seqs"      // comma-separated
	HeaderSourceTopic     = "receiptd-source-topic"     //
	HeaderSourcePartition = "receiptd-source-partition" //
	HeaderSourceOffset    = "receiptd-source-offset"    //
	HeaderAttempts        = "receiptd-attempts"         // API calls made for the failed seqs
	HeaderFirstAttemptAt  = "receiptd-first-attempt-at" // RFC 3339 UTC with milliseconds; empty if no call was made
	HeaderFailedAt        = "receiptd-failed-at"        // RFC 3339 UTC with milliseconds
	HeaderWorker          = "receiptd-worker"           // the WorkerID of the process that dead-lettered it
	HeaderReplayCount     = "receiptd-replay-count"     // how many times the record was replayed from the dead-letter topic

	// Only on a letter cut to fit the dead-letter topic: the source
	// coordinates point at the whole record.
	HeaderTruncated           = "receiptd-truncated"             // what was cut: value, then headers (the source's own), then key
	HeaderOriginalValueSize   = "receiptd-original-value-size"   // the length of the source record's value, in bytes
	HeaderOriginalValueSHA256 = "receiptd-original-value-sha256" // the lower-case hex SHA-256 of the source record's value
)

// ErrTruncated is returned by ReplayMessage for a letter that was cut to fit
// the dead-letter topic: its value is not the source record's. Replay the
// source record itself from its coordinates instead, while the source
// topic's retention keeps it.
var ErrTruncated = errors.New("the dead letter was cut to fit the dead-letter topic")

// TimeLayout is the layout of the time headers.
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

// maxMessageHeader bounds receiptd-error-message, whose text may come from
// the API or from a hostile record.
const maxMessageHeader = 1024

// Info is what receiptd recorded about a dead-letter record.
type Info struct {
	Class           worker.FailureClass
	Code            int64
	Message         string
	RequestID       string
	Action          string
	FailedSeqs      []uint64
	SourceTopic     string
	SourcePartition int
	SourceOffset    int64
	Attempts        int
	FirstAttemptAt  time.Time // zero if no call was made
	FailedAt        time.Time
	Worker          string
	ReplayCount     int
	// Original holds the source record's own headers, without receiptd's.
	Original []kafka.Header
	// Truncated lists what was cut from the letter to fit the dead-letter
	// topic (value, headers, key); nil for a whole letter.
	Truncated []string
	// OriginalValueSize and OriginalValueSHA256 describe the source
	// record's value, for a cut letter.
	OriginalValueSize   int64
	OriginalValueSHA256 string
}

// HeaderError is returned by Parse for a record whose receiptd
// headers are missing or malformed.
type HeaderError struct {
	Partition int   // of the record in the dead-letter topic
	Offset    int64 // of the record in the dead-letter topic
	// Problems names each bad header and what is wrong with it, or says
	// that the record has no receiptd header at all.
	Problems []string
}

func (e *HeaderError) Error() string {
	return fmt.Sprintf("dead-letter record at partition %d offset %d: %s", e.Partition, e.Offset, strings.Join(e.Problems, "; "))
}

// Parse reads receiptd's headers from a dead-letter record. It
// returns a *HeaderError if one is missing or malformed (a negative count or
// coordinate, an empty source topic included).
func Parse(m kafka.Message) (Info, error) {
	var info Info
	h := make(map[string]string, 16)
	for _, hd := range m.Headers {
		if strings.HasPrefix(hd.Key, HeaderPrefix) {
			h[hd.Key] = string(hd.Value)
		} else {
			info.Original = append(info.Original, hd)
		}
	}
	if len(h) == 0 {
		return info, &HeaderError{Partition: m.Partition, Offset: m.Offset, Problems: []string{"no receiptd headers"}}
	}
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	need := func(key string) string {
		v, ok := h[key]
		if !ok {
			bad("header %s: missing", key)
		}
		return v
	}
	num := func(key string) int64 {
		v := need(key)
		if v == "" {
			return 0
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			bad("header %s: %q is not an integer", key, v)
		}
		return n
	}
	count := func(key string) int64 {
		n := num(key)
		if n < 0 {
			bad("header %s: %d is negative", key, n)
		}
		return n
	}
	when := func(key string, optional bool) time.Time {
		v := need(key)
		if v == "" && optional {
			return time.Time{}
		}
		t, err := time.Parse(TimeLayout, v)
		if err != nil {
			bad("header %s: %q is not an RFC 3339 time", key, v)
		}
		return t
	}

	info.Class = worker.FailureClass(need(HeaderErrorClass))
	switch info.Class {
	case worker.FailInvalidEvent, worker.FailRejected, worker.FailExhausted, "":
	default:
		bad("header %s: unknown class %q", HeaderErrorClass, info.Class)
	}
	info.Code = num(HeaderErrorCode)
	info.Message = need(HeaderErrorMessage)
	info.RequestID = need(HeaderRequestID)
	info.Action = need(HeaderAction)
	if v := need(HeaderFailedSeqs); v != "" {
		for s := range strings.SplitSeq(v, ",") {
			n, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				bad("header %s: %q is not a sequence number", HeaderFailedSeqs, s)
				break
			}
			info.FailedSeqs = append(info.FailedSeqs, n)
		}
	}
	if info.SourceTopic = need(HeaderSourceTopic); info.SourceTopic == "" {
		if _, ok := h[HeaderSourceTopic]; ok {
			bad("header %s: empty", HeaderSourceTopic)
		}
	}
	info.SourcePartition = int(count(HeaderSourcePartition))
	info.SourceOffset = count(HeaderSourceOffset)
	info.Attempts = int(count(HeaderAttempts))
	info.FirstAttemptAt = when(HeaderFirstAttemptAt, true)
	info.FailedAt = when(HeaderFailedAt, false)
	info.Worker = need(HeaderWorker)
	info.ReplayCount = int(count(HeaderReplayCount))
	if v, ok := h[HeaderTruncated]; ok {
		info.Truncated = strings.Split(v, ",")
		info.OriginalValueSize = count(HeaderOriginalValueSize)
		if info.OriginalValueSHA256 = need(HeaderOriginalValueSHA256); len(info.OriginalValueSHA256) != 64 {
			bad("header %s: %q is not a SHA-256 in hex", HeaderOriginalValueSHA256, info.OriginalValueSHA256)
		}
	}
	if len(problems) > 0 {
		return info, &HeaderError{Partition: m.Partition, Offset: m.Offset, Problems: problems}
	}
	return info, nil
}

// ReplayMessage returns the record to produce to topic to replay the
// dead-letter record m: its key, value and original headers, with
// receiptd-replay-count one higher. It fails like Parse, and with
// ErrTruncated for a letter that was cut.
func ReplayMessage(m kafka.Message, topic string) (kafka.Message, error) {
	info, err := Parse(m)
	if err != nil {
		return kafka.Message{}, err
	}
	if info.Truncated != nil {
		return kafka.Message{}, fmt.Errorf("dead-letter record at partition %d offset %d: %w (%s cut; the whole record is at %s partition %d offset %d)",
			m.Partition, m.Offset, ErrTruncated, strings.Join(info.Truncated, ", "), info.SourceTopic, info.SourcePartition, info.SourceOffset)
	}
	headers := append(info.Original[:len(info.Original):len(info.Original)],
		kafka.Header{Key: HeaderReplayCount, Value: []byte(strconv.Itoa(info.ReplayCount + 1))})
	return kafka.Message{Topic: topic, Key: m.Key, Value: m.Value, Headers: headers}, nil
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(TimeLayout)
}

func joinSeqs(seqs []uint64) string {
	b := make([]byte, 0, len(seqs)*8)
	for i, s := range seqs {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, s, 10)
	}
	return string(b)
}

// truncate shortens s to at most n bytes of valid UTF-8.
func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
