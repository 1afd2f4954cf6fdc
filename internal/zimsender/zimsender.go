// Package zimsender connects the worker to ZIM: it implements
// worker.Sender with a zimapi.Client, translating the worker's requests and
// zimapi's outcome classes. It is the only place where the two meet, so the
// worker stays free of HTTP and of ZIM's return codes.
package zimsender

import (
	"context"

	"github.com/receiptd/receiptd/worker"
	"github.com/receiptd/receiptd/zimapi"
)

// Sender sends worker requests through a zimapi.Client. It is safe for
// concurrent use.
type Sender struct {
	client *zimapi.Client
}

// New returns a Sender using client.
func New(client *zimapi.Client) *Sender { return &Sender{client: client} }

// Send makes one receipt call and classifies its outcome for the worker.
func (s *Sender) Send(ctx context.Context, req worker.Request) worker.Result {
	out := s.client.Send(ctx, zimapi.Request{
		Action:     zimapi.Action(req.Key.Action.String()),
		FromUserID: req.Key.UserID,
		ConvID:     req.Key.ConvID,
		Seqs:       req.Seqs,
	})
	return worker.Result{
		Class:     Class(out.Class),
		Code:      out.Code,
		Message:   out.Message,
		RequestID: out.RequestID,
		Err:       out.Err,
		Latency:   out.Latency,
		Sent:      out.Sent,
	}
}

// Class maps a zimapi outcome class to the worker's class of the same
// meaning. A class this package does not know is unknown to the worker:
// bounded retries, then the dead-letter topic.
func Class(c zimapi.Class) worker.Class {
	switch c {
	case zimapi.ClassSuccess:
		return worker.ClassSuccess
	case zimapi.ClassRateLimited:
		return worker.ClassRateLimited
	case zimapi.ClassGroupRateLimited:
		return worker.ClassGroupRateLimited
	case zimapi.ClassTransient:
		return worker.ClassTransient
	case zimapi.ClassResign:
		return worker.ClassResign
	case zimapi.ClassTooMany:
		return worker.ClassTooMany
	case zimapi.ClassDeadLetter:
		return worker.ClassDeadLetter
	case zimapi.ClassSystemic:
		return worker.ClassSystemic
	default:
		return worker.ClassUnknown
	}
}
