package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
)

// redactedText stands in for a secret that is set.
const redactedText = "[REDACTED]"

// Secret is a credential. Every way of printing or marshalling it yields "[REDACTED]"
// when it is set and "" when it is empty, so a Secret inside a struct stays hidden in
// logs and errors; only [Secret.Value] returns the credential itself.
type Secret string

// Value returns the credential. Pass it only to the code that authenticates with it.
func (s Secret) Value() string { return string(s) }

// String returns "[REDACTED]" when s is set and "" when it is empty.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redactedText
}

// GoString is used by %#v.
func (s Secret) GoString() string { return fmt.Sprintf("config.Secret(%q)", s.String()) }

// Format applies any fmt verb and flags to the redacted text, never to the credential.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, s.GoString())
		return
	}
	fmt.Fprintf(f, fmt.FormatString(f, verb), s.String())
}

// MarshalText returns the redacted text.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// MarshalJSON returns the redacted text as a JSON string.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// MarshalYAML returns the redacted text.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// LogValue keeps the credential out of log/slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }
