package zimapi

import (
	"crypto/md5" //nolint:gosec // ZIM SignatureVersion 2.0 is defined as MD5.
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync"

	"github.com/receiptd/receiptd/internal/secret"
)

// SignatureVersion is the only signature scheme this package speaks.
const SignatureVersion = "2.0"

// Sign returns the SignatureVersion 2.0 signature: the lower-case hex MD5 of
// AppId, nonce, ServerSecret and timestamp (Unix seconds) concatenated as
// decimal strings without separators.
func Sign(appID uint32, nonce string, serverSecret secret.Secret, timestamp int64) string {
	var buf [96]byte
	b := strconv.AppendUint(buf[:0], uint64(appID), 10)
	b = append(b, nonce...)
	b = append(b, serverSecret.Value()...)
	b = strconv.AppendInt(b, timestamp, 10)
	sum := md5.Sum(b) //nolint:gosec // mandated by the API.
	var out [2 * md5.Size]byte
	hex.Encode(out[:], sum[:])
	return string(out[:])
}

// NewNonce returns a fresh SignatureNonce: 16 lower-case hex characters
// encoding 8 bytes from crypto/rand. It is safe for concurrent use.
//
// The bytes are read from crypto/rand a block at a time: one read per
// request cost a system call and, on Linux, growing the calling goroutine's
// stack to what the vDSO needs: a large share of a busy worker's CPU time.
// A nonce is public and only has to be unpredictable and unique, which
// bytes drawn in advance from the same source are.
func NewNonce() string {
	var b [8]byte
	nonces.mu.Lock()
	if nonces.next == len(nonces.block) {
		// crypto/rand.Read never returns an error; it aborts the program
		// if the operating system cannot supply randomness.
		_, _ = rand.Read(nonces.block[:])
		nonces.next = 0
	}
	nonces.next += copy(b[:], nonces.block[nonces.next:])
	nonces.mu.Unlock()
	var out [16]byte
	hex.Encode(out[:], b[:])
	return string(out[:])
}

// nonces holds random bytes drawn for the next nonces.
var nonces = struct {
	mu    sync.Mutex
	block [64 * 8]byte
	next  int
}{next: 64 * 8}
