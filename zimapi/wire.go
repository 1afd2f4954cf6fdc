package zimapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/receiptd/receiptd/receipt"
)

// appendBody appends the JSON body of req:
// {"FromUserId":…,"GroupId"|"ConvId":…,"ConvMsgSeq":[…]}. It is hand-written
// because the shape is fixed and this is the hot path; strings are escaped
// as encoding/json does, minus HTML escaping.
func appendBody(b []byte, req receipt.Request) []byte {
	b = append(b, `{"FromUserId":`...)
	b = appendJSONString(b, req.Key.UserID)
	if req.Key.Action.IsGroup() {
		b = append(b, `,"GroupId":`...)
	} else {
		b = append(b, `,"ConvId":`...)
	}
	b = appendJSONString(b, req.Key.ConvID)
	b = append(b, `,"ConvMsgSeq":[`...)
	for i, s := range req.Seqs {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, s, 10)
	}
	return append(b, "]}"...)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD,
// as with encoding/json, since JSON text must be valid UTF-8.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, `\n`...)
			case '\r':
				b = append(b, `\r`...)
			case '\t':
				b = append(b, `\t`...)
			default:
				b = append(b, `\u00`...)
				b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// response is a decoded ZIM answer.
type response struct {
	Code      int64
	Message   string
	RequestID string
}

// wireResponse receives the fields receiptd reads; json.RawMessage keeps
// decoding tolerant of unexpected types and sizes.
type wireResponse struct {
	Code      json.RawMessage `json:"Code"`
	Message   json.RawMessage `json:"Message"`
	RequestID json.RawMessage `json:"RequestId"`
}

var errNoCode = errors.New("no Code field")

// decodeResponse decodes a ZIM answer. Extra fields (ReadTime,
// DeliveredTime, anything ZIM adds) are ignored; Message and RequestId of
// another type are kept as their JSON text. The body is
// unparsable (error) when it is not one JSON object or its Code is missing
// or not an integer in int64 range.
func decodeResponse(body []byte) (response, error) {
	var w wireResponse
	if err := json.Unmarshal(body, &w); err != nil {
		return response{}, err
	}
	if isNull(w.Code) {
		return response{}, errNoCode
	}
	code, ok := parseInt64(w.Code)
	if !ok {
		return response{}, fmt.Errorf("code %s is not an integer", truncate(w.Code, 32))
	}
	return response{Code: code, Message: jsonText(w.Message), RequestID: jsonText(w.RequestID)}, nil
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}

// parseInt64 reads a JSON number that denotes an integer in int64 range,
// also in exponent or fraction form ("6.603e8", "0.0").
func parseInt64(raw json.RawMessage) (int64, bool) {
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return 0, false
	}
	s := string(raw)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	f, err := strconv.ParseFloat(s, 64)
	// 2^63 is exactly representable, and is the first value out of range.
	if err != nil || f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
		return 0, false
	}
	return int64(f), true
}

// jsonText returns a JSON string's value, or the raw JSON text of any other
// non-null value, as valid UTF-8 either way (log lines must be).
func jsonText(raw json.RawMessage) string {
	if isNull(raw) {
		return ""
	}
	if raw[0] == '"' {
		// Valid JSON without escapes is its own value between the quotes.
		if inner := raw[1 : len(raw)-1]; bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
			return string(inner)
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	}
	return strings.ToValidUTF8(string(raw), "\uFFFD")
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "…"
}

// looksLikeJSON reports whether body starts like a JSON value that could be
// a ZIM answer, after white space.
func looksLikeJSON(body []byte) bool {
	body = bytes.TrimLeft(body, " \t\r\n")
	return len(body) > 0 && (body[0] == '{' || body[0] == '[')
}

// maxSnippet bounds the part of a body that an error quotes.
const maxSnippet = 80

var (
	titleTag = regexp.MustCompile(`(?is)<title[^>]*>(.*?)</title>`)
	// A query string in a quoted page could echo the signed request.
	queryPart = regexp.MustCompile(`\?\S*`)
)

// describeBody says in a few words what a body that is not a ZIM answer
// is, for an operator: its media type and its title or first line, e.g.
// `text/html page "502 Bad Gateway"`. It returns "" for an empty body.
func describeBody(contentType string, body []byte) string {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return ""
	}
	mt, _, _ := strings.Cut(contentType, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	if mt == "" {
		mt = "unlabelled"
	}
	var text []byte
	kind := "body"
	if m := titleTag.FindSubmatch(body); m != nil {
		text, kind = m[1], "page"
	} else if !bytes.HasPrefix(body, []byte("<")) {
		text, _, _ = bytes.Cut(body, []byte("\n"))
	}
	snippet := strings.Join(strings.Fields(strings.ToValidUTF8(string(text), "\uFFFD")), " ")
	snippet = queryPart.ReplaceAllString(snippet, "[query removed]")
	snippet = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, snippet)
	if len(snippet) > maxSnippet {
		snippet = strings.ToValidUTF8(snippet[:maxSnippet], "") + "…"
	}
	if snippet == "" {
		return mt + " " + kind
	}
	return fmt.Sprintf("%s %s %q", mt, kind, snippet)
}
