package traffic

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Flaw is the way a malformed record breaks the event's rules (README.md,
// "The event"). The
// zero Flaw is none.
type Flaw uint8

// The flaws, each drawn equally often among malformed records.
const (
	FlawNone           Flaw = iota
	FlawNotJSON             // not a JSON object: truncated, plain text, empty, an array, binary
	FlawMissingUserID       // user_id absent, null or ""
	FlawMissingGroupID      // a group type without group_id (absent, null, or conv_id instead)
	FlawMissingConvID       // a c2c type without conv_id (absent, null, or group_id instead)
	FlawMissingSeqs         // conv_msg_seq absent or null
	FlawSeqZero             // a conv_msg_seq value of 0
	FlawSeqNegative         // a negative conv_msg_seq value
	FlawSeqFraction         // a conv_msg_seq value with a fraction, such as 1.5
	FlawSeqString           // a conv_msg_seq value in quotes, such as "7"
	FlawSeqEmpty            // conv_msg_seq is []
	FlawUnknownType         // a type that is not one of the four
	FlawControlChar         // an id holding a control character
	FlawIDTooLong           // an id longer than 128 bytes
	numFlaws
)

var flawNames = [numFlaws]string{
	FlawNone:           "none",
	FlawNotJSON:        "not_json",
	FlawMissingUserID:  "missing_user_id",
	FlawMissingGroupID: "missing_group_id",
	FlawMissingConvID:  "missing_conv_id",
	FlawMissingSeqs:    "missing_conv_msg_seq",
	FlawSeqZero:        "seq_zero",
	FlawSeqNegative:    "seq_negative",
	FlawSeqFraction:    "seq_fraction",
	FlawSeqString:      "seq_string",
	FlawSeqEmpty:       "seq_empty",
	FlawUnknownType:    "unknown_type",
	FlawControlChar:    "control_char",
	FlawIDTooLong:      "id_too_long",
}

// Flaws lists every flaw but FlawNone.
func Flaws() []Flaw {
	out := make([]Flaw, 0, numFlaws-1)
	for f := FlawNone + 1; f < numFlaws; f++ {
		out = append(out, f)
	}
	return out
}

// String returns the flaw's snake_case name, such as "seq_zero".
func (f Flaw) String() string {
	if f < numFlaws {
		return flawNames[f]
	}
	return "flaw(" + strconv.Itoa(int(f)) + ")"
}

// member is one "name": value of a JSON object; value is raw JSON.
type member struct{ name, value string }

