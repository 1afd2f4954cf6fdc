package receipt

import "time"

// Request is one API call: the receipts of one Key, at most as many seqs as
// the API takes in one call.
type Request struct {
	Key  Key
	Seqs []uint64 // sorted ascending, de-duplicated; whoever sends it must not modify it
}

// Result is what receiptd learned from one call. Class is all the worker
// needs to decide; the rest is for logs, dead letters and metrics.
type Result struct {
	Class Class
	// Code is ZIM's return code; 0 when no ZIM answer was decoded (Err is
	// then set).
	Code int64
	// Message is ZIM's message, or a short description of the failure.
	Message string
	// RequestID is ZIM's RequestId, for ZEGO's support.
	RequestID string
	// HTTPStatus is the answer's HTTP status; 0 when there was no answer.
	HTTPStatus int
	// Err is set when no ZIM answer was decoded: a transport error, a
	// timeout, a cancelled call, a non-2xx status, an oversized or
	// unparsable body, or a request that could not be sent at all.
	Err error
	// Latency is how long the call took.
	Latency time.Duration
	// Sent is when the request was written to the connection; zero if it
	// never was.
	Sent time.Time
}
