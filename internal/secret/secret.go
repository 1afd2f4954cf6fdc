// Package secret holds receiptd's one credential type. It imports nothing of
// receiptd, so that the configuration and the ZIM client share it while
// their imports stay one-way.
package secret

import (
	"encoding/json"
	"fmt"
	"log/slog"
)

// Redacted is what a set [Secret] prints, marshals and logs as.
const Redacted = "[REDACTED]"

// Secret is a credential: the ZIM ServerSecret, the Kafka SASL password.
// Every way of printing or marshalling it (fmt verbs including %#v, JSON,
// text, YAML, slog) yields [Redacted] when it is set and "" when it is
// empty, so that a Secret inside a struct stays hidden in logs and errors
// while an operator can still tell "unset" from "set". Only [Secret.Value]
// returns the credential itself.
type Secret string

// Value returns the credential. Pass it only to the code that authenticates
// with it.
func (s Secret) Value() string { return string(s) }

// String returns [Redacted] when s is set and "" when it is empty.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return Redacted
}

// GoString is used by %#v.
func (s Secret) GoString() string { return fmt.Sprintf("secret.Secret(%q)", s.String()) }

// Format applies any fmt verb and flags to the redacted text, never to the
// credential, so %x, %q or %d cannot reveal its bytes either.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, s.GoString())
		return
	}
	fmt.Fprintf(f, fmt.FormatString(f, verb), s.String())
}

// MarshalText returns the redacted text; it also covers text-based encoders.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// MarshalJSON returns the redacted text as a JSON string.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// MarshalYAML returns the redacted text.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// LogValue keeps the credential out of log/slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }
