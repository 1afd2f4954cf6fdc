package consumer

// The input event, its limits, and DecodeEvent, which reads the event's
// known fields through one JSON walker (jsontoken.go) and then applies the
// rules (eventrules.go). DecodeEvent is safe for concurrent use: each call
// has a decoder of its own and shares nothing.

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/receiptd/receiptd/receipt"
)

// Limits bounds what DecodeEvent accepts. A zero field takes its default.
type Limits struct {
	// MaxIDLength is the longest user_id, group_id or conv_id accepted, in
	// bytes after JSON unescaping. Default 128.
	MaxIDLength int
	// MaxSeqsPerEvent is the most conv_msg_seq values one event may carry,
	// counted before de-duplication. Default 1000.
	MaxSeqsPerEvent int
}

// Default limits.
const (
	DefaultMaxIDLength     = 128
	DefaultMaxSeqsPerEvent = 1000
)

// MaxSeq is the largest sequence number accepted: 2^53-1, the largest integer
// every JSON implementation represents exactly.
const MaxSeq = 1<<53 - 1

func (l Limits) withDefaults() Limits {
	if l.MaxIDLength <= 0 {
		l.MaxIDLength = DefaultMaxIDLength
	}
	if l.MaxSeqsPerEvent <= 0 {
		l.MaxSeqsPerEvent = DefaultMaxSeqsPerEvent
	}
	return l
}

// Event is one decoded and validated input event.
type Event struct {
	Key    receipt.Key
	Seqs   []uint64  // sorted ascending, de-duplicated, non-empty
	ReadAt time.Time // zero when read_at is absent
}

// InvalidEventError is returned by DecodeEvent for a value that breaks a rule.
// Its message is the reason written to the dead-letter record, e.g.
// "conv_msg_seq[3]: 0 is below 1".
type InvalidEventError struct {
	Reason string
}

func (e *InvalidEventError) Error() string { return e.Reason }

// DecodeEvent decodes and validates the JSON value of one source record
// (README, "The event"). It returns an *InvalidEventError when the value
// breaks a rule; the Event then holds whichever fields were valid (in
// particular Seqs, for the dead-letter record's failed seqs).
//
// Rules beyond the README's table:
//   - The value is exactly one JSON object; anything after it but white space
//     is invalid.
//   - conv_msg_seq values and read_at are exact JSON integers: 1.0, 1e3,
//     strings and null are rejected, so no value is ever rounded.
//   - A known field given twice is invalid; unknown fields are skipped (their
//     JSON must still be well-formed).
//   - null for the optional fields type and read_at, and for the id field the
//     type does not use, counts as absent.
//   - IDs are compared and measured after unescaping; \u escapes of lone
//     surrogates are invalid, and so are characters that cannot be seen or
//     that break a line (see checkID).
//
// DecodeEvent is safe for concurrent use.
func DecodeEvent(value []byte, lim Limits) (Event, error) {
	d := decoder{tok: newTokens(value), lim: lim.withDefaults()}
	ev, err := d.decode()
	if err != nil {
		return ev, &InvalidEventError{Reason: err.Error()}
	}
	return ev, nil
}

// Field names of the input event.
const (
	fieldType    = "type"
	fieldUserID  = "user_id"
	fieldGroupID = "group_id"
	fieldConvID  = "conv_id"
	fieldSeqs    = "conv_msg_seq"
	fieldReadAt  = "read_at"
)

// The event types and the receipt action each one maps to.
var eventTypes = [...]struct {
	name   string
	action receipt.Action
}{
	{"group_read", receipt.GroupRead},
	{"c2c_read", receipt.C2CRead},
	{"group_delivered", receipt.GroupDelivered},
	{"c2c_delivered", receipt.C2CDelivered},
}

// field holds what the decoder saw of one known string field.
type field struct {
	seen  bool
	null  bool
	err   error // the first rule this field broke
	isStr bool
	s     string // the string as Token decoded it
	lit   []byte // the string's literal, when Token's decoding may have lost something
}

// text returns the field's string exactly as the event wrote it.
func (f *field) text() (string, error) {
	if f.lit == nil {
		return f.s, nil
	}
	return unquote(f.lit)
}

type decoder struct {
	tok tokens
	lim Limits

	typ, user, group, conv field
	seqsSeen, readAtSeen   bool
	seqsErr, readAtErr     error
	seqs                   []uint64
	readAt                 int64
	readAtSet              bool
	dupErr                 error
}

func (d *decoder) decode() (Event, error) {
	in := d.tok.in
	switch i := skipSpace(in, 0); {
	case i == len(in):
		return Event{}, errors.New("empty value: want a JSON object")
	case in[i] != '{':
		return Event{}, errors.New("value is not a JSON object")
	}
	if _, err := d.tok.next(); err != nil { // the '{'
		return Event{}, err
	}
	if err := d.tok.object(d.member); err != nil {
		return Event{}, err
	}
	if i := skipSpace(in, d.tok.end()); i < len(in) {
		return Event{}, fmt.Errorf("trailing data after the JSON object at byte %d", i)
	}
	return d.validate()
}

