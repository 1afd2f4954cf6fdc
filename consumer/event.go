package consumer

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

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
		if d.seqsSeen {
			d.duplicate(fieldSeqs)
			return d.tok.skipValue()
		}
		d.seqsSeen = true
		return d.seqsValue()
	case fieldReadAt:
		if d.readAtSeen {
			d.duplicate(fieldReadAt)
			return d.tok.skipValue()
		}
		d.readAtSeen = true
		return d.readAtValue()
	default:
		return d.tok.skipValue()
	}
}

func (d *decoder) duplicate(name string) {
	if d.dupErr == nil {
		d.dupErr = fmt.Errorf("%s: given more than once", name)
	}
}

func (d *decoder) stringField(f *field, name string) error {
	if f.seen {
		d.duplicate(name)
		return d.tok.skipValue()
	}
	f.seen = true
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

// validate applies the event rules to the decoded fields, reporting the
// first broken rule in a fixed field order.
func (d *decoder) validate() (Event, error) {
	var ev Event
	var errs [7]error
	errs[0] = d.dupErr

	ev.Key.Action = receipt.GroupRead
	switch {
	case d.typ.err != nil:
		ev.Key.Action = 0
		errs[1] = d.typ.err
	case d.typ.isStr:
		ev.Key.Action = 0
		name, err := d.typ.text()
		if err != nil {
			errs[1] = fmt.Errorf("%s: %w", fieldType, err)
			break
		}
		for _, t := range eventTypes {
			if t.name == name {
				ev.Key.Action = t.action
			}
		}
		if ev.Key.Action == 0 {
			errs[1] = fmt.Errorf("%s: %s is not one of group_read, c2c_read, group_delivered, c2c_delivered",
				fieldType, strconv.Quote(quoteToken(name)))
		}
	}

	ev.Key.UserID, errs[2] = d.id(&d.user, fieldUserID, "")

	if errs[1] == nil {
		f, name := &d.conv, fieldConvID
		if ev.Key.Action.IsGroup() {
			f, name = &d.group, fieldGroupID
		}
		ev.Key.ConvID, errs[3] = d.id(f, name, d.typeName(ev.Key.Action))
		// The field the type does not use must still be a string or null.
		if other := d.otherID(ev.Key.Action); other.err != nil {
			errs[4] = other.err
		}
	}

	switch {
	case d.seqsErr != nil:
		errs[5] = d.seqsErr
	case !d.seqsSeen:
		errs[5] = fmt.Errorf("%s: missing", fieldSeqs)
	default:
		ev.Seqs = sortUnique(d.seqs)
	}

	switch {
	case d.readAtErr != nil:
		errs[6] = d.readAtErr
	case d.readAtSet:
		ev.ReadAt = time.UnixMilli(d.readAt)
	}

	for _, err := range errs {
		if err != nil {
			return ev, err
		}
	}
	return ev, nil
}

func (d *decoder) typeName(a receipt.Action) string {
	for _, t := range eventTypes {
		if t.action == a {
			return t.name
		}
	}
	return ""
}

func (d *decoder) otherID(a receipt.Action) *field {
	if a.IsGroup() {
		return &d.conv
	}
	return &d.group
}

// id validates a required id field and returns it; typ names the event type
// that requires it, "" when every type does.
func (d *decoder) id(f *field, name, typ string) (string, error) {
	switch {
	case f.err != nil:
		return "", f.err
	case !f.seen || f.null:
		if typ != "" {
			return "", fmt.Errorf("%s: missing (required for type %s)", name, typ)
		}
		return "", fmt.Errorf("%s: missing", name)
	}
	s, err := f.text()
	switch {
	case err != nil:
		return "", fmt.Errorf("%s: %w", name, err)
	case len(s) == 0:
		return "", fmt.Errorf("%s: empty", name)
	case len(s) > d.lim.MaxIDLength:
		return "", fmt.Errorf("%s: %d bytes, longer than the limit of %d", name, len(s), d.lim.MaxIDLength)
	}
	if err := checkID(s); err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return s, nil
}

// checkID reports whether s is valid UTF-8 free of characters that cannot
// be seen or that break a line: control characters (Unicode category Cc),
// format characters (Cf: zero-width spaces and joiners, bidirectional marks
// and overrides, the byte order mark, soft hyphens), and the line and
// paragraph separators U+2028 and U+2029. Two ids that print alike would
// otherwise name different users or groups, and a bidirectional override
// makes logs and dead letters lie about what they show.
func checkID(s string) error {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return fmt.Errorf("control character %U at byte %d", rune(c), i)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return fmt.Errorf("invalid UTF-8 at byte %d", i)
		}
		if kind := invisibleKind(r); kind != "" {
			return fmt.Errorf("%s %U at byte %d", kind, r, i)
		}
		i += size
	}
	return nil
}

// invisibleKind names the kind of a non-ASCII character an id may not hold,
// or returns "".
func invisibleKind(r rune) string {
	switch {
	case unicode.IsControl(r):
		return "control character"
	case unicode.Is(unicode.Cf, r):
		return "format character"
	case r == '\u2028':
		return "line separator"
	case r == '\u2029':
		return "paragraph separator"
	}
	return ""
}

// sortUnique sorts seqs and removes duplicates in place.
func sortUnique(seqs []uint64) []uint64 {
	if len(seqs) < 2 {
		return seqs
	}
	sorted := true
	for i := 1; i < len(seqs); i++ {
		if seqs[i] <= seqs[i-1] {
			sorted = false
			break
		}
	}
	if sorted {
		return seqs
	}
	slices.Sort(seqs)
	return slices.Compact(seqs)
}

// integer converts a JSON number token to an integer in [lo, MaxSeq]. The
// token has already passed the JSON number grammar.
func integer(tok string, lo uint64) (uint64, error) {
	neg := tok[0] == '-'
	digits := tok
	if neg {
		digits = tok[1:]
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%s is not an integer", quoteToken(tok))
		}
	}
	if neg { // including -0, which no producer means
		return 0, fmt.Errorf("%s is below %d", quoteToken(tok), lo)
	}
	if len(digits) > 16 { // 2^53-1 has 16 digits; no leading zeros in JSON
		return 0, fmt.Errorf("%s is above %d", quoteToken(tok), uint64(MaxSeq))
	}
	var v uint64
	for _, c := range digits {
		v = v*10 + uint64(c-'0')
	}
	if v > MaxSeq {
		return 0, fmt.Errorf("%s is above %d", quoteToken(tok), uint64(MaxSeq))
	}
	if v < lo {
		return 0, fmt.Errorf("%s is below %d", quoteToken(tok), lo)
	}
	return v, nil
}

const maxQuoted = 32 // bytes of an offending token echoed in a reason

// quoteToken renders a JSON token for a reason: shortened, so that a hostile
// value cannot bloat the dead-letter header, and valid UTF-8.
func quoteToken(s string) string {
	if len(s) > maxQuoted {
		cut := maxQuoted
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
