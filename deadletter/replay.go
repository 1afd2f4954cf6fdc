package deadletter

// What the `receiptd dlq` commands do: count and sample the dead-letter
// topic (Inspect) and re-produce its records to the source topic (Replay),
// filtered (Filter).
//
// Lock and goroutine contract: each call runs on its caller's goroutine,
// and calls ReplayOptions.Report there; nothing is shared between calls.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"golang.org/x/time/rate"

	"github.com/receiptd/receiptd/worker"
)

// Filter selects dead-letter records by what receiptd recorded about them.
// The zero value selects every record.
type Filter struct {
	Class worker.FailureClass // "" for any
	Code  int64               // 0 for any
	Since time.Time           // dead-lettered at or after; zero for no bound
	Until time.Time           // dead-lettered before; zero for no bound
}

// Validate reports a class that receiptd never writes.
func (f Filter) Validate() error {
	switch f.Class {
	case "", worker.FailInvalidEvent, worker.FailRejected, worker.FailExhausted:
		return nil
	}
	return fmt.Errorf("class %q: want invalid_event, rejected or exhausted", f.Class)
}

// Match reports whether info passes the filter.
func (f Filter) Match(info Info) bool {
	return (f.Class == "" || info.Class == f.Class) &&
		(f.Code == 0 || info.Code == f.Code) &&
		(f.Since.IsZero() || !info.FailedAt.Before(f.Since)) &&
		(f.Until.IsZero() || info.FailedAt.Before(f.Until))
}

// ClassCode is a failure class and a ZIM code, the key of Summary.Counts.
type ClassCode struct {
	Class worker.FailureClass
	Code  int64
}

// Summary is what Inspect found in the dead-letter topic.
type Summary struct {
	Total      int // records read
	Matched    int // records with readable headers that pass the filter
	Unreadable int // records whose receiptd headers are missing or malformed
	Counts     map[ClassCode]int
	// Oldest and Newest bound the matching records' failure times.
	Oldest, Newest time.Time
	Samples        []Stored // the first matching records, up to the number asked for
}

// Stored is a record of the dead-letter topic and what its headers say.
type Stored struct {
	Msg  kafka.Message
	Info Info
}

// Inspect reads the dead-letter topic (see Scan) and counts the records
// that pass filter by class and code, keeping the first samples of them.
func Inspect(ctx context.Context, cfg Config, filter Filter, samples int) (Summary, error) {
	s := Summary{Counts: map[ClassCode]int{}}
	err := Scan(ctx, cfg, func(m kafka.Message) error {
		s.Total++
		info, err := Parse(m)
		if err != nil {
			s.Unreadable++
			return nil
		}
		if !filter.Match(info) {
			return nil
		}
		s.Matched++
		s.Counts[ClassCode{info.Class, info.Code}]++
		if s.Oldest.IsZero() || info.FailedAt.Before(s.Oldest) {
			s.Oldest = info.FailedAt
		}
		if info.FailedAt.After(s.Newest) {
			s.Newest = info.FailedAt
		}
		if len(s.Samples) < samples {
			s.Samples = append(s.Samples, Stored{m, info})
		}
		return nil
	})
	return s, err
}

// ReplayOptions say which dead letters Replay re-produces, and where.
type ReplayOptions struct {
	Filter Filter
	// From is the topic receiptd consumes (kafka.topic): only records
	// dead-lettered from it are replayed, unless AllSources is set, so that
	// a dead-letter topic shared with another deployment keeps that
	// deployment's records.
	From       string
	AllSources bool
	// To is the topic replayed records are produced to; "" is From.
	To string
	// MaxReplays refuses records already replayed this many times, so that
	// a record that keeps failing cannot cycle forever. Must be at least 1.
	MaxReplays int
	Limit      int     // replay at most this many records; 0 for no limit
	Rate       float64 // records produced per second; must be above 0
	DryRun     bool    // produce nothing, count what would be replayed
	// Report, when set, is told of every record skipped or cut and, in a dry
	// run, of every record that would be replayed.
	Report func(ReplayEvent)
}

