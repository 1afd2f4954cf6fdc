package consumer

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/segmentio/kafka-go"

	"github.com/receiptd/receiptd/worker"
)

// Headers receiptd adds to a dead-letter record (DESIGN.md, "Dead-letter
// record"). Every one starts with HeaderPrefix.
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
)

// TimeLayout is the layout of the time headers.
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

// maxMessageHeader bounds receiptd-error-message, whose text may come from
// the API or from a hostile record.
const maxMessageHeader = 1024

// DeadLetterInfo is what receiptd recorded about a dead-letter record.
type DeadLetterInfo struct {
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
}

// HeaderError is returned by ParseDeadLetter for a record whose receiptd
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

// ParseDeadLetter reads receiptd's headers from a dead-letter record. It
// returns a *HeaderError if one is missing or malformed (a negative count or
// coordinate, an empty source topic included).
func ParseDeadLetter(m kafka.Message) (DeadLetterInfo, error) {
	var info DeadLetterInfo
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
	if len(problems) > 0 {
		return info, &HeaderError{Partition: m.Partition, Offset: m.Offset, Problems: problems}
	}
	return info, nil
}

// ReplayMessage returns the record to produce to topic to replay the
// dead-letter record m: its key, value and original headers, with
// receiptd-replay-count one higher. It fails like ParseDeadLetter.
func ReplayMessage(m kafka.Message, topic string) (kafka.Message, error) {
	info, err := ParseDeadLetter(m)
	if err != nil {
		return kafka.Message{}, err
	}
	headers := append(info.Original[:len(info.Original):len(info.Original)],
		kafka.Header{Key: HeaderReplayCount, Value: []byte(strconv.Itoa(info.ReplayCount + 1))})
	return kafka.Message{Topic: topic, Key: m.Key, Value: m.Value, Headers: headers}, nil
}

// DLQWriter writes dead letters to the dead-letter topic with one shared,
// synchronous kafka.Writer that waits for all in-sync replicas. It implements
// worker.DeadLetterer and is safe for concurrent use.
type DLQWriter struct {
	w         *kafka.Writer
	transport *kafka.Transport
	topic     string
	workerID  string
	timeout   time.Duration
	obs       Observer
	now       func() time.Time
}

// NewDLQWriter returns a writer to cfg.DLQTopic. It does not connect until the
// first write. obs may be nil. Close it when done.
func NewDLQWriter(cfg Config, obs Observer) (*DLQWriter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	if obs == nil {
		obs = NopObserver{}
	}
	tr := cfg.transport()
	return &DLQWriter{
		w: &kafka.Writer{
			Addr:  kafka.TCP(cfg.Brokers...),
			Topic: cfg.DLQTopic,
			// Hash keeps the source key's affinity: one conversation's
			// dead letters land in one partition, in order.
			Balancer:     &kafka.Hash{},
			RequiredAcks: kafka.RequireAll,
			// A dead-letter write holds up commits; do not wait for more
			// records to fill a batch.
			BatchTimeout: 5 * time.Millisecond,
			// One produce request per DeadLetter call, waiting as long as
			// the call: a request that timed out may still be appended
			// (a paused broker appends it when it resumes), so every
			// retry, kafka-go's own included, risks a second copy. The
			// caller retries what fails.
			MaxAttempts:            1,
			WriteTimeout:           cfg.DLQWriteTimeout,
			AllowAutoTopicCreation: cfg.AutoCreateTopics,
			Transport:              tr,
			Logger:                 cfg.Logger,
			ErrorLogger:            cfg.ErrorLogger,
		},
		transport: tr,
		topic:     cfg.DLQTopic,
		workerID:  cfg.WorkerID,
		timeout:   cfg.DLQWriteTimeout,
		obs:       obs,
		now:       time.Now,
	}, nil
}

// DeadLetter writes all letters in one call and returns nil only when every
// one was acknowledged by all in-sync replicas. On error none may be assumed
// durable (some may have been written: the dead-letter topic can hold
// duplicates, recognisable by their source coordinates). It waits at most
// Config.DLQWriteTimeout, and less if ctx ends first.
func (d *DLQWriter) DeadLetter(ctx context.Context, letters []worker.DeadLetter) error {
	if len(letters) == 0 {
		return nil
	}
	msgs := make([]kafka.Message, len(letters))
	for i, l := range letters {
		m, err := d.message(l)
		if err != nil {
			return err
		}
		msgs[i] = m
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	if err := d.w.WriteMessages(ctx, msgs...); err != nil {
		err = fmt.Errorf("write %d records to dead-letter topic %q: %w", len(msgs), d.topic, err)
		d.obs.DLQWriteFailed(DLQWriteFailed{Topic: d.topic, Records: len(msgs), Err: err})
		return err
	}
	return nil
}

// Close flushes and closes the writer and its connections.
func (d *DLQWriter) Close() error {
	err := d.w.Close()
	d.transport.CloseIdleConnections()
	if err != nil {
		return fmt.Errorf("close dead-letter writer: %w", err)
	}
	return nil
}

// message builds the dead-letter record of one letter: the source record's
// key, value and headers, its receiptd headers replaced by fresh ones.
func (d *DLQWriter) message(l worker.DeadLetter) (kafka.Message, error) {
	s, ok := l.Record.Ref.(*source)
	if !ok || s == nil {
		return kafka.Message{}, fmt.Errorf("dead letter for %v: the record did not come from this consumer", l.Record.Key)
	}
	src := s.msg
	f := l.Failure
	replays := 0
	headers := make([]kafka.Header, 0, len(src.Headers)+14)
	for _, h := range src.Headers {
		if !strings.HasPrefix(h.Key, HeaderPrefix) {
			headers = append(headers, h)
			continue
		}
		if h.Key == HeaderReplayCount {
			if n, err := strconv.Atoi(string(h.Value)); err == nil && n > 0 {
				replays = n
			}
		}
	}
	failedAt := f.FailedAt
	if failedAt.IsZero() {
		failedAt = d.now()
	}
	add := func(k, v string) { headers = append(headers, kafka.Header{Key: k, Value: []byte(v)}) }
	add(HeaderErrorClass, string(f.Class))
	add(HeaderErrorCode, strconv.FormatInt(f.Code, 10))
	add(HeaderErrorMessage, truncate(f.Message, maxMessageHeader))
	add(HeaderRequestID, f.RequestID)
	add(HeaderAction, l.Record.Key.Action.String())
	add(HeaderFailedSeqs, joinSeqs(f.FailedSeqs))
	add(HeaderSourceTopic, src.Topic)
	add(HeaderSourcePartition, strconv.Itoa(src.Partition))
	add(HeaderSourceOffset, strconv.FormatInt(src.Offset, 10))
	add(HeaderAttempts, strconv.Itoa(f.Attempts))
	add(HeaderFirstAttemptAt, formatTime(f.FirstAttemptAt))
	add(HeaderFailedAt, formatTime(failedAt))
	add(HeaderWorker, d.workerID)
	add(HeaderReplayCount, strconv.Itoa(replays))
	return kafka.Message{Key: src.Key, Value: src.Value, Headers: headers}, nil
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
