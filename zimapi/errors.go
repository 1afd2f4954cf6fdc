package zimapi

import "errors"

// Errors carried by receipt.Result.Err and returned by [Config.Validate]. A
// Result's error wraps one of these together with the action and the host;
// test them with errors.Is.
var (
	// ErrInvalidConfig is wrapped by the error of [Config.Validate] and
	// [NewClient] when the configuration has problems; the message lists
	// every problem.
	ErrInvalidConfig = errors.New("invalid ZIM client config")

	// ErrInvalidRequest is returned, without contacting ZIM, when a
	// receipt.Request cannot be sent at all (an unknown Action, a nil context).
	ErrInvalidRequest = errors.New("invalid receipt request")

	// ErrTimeout is returned when ZIM did not answer within the client's
	// per-request timeout while the caller's context was still live.
	ErrTimeout = errors.New("no answer within the request timeout")

	// ErrHTTPStatus is returned when the HTTP status is not 2xx.
	ErrHTTPStatus = errors.New("unexpected HTTP status")

	// ErrResponseTooLarge is returned when the response body exceeds
	// Config.MaxResponseBytes.
	ErrResponseTooLarge = errors.New("response body over the size limit")

	// ErrUnparsableResponse is returned when a 2xx body is not a JSON
	// object with an integer Code.
	ErrUnparsableResponse = errors.New("response is not a ZIM answer")
)
