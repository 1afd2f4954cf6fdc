package deadletter

// The Writer: the Kafka producer of dead letters, which learns the topic's
// limit and fits every letter to it.
//
// Lock and goroutine contract: d.mu is held for the whole of a DeadLetter,
// Limit or Close call (learning the limit, fitting, producing), so writes
// are serialized and the kafka.Writer is replaced only between them; the
// Observer is called with d.mu held and must not call back into the
// Writer. The fields above d.mu are set by NewWriter and never change. The
// Stage's writing goroutine is the usual caller, besides the Limit call the
// pipeline makes at start.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/receiptd/receiptd/worker"
)

// DefaultMaxMessageBytes is Kafka's default max.message.bytes: the limit
// the Writer assumes for the dead-letter topic when the brokers refuse
// to describe the topic's configuration and Config.MaxMessageBytes is 0.
const DefaultMaxMessageBytes = 1048588

// Where a Writer learned the dead-letter topic's limit (LimitLearned.From).
const (
	LimitFromTopic   = "topic"   // the topic's max.message.bytes, read from the brokers
	LimitFromConfig  = "config"  // Config.MaxMessageBytes
	LimitFromDefault = "default" // DefaultMaxMessageBytes: the topic's could not be read
)

// Writer writes dead letters to the dead-letter topic with one shared,
// synchronous kafka.Writer that waits for all in-sync replicas. It implements
// LetterWriter and is safe for concurrent use; writes are serialized.
//
// It learns the topic's size limit (max.message.bytes) before its first
// write, sizes its batches to it, and cuts a letter that would not fit (see
// DeadLetter). When the brokers refuse a record as too large anyway (the
// topic's limit was lowered), it reads the limit again before the next write.
type Writer struct {
	cfg       Config
	source    SourceFunc
	transport *kafka.Transport
	client    *kafka.Client // describes the topic's configuration
	obs       Observer
	now       func() time.Time

	mu    sync.Mutex    // held for a whole write; guards the fields below
	w     *kafka.Writer // nil until the limit is known; replaced when it changes
	limit int           // the topic's max.message.bytes; 0 until known
	stale bool          // the brokers refused a record that fit limit
}

// SourceFunc returns the Kafka record a worker.Record was made from, with
// its topic, partition and offset; ok is false for a record that did not
// come from Kafka. It must be safe for concurrent use.
type SourceFunc func(rec *worker.Record) (msg kafka.Message, ok bool)

// NewWriter returns a writer to cfg.Topic that finds each letter's source
// record with source. It does not connect until the first write or call to
// Limit. obs may be nil. Close it when done.
func NewWriter(cfg Config, source SourceFunc, obs Observer) (*Writer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if source == nil {
		return nil, errors.New("dead-letter writer: no SourceFunc")
	}
	cfg.setDefaults()
	if obs == nil {
		obs = NopObserver{}
	}
	tr := cfg.transport()
	return &Writer{
		cfg:       cfg,
		source:    source,
		transport: tr,
		client:    cfg.client(tr),
		obs:       obs,
		now:       time.Now,
	}, nil
}

// Limit returns the dead-letter topic's max.message.bytes, reading it first
// if it is not known yet: from Config.MaxMessageBytes if set, else from
// the topic's configuration, else (the brokers refuse to describe it to this
// principal) DefaultMaxMessageBytes. Every new limit is reported to
// Observer.LimitLearned. It fails only when the brokers cannot be asked.
func (d *Writer) Limit(ctx context.Context) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, d.cfg.WriteTimeout)
	defer cancel()
	if err := d.learnLimit(ctx); err != nil {
		return 0, err
	}
	return d.limit, nil
}

// DeadLetter writes all letters in one call and returns nil only when every
// one was acknowledged by all in-sync replicas. On error none may be assumed
// durable (some may have been written: the dead-letter topic can hold
// duplicates, recognisable by their source coordinates). It waits at most
// Config.WriteTimeout, and less if ctx ends first.
//
// A letter larger than the topic takes is cut to fit: its value is
// shortened (and, if that is not enough, the source record's own headers
// and then its key are dropped), and the headers HeaderTruncated,
// HeaderOriginalValueSize and HeaderOriginalValueSHA256 say so; the source
// coordinates point at the original. When the brokers refuse a single
// letter as too large anyway, it is written once more with only receiptd's
// headers.
//
// An error that retrying the same write cannot cure (a record too large,
// a topic that is invalid or that this principal may not write to) wraps
// ErrRefused.
func (d *Writer) DeadLetter(ctx context.Context, letters []Letter) error {
	if len(letters) == 0 {
		return nil
	}
	full := make([]kafka.Message, len(letters))
	srcs := make([]kafka.Message, len(letters))
	for i, l := range letters {
		src, ok := d.source(l.Record)
		if !ok {
			return fmt.Errorf("dead letter for %v: the record did not come from Kafka", l.Record.Key)
		}
		srcs[i], full[i] = src, d.message(src, l)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, d.cfg.WriteTimeout)
	defer cancel()
	err := d.learnLimit(ctx)
	if err == nil {
		err = d.write(ctx, srcs, full)
	}
	if err != nil {
		if refused(err) {
			err = fmt.Errorf("%w: %w", ErrRefused, err)
		}
		err = fmt.Errorf("write %d records to dead-letter topic %q: %w", len(full), d.cfg.Topic, err)
		d.obs.WriteFailed(WriteFailed{Topic: d.cfg.Topic, Records: len(full), Err: err})
	}
	return err
}

// write fits the letters full, of the source records srcs, to the topic's
// limit and writes them; a single letter the brokers refuse as too large is
// written again in its smallest form. d.mu held.
func (d *Writer) write(ctx context.Context, srcs, full []kafka.Message) error {
	room := d.limit - recordBatchOverhead
	msgs := make([]kafka.Message, len(full))
	cuts := make([][]string, len(full))
	for i, m := range full {
		msgs[i], cuts[i] = fit(m, room)
	}
	err := writeError(d.w.WriteMessages(ctx, msgs...))
	if tooLarge(err) {
		d.stale = true
		if len(full) == 1 {
			if least, cut := fit(full[0], 0); messageSize(least) < messageSize(msgs[0]) {
				msgs[0], cuts[0] = least, cut
				err = writeError(d.w.WriteMessages(ctx, least))
			}
		}
	}
	if err != nil {
		return err
	}
	for i, cut := range cuts {
		if len(cut) > 0 {
			d.obs.Truncated(truncatedEvent(d.cfg.Topic, d.limit, srcs[i], full[i], msgs[i], cut))
		}
	}
	return nil
}

// learnLimit reads the topic's limit if it is not known or the brokers
// refused a record that fit it, and sizes the writer's batches to it. d.mu
// held.
func (d *Writer) learnLimit(ctx context.Context) error {
	if d.limit > 0 && !d.stale {
		return nil
	}
	limit, from, why, err := d.readLimit(ctx)
	if err != nil {
		return err
	}
	d.stale = from == LimitFromDefault && errors.Is(why, kafka.UnknownTopicOrPartition)
	if limit == d.limit {
		return nil
	}
	if d.w != nil {
		_ = d.w.Close() // nothing is pending: writes are serialized
	}
	d.w = d.newWriter(limit)
	d.limit = limit
	d.obs.LimitLearned(LimitLearned{Topic: d.cfg.Topic, MaxMessageBytes: limit, From: from, Err: why})
	return nil
}

// readLimit returns the topic's limit and where it came from; why says why
// the topic's own limit could not be read, when it could not.
func (d *Writer) readLimit(ctx context.Context) (limit int, from string, why, err error) {
	if d.cfg.MaxMessageBytes > 0 {
		return d.cfg.MaxMessageBytes, LimitFromConfig, nil, nil
	}
	resp, err := d.client.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: d.cfg.Topic, ConfigNames: []string{"max.message.bytes"},
	}}})
	if err != nil {
		return 0, "", nil, fmt.Errorf("read max.message.bytes of dead-letter topic %q: %w", d.cfg.Topic, err)
	}
	for _, r := range resp.Resources {
		switch {
		case r.Error == nil:
		case errors.Is(r.Error, kafka.TopicAuthorizationFailed), errors.Is(r.Error, kafka.ClusterAuthorizationFailed),
			errors.Is(r.Error, kafka.UnknownTopicOrPartition) && d.cfg.AutoCreateTopic:
			// Writing may be allowed, or create the topic with the
			// brokers' defaults.
			return DefaultMaxMessageBytes, LimitFromDefault, r.Error, nil
		default:
			return 0, "", nil, fmt.Errorf("read max.message.bytes of dead-letter topic %q: %w", d.cfg.Topic, r.Error)
		}
		for _, e := range r.ConfigEntries {
			if e.ConfigName != "max.message.bytes" {
				continue
			}
			n, err := strconv.Atoi(e.ConfigValue)
			if err != nil || n <= recordBatchOverhead {
				return 0, "", nil, fmt.Errorf("dead-letter topic %q: max.message.bytes %q is not a usable size", d.cfg.Topic, e.ConfigValue)
			}
			return n, LimitFromTopic, nil, nil
		}
	}
	return DefaultMaxMessageBytes, LimitFromDefault, errors.New("the brokers did not return max.message.bytes"), nil
}

func (d *Writer) newWriter(limit int) *kafka.Writer {
	return &kafka.Writer{
		Addr:  kafka.TCP(d.cfg.Brokers...),
		Topic: d.cfg.Topic,
		// Hash keeps the source key's affinity: one conversation's
		// dead letters land in one partition, in order.
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		// A dead-letter write holds up commits; do not wait for more
		// records to fill a batch.
		BatchTimeout: 5 * time.Millisecond,
		// One produce request per DeadLetter call, waiting as long as the
		// call: a request that timed out may still be appended (a paused
		// broker appends it when it resumes), so every retry, kafka-go's
		// own included, risks a second copy. The caller retries what
		// fails.
		MaxAttempts:  1,
		WriteTimeout: d.cfg.WriteTimeout,
		// kafka-go fills a batch up to BatchBytes by its own count of each
		// record, which is a few bytes more than the record takes in a
		// batch but leaves out the batch's header: a full batch plus the
		// header stays within the topic's limit.
		BatchBytes:             int64(limit - recordBatchOverhead),
		AllowAutoTopicCreation: d.cfg.AutoCreateTopic,
		Transport:              d.transport,
		Logger:                 d.cfg.Logger,
		ErrorLogger:            d.cfg.ErrorLogger,
	}
}

// Close flushes and closes the writer and its connections.
func (d *Writer) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var err error
	if d.w != nil {
		err = d.w.Close()
	}
	d.transport.CloseIdleConnections()
	if err != nil {
		return fmt.Errorf("close dead-letter writer: %w", err)
	}
	return nil
}

// message builds the dead-letter record of the letter l for the source
// record src: its key, value and headers, its receiptd headers replaced by
// fresh ones.
func (d *Writer) message(src kafka.Message, l Letter) kafka.Message {
	f := l.Failure
	replays := 0
	headers := make([]kafka.Header, 0, len(src.Headers)+17)
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
	add(HeaderWorker, d.cfg.WorkerID)
	add(HeaderReplayCount, strconv.Itoa(replays))
	return kafka.Message{Key: src.Key, Value: src.Value, Headers: headers}
}

// writeError returns err with kafka-go's WriteErrors, one entry per record,
// replaced by their distinct errors joined, so that errors.Is and errors.As
// find the brokers' errors.
func writeError(err error) error {
	var we kafka.WriteErrors
	if !errors.As(err, &we) {
		return err
	}
	var distinct []error
	seen := make(map[string]bool)
	for _, e := range we {
		if e != nil && !seen[e.Error()] {
			seen[e.Error()] = true
			distinct = append(distinct, e)
		}
	}
	return fmt.Errorf("%d of %d records failed: %w", we.Count(), len(we), errors.Join(distinct...))
}

// refused reports whether err, from a write to the dead-letter topic, says
// the topic refuses the write for good: an error Kafka marks as not
// retriable, or kafka-go's own refusal of a record over its batch limit.
func refused(err error) bool {
	return anyError(err, func(e error) bool {
		if _, ok := e.(kafka.MessageTooLargeError); ok {
			return true
		}
		ke, ok := e.(kafka.Error)
		return ok && !ke.Temporary()
	})
}

// tooLarge reports whether err says a record or a batch was too large.
func tooLarge(err error) bool {
	return anyError(err, func(e error) bool {
		_, local := e.(kafka.MessageTooLargeError)
		return local || e == kafka.MessageSizeTooLarge || e == kafka.RecordListTooLarge
	})
}

// anyError reports whether match holds for err or any error it wraps.
func anyError(err error, match func(error) bool) bool {
	if err == nil {
		return false
	}
	if match(err) {
		return true
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return anyError(u.Unwrap(), match)
	case interface{ Unwrap() []error }:
		return slices.ContainsFunc(u.Unwrap(), func(e error) bool { return anyError(e, match) })
	}
	return false
}
