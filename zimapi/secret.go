package zimapi

import (
	"fmt"
	"io"
	"log/slog"
)

// Redacted is what a [Secret] prints, marshals and logs as.
const Redacted = "[REDACTED]"

// Secret holds the ZIM ServerSecret. Every way of printing or marshalling it
// (fmt verbs including %#v, JSON, text, slog) yields [Redacted]; only
// [Secret.Reveal] returns the value, for signing.
type Secret string

// Reveal returns the secret itself. Only the signer calls it.
func (s Secret) Reveal() string { return string(s) }

// String returns [Redacted].
func (Secret) String() string { return Redacted }

// GoString returns a redacted Go expression, for %#v.
func (Secret) GoString() string { return `zimapi.Secret("` + Redacted + `")` }

// Format writes [Redacted] for every verb, so %x, %q or %d cannot reveal the
// bytes either.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = io.WriteString(f, s.GoString())
		return
	}
	_, _ = io.WriteString(f, Redacted)
}

// MarshalJSON returns the JSON string "[REDACTED]".
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText returns [Redacted], which also covers YAML and other
// text-based encoders.
func (Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// LogValue returns [Redacted] for log/slog.
func (Secret) LogValue() slog.Value { return slog.StringValue(Redacted) }