// member decodes the value of the event's member named key.
func (d *decoder) member(key string) error {
	if lossy(key) {
		if _, err := unquote(d.tok.written()); err != nil {
			return fmt.Errorf("invalid JSON: object key: %w", err)
		}
	}
	switch key {
	case fieldType:
		return d.stringField(&d.typ, fieldType)
	case fieldUserID:
		return d.stringField(&d.user, fieldUserID)
	case fieldGroupID:
		return d.stringField(&d.group, fieldGroupID)
	case fieldConvID:
		return d.stringField(&d.conv, fieldConvID)
	case fieldSeqs:
		return d.once(&d.seqsSeen, fieldSeqs, d.seqsValue)
	case fieldReadAt:
		return d.once(&d.readAtSeen, fieldReadAt, d.readAtValue)
	default:
		return d.tok.skipValue()
	}
}

// once decodes the value of the field name with value the first time the
// field is seen, and skips it, noting the duplicate, every other time.
func (d *decoder) once(seen *bool, name string, value func() error) error {
	if *seen {
		if d.dupErr == nil {
			d.dupErr = fmt.Errorf("%s: given more than once", name)
		}
		return d.tok.skipValue()
	}
	*seen = true
	return value()
}

func (d *decoder) stringField(f *field, name string) error {
	return d.once(&f.seen, name, func() error { return d.stringValue(f, name) })
}

func (d *decoder) stringValue(f *field, name string) error {
	tok, err := d.tok.next()
	if err != nil {
		return err
	}
	switch v := tok.(type) {
	case string:
		f.s, f.isStr = v, true
		if lossy(v) {
			f.lit = d.tok.written()
		}
		return nil
	case nil:
		f.null = true
		return nil
	}
	f.err = fmt.Errorf("%s: must be a string", name)
	return d.tok.skip(tok, 0)
}

func (d *decoder) seqsValue() error {
	tok, err := d.tok.next()
	if err != nil {
		return err
	}
	switch v := tok.(type) {
	case json.Number:
		seq, err := integer(string(v), 1)
		if err != nil {
			d.seqsErr = fmt.Errorf("%s: %w", fieldSeqs, err)
			return nil
		}
		d.seqs = []uint64{seq}
		return nil
	case json.Delim:
		if v == '[' {
			return d.seqsArray()
		}
	}
	d.seqsErr = fmt.Errorf("%s: must be an integer or an array of integers", fieldSeqs)
	return d.tok.skip(tok, 0)
}

func (d *decoder) seqsArray() error {
	d.seqs = make([]uint64, 0, 8)
	n, err := d.tok.array(d.seqElement)
	switch {
	case err != nil:
		return err
	case n == 0:
		d.seqsErr = fmt.Errorf("%s: empty array", fieldSeqs)
	case n > d.lim.MaxSeqsPerEvent && d.seqsErr == nil:
		d.seqsErr = fmt.Errorf("%s: %d values, more than the limit of %d", fieldSeqs, n, d.lim.MaxSeqsPerEvent)
	}
	return nil
}

// seqElement decodes element n of the conv_msg_seq array, whose first
// token is tok.
func (d *decoder) seqElement(n int, tok json.Token) error {
	if num, ok := tok.(json.Number); ok {
		if d.seqsErr != nil {
			return nil
		}
		seq, err := integer(string(num), 1)
		if err != nil {
			d.seqsErr = fmt.Errorf("%s[%d]: %w", fieldSeqs, n, err)
			return nil
		}
		if n < d.lim.MaxSeqsPerEvent {
			d.seqs = append(d.seqs, seq)
		}
		return nil
	}
	start := d.tok.start()
	if err := d.tok.skip(tok, 1); err != nil {
		return err
	}
	if d.seqsErr == nil {
		d.seqsErr = fmt.Errorf("%s[%d]: %s is not an integer", fieldSeqs, n, quoteToken(string(d.tok.in[start:d.tok.end()])))
	}
	return nil
}

func (d *decoder) readAtValue() error {
	tok, err := d.tok.next()
	if err != nil {
		return err
	}
	switch v := tok.(type) {
	case nil:
		return nil
	case json.Number:
		ms, err := integer(string(v), 0)
		if err != nil {
			d.readAtErr = fmt.Errorf("%s: %w (want Unix milliseconds)", fieldReadAt, err)
			return nil
		}
		d.readAt, d.readAtSet = int64(ms), true
		return nil
	}
	d.readAtErr = fmt.Errorf("%s: must be an integer (Unix milliseconds)", fieldReadAt)
	return d.tok.skip(tok, 0)
}
