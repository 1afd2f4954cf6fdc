package consumer

// The event rules DecodeEvent applies once the JSON is read: which fields
// each type requires, what an id may hold, and the range of a seq and of
// read_at. They are functions of one decoder, which belongs to one call.

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/receiptd/receiptd/receipt"
)

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