// malformed returns a record breaking one rule. Being rare, it is built
// for clarity rather than speed.
func (g *Generator) malformed(ms int64) Record {
	flaw := Flaw(1 + g.rng.IntN(int(numFlaws-1)))
	a := g.pickAction()
	switch flaw {
	case FlawMissingGroupID:
		a &^= 1 // a group type
	case FlawMissingConvID:
		a |= 1 // a c2c type
	}
	u := &g.users[g.pickUser()]
	var conv *ident
	var seq uint64
	if a.isGroup() {
		m := u.groups[g.rng.IntN(len(u.groups))]
		conv, seq = &g.groups[m.group].id, g.groups[m.group].seq+1
	} else {
		c := u.contacts[g.rng.IntN(len(u.contacts))]
		conv, seq = &g.users[c.peer].id, g.chats[c.chat]+1
	}
	key := u.id.raw
	if a.isGroup() {
		key = conv.raw
	}
	seqText := strconv.FormatUint(seq, 10)
	info := actions[a]
	m := []member{
		{"type", `"` + info.typ + `"`},
		{"user_id", u.id.quoted},
		{info.convField, conv.quoted},
		{"conv_msg_seq", "[" + seqText + "]"},
		{"read_at", strconv.FormatInt(ms, 10)},
	}
	const (
		iType = iota
		iUser
		iConv
		iSeqs
	)
	variant := g.rng.IntN(3)
	var value string
	switch flaw {
	case FlawNotJSON:
		value = g.notJSON(object(m), u.id.raw, conv.raw, seqText)
	case FlawMissingUserID:
		m = [][]member{drop(m, iUser), set(m, iUser, "null"), set(m, iUser, `""`)}[variant]
	case FlawMissingGroupID, FlawMissingConvID:
		other := "conv_id"
		if !a.isGroup() {
			other = "group_id"
		}
		renamed := set(m, iConv, conv.quoted)
		renamed[iConv].name = other
		m = [][]member{drop(m, iConv), set(m, iConv, "null"), renamed}[variant]
	case FlawMissingSeqs:
		m = [][]member{drop(m, iSeqs), set(m, iSeqs, "null")}[variant%2]
	case FlawSeqZero:
		m = set(m, iSeqs, []string{"0", "[0]", "[" + seqText + ",0]"}[variant])
	case FlawSeqNegative:
		m = set(m, iSeqs, []string{"-" + seqText, "[-1]", "[" + seqText + ",-" + seqText + "]"}[variant])
	case FlawSeqFraction:
		m = set(m, iSeqs, []string{"1.5", "[" + seqText + ".5]", "[" + seqText + ",2.25]"}[variant])
	case FlawSeqString:
		m = set(m, iSeqs, []string{`"7"`, `["` + seqText + `"]`, "[" + seqText + `,"` + seqText + `"]`}[variant])
	case FlawSeqEmpty:
		m = set(m, iSeqs, "[]")
	case FlawUnknownType:
		types := []string{`"read"`, `"GROUP_READ"`, `"group_seen"`, `"c2c_typing"`, `""`}
		m = set(m, iType, types[g.rng.IntN(len(types))])
	case FlawControlChar:
		controls := []string{"\x00", "\n", "\t", "\x1b[31m", "\x7f", "\u0085"}
		c := controls[g.rng.IntN(len(controls))]
		i := []int{iUser, iConv}[variant%2]
		raw := u.id.raw
		if i == iConv {
			raw = conv.raw
		}
		q, _ := json.Marshal(raw[:len(raw)/2] + c + raw[len(raw)/2:]) // a string always marshals
		m = set(m, i, string(q))
	case FlawIDTooLong:
		i := []int{iUser, iConv}[variant%2]
		long := strings.Repeat("x", maxIDLength+1+g.rng.IntN(200))
		m = set(m, i, `"`+long+`"`)
	}
	if value == "" && flaw != FlawNotJSON {
		value = object(m)
	}
	b := make([]byte, 0, len(value)+len(key))
	b = append(b, value...)
	b = append(b, key...)
	return Record{Key: b[len(value):], Value: b[:len(value):len(value)], Malformed: true, Flaw: flaw}
}

// notJSON returns a value that is not one JSON object, in one of the ways
// broken producers fail.
func (g *Generator) notJSON(valid, userID, convID, seq string) string {
	switch g.rng.IntN(5) {
	case 0: // cut short, as by a producer that truncates
		return valid[:1+g.rng.IntN(len(valid)-1)]
	case 1:
		return userID + " read " + convID + " up to " + seq
	case 2:
		return ""
	case 3: // a batch where one event was expected
		return "[" + valid + "]"
	default: // another format entirely
		return "\x82\xa4type\xaagroup_read\xff\x00"
	}
}

// object renders members as a JSON object.
func object(m []member) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, f := range m {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Quote(f.name))
		b.WriteByte(':')
		b.WriteString(f.value)
	}
	b.WriteByte('}')
	return b.String()
}

// drop returns m without member i.
func drop(m []member, i int) []member {
	out := make([]member, 0, len(m)-1)
	out = append(out, m[:i]...)
	return append(out, m[i+1:]...)
}

// set returns m with member i's value replaced.
func set(m []member, i int, value string) []member {
	out := append([]member(nil), m...)
	out[i].value = value
	return out
}
