package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"time"

	"github.com/segmentio/kafka-go"
	"golang.org/x/time/rate"

	"github.com/receiptd/receiptd/internal/config"
	"github.com/receiptd/receiptd/receipt"
	"github.com/receiptd/receiptd/retry"
	"github.com/receiptd/receiptd/zimapi"
)

// NaiveOptions configures the baseline worker.
type NaiveOptions struct {
	// Config supplies the brokers, topic, group, ZIM endpoint, credentials
	// and, when Pace is set, zim.rate_limit_rps; the baseline ignores the
	// rest.
	Config config.Config
	// Pace makes the baseline wait on a token bucket at
	// zim.rate_limit_rps before every call, so that under a rate-limited
	// API it measures one call per event rather than a stream of
	// rejections.
	Pace bool
	// Log receives the baseline's few lines (errors, the final count).
	Log io.Writer
}

// RunNaive runs the baseline that receiptd is measured against: what one
// writes in an afternoon with kafka-go. A Reader in a consumer group
// fetches one record at a time, encoding/json decodes it, one API call per
// event carries all its seqs, and the record is committed after its call
// succeeded (through the Reader's periodic commits, so that commits are
// not what is measured). A rate-limited or failed call is retried after a
// pause; a rejected one is logged and skipped.
//
// It runs until ctx ends, then closes the Reader (which commits what it
// holds) and returns nil, or the error that stopped it.
func RunNaive(ctx context.Context, opts NaiveOptions) error {
	cfg := opts.Config
	logger := log.New(opts.Log, "naive: ", log.LstdFlags|log.Lmicroseconds)
	client, err := zimapi.NewClient(zimapi.Config{
		Endpoint:     cfg.ZIM.Endpoint,
		AppID:        cfg.ZIM.AppID,
		ServerSecret: cfg.ZIM.ServerSecret,
	})
	if err != nil {
		return fmt.Errorf("naive worker: %w", err)
	}
	defer client.Close()
	var limiter *rate.Limiter
	if opts.Pace {
		limiter = rate.NewLimiter(rate.Limit(cfg.ZIM.RateLimitRPS), 1)
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:        cfg.Kafka.Brokers,
		GroupID:        cfg.Kafka.GroupID,
		Topic:          cfg.Kafka.Topic,
		CommitInterval: time.Second,
		MaxWait:        500 * time.Millisecond,
	})
	defer func() {
		if err := r.Close(); err != nil {
			logger.Printf("close reader: %v", err)
		}
	}()

	var events, calls int
	defer func() { logger.Printf("stopped after %d events and %d calls", events, calls) }()
	for {
		msg, err := r.FetchMessage(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("naive worker: fetch: %w", err)
		}
		events++
		req, err := naiveRequest(msg.Value)
		if err != nil {
			logger.Printf("offset %d/%d: skipping invalid event: %v", msg.Partition, msg.Offset, err)
		} else {
			n, err := naiveSend(ctx, client, limiter, req, logger)
			calls += n
			if err != nil {
				return nil // ctx ended during a retry
			}
		}
		if err := r.CommitMessages(ctx, msg); err != nil && ctx.Err() == nil {
			return fmt.Errorf("naive worker: commit: %w", err)
		}
	}
}

// naiveSend makes the call, retrying rate limits and transient failures
// after a second; it returns the calls made, and an error only when ctx
// ended.
func naiveSend(ctx context.Context, client *zimapi.Client, limiter *rate.Limiter, req receipt.Request, logger *log.Logger) (int, error) {
	calls := 0
	for {
		if limiter != nil {
			if err := limiter.Wait(ctx); err != nil {
				return calls, err
			}
		}
		out := client.Send(ctx, req)
		calls++
		switch out.Class {
		case receipt.ClassSuccess:
			return calls, nil
		case receipt.ClassRateLimited, receipt.ClassTransient, receipt.ClassResign:
			if err := retry.Sleep(ctx, time.Second); err != nil {
				return calls, err
			}
		default:
			logger.Printf("call rejected, event skipped: code %d %s", out.Code, out.Message)
			return calls, nil
		}
	}
}

// naiveEvent is the input event as the baseline decodes it.
type naiveEvent struct {
	Type       string          `json:"type"`
	UserID     string          `json:"user_id"`
	GroupID    string          `json:"group_id"`
	ConvID     string          `json:"conv_id"`
	ConvMsgSeq json.RawMessage `json:"conv_msg_seq"`
}

func naiveRequest(value []byte) (receipt.Request, error) {
	var ev naiveEvent
	if err := json.Unmarshal(value, &ev); err != nil {
		return receipt.Request{}, err
	}
	action, ok := receipt.GroupRead, true // a missing type is a group read, as the consumer takes it
	if ev.Type != "" {
		action, ok = receipt.ActionOfEventType(ev.Type)
	}
	if !ok {
		return receipt.Request{}, fmt.Errorf("unknown type %q", ev.Type)
	}
	conv := ev.GroupID
	if !action.IsGroup() {
		conv = ev.ConvID
	}
	var seqs []uint64
	if err := json.Unmarshal(ev.ConvMsgSeq, &seqs); err != nil {
		var one uint64
		if json.Unmarshal(ev.ConvMsgSeq, &one) != nil {
			return receipt.Request{}, fmt.Errorf("conv_msg_seq: %w", err)
		}
		seqs = []uint64{one}
	}
	if ev.UserID == "" || conv == "" || len(seqs) == 0 {
		return receipt.Request{}, errors.New("missing user, conversation or seqs")
	}
	return receipt.Request{Key: receipt.Key{Action: action, UserID: ev.UserID, ConvID: conv}, Seqs: seqs}, nil
}
