package consumer

// The JSON layer DecodeEvent reads through: encoding/json's Decoder.Token,
// plus what Token does not give: where each token lies in the text, a bound
// on the nesting of the values it skips, strings exactly as written, and
// syntax errors placed at the offending byte. A tokens belongs to one
// DecodeEvent call and holds no lock.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

const maxNesting = 64 // depth limit for skipping unknown fields' values

const space = " \t\r\n" // JSON white space

// tokens reads one JSON text token by token.
type tokens struct {
	in   []byte
	dec  *json.Decoder
	last int   // the input offset before the latest token
	at   place // where the next token is read, for the reason of a text cut short
}

// A place is where in an object or array the next token is read.
type place uint8

const (
	firstKey  place = iota // after '{'
	nextKey                // after an object member
	colon                  // after an object key
	firstElem              // after '['
	nextElem               // after an array element
)

// want says what the text lacks when it ends at p.
func (p place) want() string {
	return [...]string{
		firstKey:  "want a string key",
		nextKey:   "want ',' or '}' after an object member",
		colon:     "want ':' after an object key",
		firstElem: "want a JSON value",
		nextElem:  "want ',' or ']' in an array",
	}[p]
}

func newTokens(in []byte) tokens {
	dec := json.NewDecoder(bytes.NewReader(in))
	dec.UseNumber() // numbers as written, never rounded through float64
	return tokens{in: in, dec: dec}
}

// next reads the next token: a json.Delim, a string, a json.Number, a bool
// or nil.
func (t *tokens) next() (json.Token, error) {
	t.last = int(t.dec.InputOffset())
	tok, err := t.dec.Token()
	if err != nil {
		return nil, t.syntaxError(err)
	}
	return tok, nil
}

// start returns where the latest token begins: past the white space and
// the comma or colon that Token read before it.
func (t *tokens) start() int {
	return len(t.in) - len(bytes.TrimLeft(t.in[t.last:], space+",:"))
}

// end returns where the latest token ends.
func (t *tokens) end() int { return int(t.dec.InputOffset()) }

// written returns the latest token as the text wrote it.
func (t *tokens) written() []byte { return t.in[t.start():t.end()] }

// skipSpace returns the offset of the first byte at or after i that is not
// JSON white space.
func skipSpace(in []byte, i int) int {
	return len(in) - len(bytes.TrimLeft(in[i:], space))
}

// object reads the members of the object whose '{' was the latest token,
// calling member with each key; member reads the key's value.
func (t *tokens) object(member func(key string) error) error {
	for t.at = firstKey; ; t.at = nextKey {
		tok, err := t.next()
		if err != nil {
			return err
		}
		key, ok := tok.(string)
		if !ok {
			return nil // the closing '}': Token allows nothing else here
		}
		t.at = colon
		if err := member(key); err != nil {
			return err
		}
	}
}

// array reads the elements of the array whose '[' was the latest token,
// calling element with each one's index and first token, and returns how
// many there were; element reads the rest of a nested array or object.
func (t *tokens) array(element func(n int, tok json.Token) error) (int, error) {
	for n := 0; ; n++ {
		t.at = nextElem
		if n == 0 {
			t.at = firstElem
		}
		tok, err := t.next()
		if err != nil {
			return n, err
		}
		if tok == json.Delim(']') {
			return n, nil
		}
		if err := element(n, tok); err != nil {
			return n, err
		}
	}
}

// skipValue reads one value of any kind.
func (t *tokens) skipValue() error {
	tok, err := t.next()
	if err != nil {
		return err
	}
	return t.skip(tok, 0)
}

// skip reads the rest of the value whose first token was tok, nested depth
// levels below the value skipping began with.
func (t *tokens) skip(tok json.Token, depth int) error {
	if depth > maxNesting {
		return fmt.Errorf("invalid JSON at byte %d: nested deeper than %d levels", t.start(), maxNesting)
	}
	switch tok {
	case json.Delim('['):
		_, err := t.array(func(_ int, tok json.Token) error { return t.skip(tok, depth+1) })
		return err
	case json.Delim('{'):
		return t.object(func(string) error {
			tok, err := t.next()
			if err != nil {
				return err
			}
			return t.skip(tok, depth+1)
		})
	}
	return nil
}

// syntaxError turns Token's error into a reason that says where the text
// went wrong and what it wanted there.
func (t *tokens) syntaxError(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("invalid JSON: unexpected end of value (%s)", t.cutShort())
	}
	// Token's own offsets count only the bytes of the scalars it decoded, so
	// the position comes from encoding/json's check of the whole text, whose
	// first error is the one Token met.
	var syn *json.SyntaxError
	if !errors.As(json.Unmarshal(t.in, &struct{}{}), &syn) || syn.Offset < 1 || int(syn.Offset) > len(t.in) {
		return fmt.Errorf("invalid JSON after byte %d: %w", t.last, err)
	}
	at := int(syn.Offset) - 1
	msg := syn.Error()
	// encoding/json quotes the offending byte as a rune: byte 0xff as 'ÿ'.
	// Name it as a byte instead, and keep what encoding/json says of it.
	if rest, ok := strings.CutPrefix(msg, "invalid character '"); ok {
		if i := strings.Index(rest[1:], "' "); i >= 0 {
			msg = "unexpected " + quoteByte(t.in[at]) + rest[i+2:]
		}
	}
	return fmt.Errorf("invalid JSON at byte %d: %s", at, msg)
}

// cutShort says what the text lacks where it ends, after the latest
// complete token.
func (t *tokens) cutShort() string {
	rest := bytes.TrimLeft(t.in[t.last:], space)
	if len(rest) == 0 {
		return t.at.want()
	}
	sep := rest[0]
	if sep == ',' || sep == ':' {
		rest = bytes.TrimLeft(rest[1:], space)
	}
	switch {
	case len(rest) > 0 && rest[0] == '"':
		return "unterminated string"
	case len(rest) > 0 && (rest[0] == '-' || rest[0] >= '0' && rest[0] <= '9'):
		return "in a number"
	case len(rest) > 0:
		return "in a literal"
	case sep == ',' && t.at == nextKey:
		return "want a string key"
	}
	return "want a JSON value"
}

// quoteByte renders one byte of the text for a reason.
func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return "'" + string(rune(c)) + "'"
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

// lossy reports whether Token may have changed the string s on the way:
// it writes U+FFFD in place of invalid UTF-8 and of \u escapes of lone
// UTF-16 surrogates. An id may hold a real U+FFFD, so only then is the
// string decoded again, by unquote, from its text.
func lossy(s string) bool { return strings.Contains(s, "\uFFFD") }

// unquote decodes a JSON string literal that has passed Token's syntax
// check, exactly: invalid UTF-8 is kept, for the id rules to name, and a
// \u escape of a lone surrogate is an error.
func unquote(lit []byte) (string, error) {
	raw := lit[1 : len(lit)-1]
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		switch raw[i+1] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r := hex4(raw[i+2 : i+6])
			i += 6
			if utf16.IsSurrogate(r) {
				if r >= 0xdc00 || i+6 > len(raw) || raw[i] != '\\' || raw[i+1] != 'u' {
					return "", errors.New("lone surrogate in a \\u escape")
				}
				r = utf16.DecodeRune(r, hex4(raw[i+2:i+6]))
				if r == unicode.ReplacementChar {
					return "", errors.New("lone surrogate in a \\u escape")
				}
				i += 6
			}
			out = utf8.AppendRune(out, r)
			continue
		default: // '"', '\\', '/'
			out = append(out, raw[i+1])
		}
		i += 2
	}
	return string(out), nil
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		default: // 'A'-'F'
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}