// ReplayEvent is one record Replay did not replay for a problem of its
// own, or would replay in a dry run.
type ReplayEvent struct {
	Stored
	// Err is a *HeaderError for a record skipped for its headers, an error
	// wrapping ErrTruncated for a letter that was cut, nil for a record a
	// dry run would replay.
	Err error
}

// ReplayResult counts what Replay did.
type ReplayResult struct {
	Replayed    int // produced to To, or would be in a dry run
	NotMatching int // not passing the filter
	Refused     int // already replayed MaxReplays times
	Skipped     int // receiptd headers missing or unreadable
	Cut         int // cut to fit the dead-letter topic: replay them from the source topic
	// Elsewhere counts, by source topic, the records dead-lettered from
	// other topics than From: left alone, or among Replayed with
	// AllSources.
	Elsewhere    map[string]int
	LimitReached bool // stopped at Limit
}

// Replay re-produces the dead-letter records that opts selects to opts.To,
// unchanged but for receiptd-replay-count (see ReplayMessage), paced at
// opts.Rate. A record that cannot be replayed is counted, reported and
// skipped, and the replay goes on; the dead-letter topic is not changed.
// It returns what it did, with the error that stopped it, if any.
func Replay(ctx context.Context, cfg Config, opts ReplayOptions) (ReplayResult, error) {
	if err := cfg.Validate(); err != nil {
		return ReplayResult{}, err
	}
	cfg.setDefaults()
	res := ReplayResult{Elsewhere: map[string]int{}}
	target := opts.To
	if target == "" {
		target = opts.From
	}
	report := opts.Report
	if report == nil {
		report = func(ReplayEvent) {}
	}
	transport := cfg.transport()
	defer transport.CloseIdleConnections()
	w := &kafka.Writer{
		Addr: kafka.TCP(cfg.Brokers...), Transport: transport, RequiredAcks: kafka.RequireAll,
		Balancer: kafka.Murmur2Balancer{}, BatchTimeout: 5 * time.Millisecond,
	}
	defer w.Close()
	pace := rate.NewLimiter(rate.Limit(opts.Rate), 1)
	errLimit := errors.New("limit reached")
	err := Scan(ctx, cfg, func(m kafka.Message) error {
		info, err := Parse(m)
		if err != nil {
			res.Skipped++
			report(ReplayEvent{Stored{m, info}, err})
			return nil
		}
		if !opts.Filter.Match(info) {
			res.NotMatching++
			return nil
		}
		if info.SourceTopic != opts.From && !opts.AllSources {
			res.Elsewhere[info.SourceTopic]++
			return nil
		}
		if info.ReplayCount >= opts.MaxReplays {
			res.Refused++
			return nil
		}
		if opts.Limit > 0 && res.Replayed >= opts.Limit {
			return errLimit
		}
		out, err := ReplayMessage(m, target)
		if err != nil {
			if errors.Is(err, ErrTruncated) {
				res.Cut++
			} else {
				res.Skipped++
			}
			report(ReplayEvent{Stored{m, info}, err})
			return nil
		}
		if opts.DryRun {
			report(ReplayEvent{Stored: Stored{m, info}})
		} else {
			if err := pace.Wait(ctx); err != nil {
				return err
			}
			wctx, cancel := context.WithTimeout(ctx, cfg.WriteTimeout)
			err := w.WriteMessages(wctx, out)
			cancel()
			if err != nil {
				return fmt.Errorf("replay dlq %d/%d to %s: %w", m.Partition, m.Offset, target, err)
			}
		}
		res.Replayed++
		if info.SourceTopic != opts.From {
			res.Elsewhere[info.SourceTopic]++
		}
		return nil
	})
	if errors.Is(err, errLimit) {
		res.LimitReached, err = true, nil
	}
	return res, err
}
