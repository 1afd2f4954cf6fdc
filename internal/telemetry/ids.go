package telemetry

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"go.uber.org/zap"

	"github.com/receiptd/receiptd/internal/config"
)

// LogIDs renders the user and conversation IDs of log lines. The zero value
// logs them as they are. It is safe for concurrent use.
type LogIDs struct {
	mode string
	key  []byte
}

// NewLogIDs returns the rendering for mode, a value of log.user_ids
// (config.LogUserIDsPlain, LogUserIDsHash or LogUserIDsOmit).
// key keys the hash: lines logged with the same key show the same hash for
// the same ID. The key itself never appears in a log line.
func NewLogIDs(mode string, key []byte) LogIDs {
	return LogIDs{mode: mode, key: key}
}

// IDHashKey derives the key of the ID hashes from the ZIM ServerSecret, so
// that every pod of one deployment, and every restart, hashes an ID alike,
// with no key of its own to manage. The derivation is one-way: the hashes
// and the key reveal nothing of the secret.
func IDHashKey(serverSecret string) []byte {
	m := hmac.New(sha256.New, []byte(serverSecret))
	m.Write([]byte("receiptd log.user_ids key v1"))
	return m.Sum(nil)
}

// fields returns the log fields naming a reader and a conversation.
func (l LogIDs) fields(user, conv string) []zap.Field {
	switch l.mode {
	case config.LogUserIDsOmit:
		return nil
	case config.LogUserIDsHash:
		return []zap.Field{zap.String("user", l.hash(user)), zap.String("conversation", l.hash(conv))}
	}
	return []zap.Field{zap.String("user", user), zap.String("conversation", conv)}
}

// scrub replaces user and conv in free text, such as ZIM's message about a
// call, the way fields renders them.
func (l LogIDs) scrub(text, user, conv string) string {
	if l.mode != config.LogUserIDsHash && l.mode != config.LogUserIDsOmit {
		return text
	}
	var pairs []string
	for _, id := range []string{user, conv} {
		if id == "" || !strings.Contains(text, id) {
			continue
		}
		with := "[omitted]"
		if l.mode == config.LogUserIDsHash {
			with = l.hash(id)
		}
		pairs = append(pairs, id, with)
	}
	if len(pairs) == 0 {
		return text
	}
	return strings.NewReplacer(pairs...).Replace(text)
}

// hash is "h:" and the first 16 hex digits of HMAC-SHA256(key, id): short
// enough to read, long enough that two IDs of one app practically never
// share one.
func (l LogIDs) hash(id string) string {
	m := hmac.New(sha256.New, l.key)
	m.Write([]byte(id))
	return "h:" + hex.EncodeToString(m.Sum(nil)[:8])
}
