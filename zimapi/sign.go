package zimapi

import (
	"crypto/md5" //nolint:gosec // ZIM SignatureVersion 2.0 is defined as MD5.
	"crypto/rand"
	"encoding/hex"
	"strconv"
)

// SignatureVersion is the only signature scheme this package speaks.
const SignatureVersion = "2.0"

// Sign returns the SignatureVersion 2.0 signature: the lower-case hex MD5 of
// AppId, nonce, ServerSecret and timestamp (Unix seconds) concatenated as
// decimal strings without separators.
func Sign(appID uint32, nonce string, secret Secret, timestamp int64) string {
	var buf [96]byte
	b := strconv.AppendUint(buf[:0], uint64(appID), 10)
	b = append(b, nonce...)
	b = append(b, secret.Reveal()...)
	b = strconv.AppendInt(b, timestamp, 10)
	sum := md5.Sum(b) //nolint:gosec // mandated by the API.
	var out [2 * md5.Size]byte
	hex.Encode(out[:], sum[:])
	return string(out[:])
}

// NewNonce returns a fresh SignatureNonce: 16 lower-case hex characters
// encoding 8 bytes from crypto/rand.
func NewNonce() string {
	var b [8]byte
	// crypto/rand.Read never returns an error; it aborts the program if the
	// operating system cannot supply randomness.
	_, _ = rand.Read(b[:])
	var out [16]byte
	hex.Encode(out[:], b[:])
	return string(out[:])
}
