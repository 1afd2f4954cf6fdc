package zimapi

import "time"

// SetClock replaces the clock that stamps requests.
func SetClock(c *Client, now func() time.Time) { c.now = now }

// SetNonceSource replaces the SignatureNonce generator.
func SetNonceSource(c *Client, nonce func() string) { c.nonce = nonce }

// DecodedResponse mirrors the unexported decoder's result for black-box tests.
type DecodedResponse struct {
	Code      int64
	Message   string
	RequestID string
}

// DecodeResponse exposes the response decoder.
func DecodeResponse(body []byte) (DecodedResponse, error) {
	r, err := decodeResponse(body)
	return DecodedResponse(r), err
}
