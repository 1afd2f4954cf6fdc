package consumer_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/receiptd/receiptd/consumer"
	"github.com/receiptd/receiptd/receipt"
)

func TestDecodeEventValid(t *testing.T) {
	long := strings.Repeat("u", 128)
	tests := []struct {
		name string
		give string
		want consumer.Event
	}{
		{
			name: "design example",
			give: `{"type": "group_read", "user_id": "alice", "group_id": "team-42", "conv_msg_seq": [101, 102], "read_at": 1764150000123}`,
			want: consumer.Event{Key: receipt.Key{Action: receipt.GroupRead, UserID: "alice", ConvID: "team-42"},
				Seqs: []uint64{101, 102}, ReadAt: time.UnixMilli(1764150000123)},
		},
		{
			name: "type defaults to group_read, single integer seq",
			give: `{"user_id":"a","group_id":"g","conv_msg_seq":7}`,
			want: consumer.Event{Key: receipt.Key{Action: receipt.GroupRead, UserID: "a", ConvID: "g"}, Seqs: []uint64{7}},
		},
		{
			name: "c2c_read uses conv_id and ignores group_id",
			give: `{"type":"c2c_read","user_id":"a","conv_id":"bob","group_id":"ignored","conv_msg_seq":[3]}`,
			want: consumer.Event{Key: receipt.Key{Action: receipt.C2CRead, UserID: "a", ConvID: "bob"}, Seqs: []uint64{3}},
		},
		{
			name: "group_delivered",
			give: `{"type":"group_delivered","user_id":"a","group_id":"g","conv_msg_seq":[1]}`,
			want: consumer.Event{Key: receipt.Key{Action: receipt.GroupDelivered, UserID: "a", ConvID: "g"}, Seqs: []uint64{1}},
		},
		{
			name: "c2c_delivered",
			give: `{"type":"c2c_delivered","user_id":"a","conv_id":"b","conv_msg_seq":[1]}`,
			want: consumer.Event{Key: receipt.Key{Action: receipt.C2CDelivered, UserID: "a", ConvID: "b"}, Seqs: []uint64{1}},
		},
		{
			name: "seqs sorted and de-duplicated",
			give: `{"user_id":"a","group_id":"g","conv_msg_seq":[9,3,9,1,3]}`,
			want: consumer.Event{Key: receipt.Key{Action: receipt.GroupRead, UserID: "a", ConvID: "g"}, Seqs: []uint64{1, 3, 9}},
		},
		{
			name: "largest seq",
			give: `{"user_id":"a","group_id":"g","conv_msg_seq":[9007199254740991]}`,
			want: consumer.Event{Key: receipt.Key{Action: receipt.GroupRead, UserID: "a", ConvID: "g"}, Seqs: []uint64{1<<53 - 1}},
		},
		{
			name: "unknown fields of every kind ignored, nulls for optional fields",
			give: ` {"x":{"y":[1,2.5e3,{"z":null}],"w":"\u00e9"},"type":null,"read_at":null,"user_id":"a","group_id":"g","conv_id":null,"conv_msg_seq":[1],"t":true,"f":false}` + "\n",
			want: consumer.Event{Key: receipt.Key{Action: receipt.GroupRead, UserID: "a", ConvID: "g"}, Seqs: []uint64{1}},
		},
		{
			name: "escaped ids and keys are unescaped",
			give: `{"user\u005fid":"al\u00efce \ud83d\ude00","group_id":"a\/b","conv_msg_seq":[1]}`,
			want: consumer.Event{Key: receipt.Key{Action: receipt.GroupRead, UserID: "alïce 😀", ConvID: "a/b"}, Seqs: []uint64{1}},
		},
		{
			name: "id at the length limit",
			give: `{"user_id":"` + long + `","group_id":"g","conv_msg_seq":[1]}`,
			want: consumer.Event{Key: receipt.Key{Action: receipt.GroupRead, UserID: long, ConvID: "g"}, Seqs: []uint64{1}},
		},
		{
			name: "read_at zero",
			give: `{"user_id":"a","group_id":"g","conv_msg_seq":[1],"read_at":0}`,
			want: consumer.Event{Key: receipt.Key{Action: receipt.GroupRead, UserID: "a", ConvID: "g"}, Seqs: []uint64{1}, ReadAt: time.UnixMilli(0)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := consumer.DecodeEvent([]byte(tt.give), consumer.Limits{})
			if err != nil {
				t.Fatalf("DecodeEvent: %v", err)
			}
			if got.Key != tt.want.Key || !slices.Equal(got.Seqs, tt.want.Seqs) || !got.ReadAt.Equal(tt.want.ReadAt) {
				t.Errorf("DecodeEvent = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDecodeEventInvalid(t *testing.T) {
	seqs := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprint(i + 1)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	tests := []struct {
		name string
		give string
		lim  consumer.Limits
		want string // the exact reason
	}{
		{"empty", ``, consumer.Limits{}, "empty value: want a JSON object"},
		{"array", `[1]`, consumer.Limits{}, "value is not a JSON object"},
		{"string", `"x"`, consumer.Limits{}, "value is not a JSON object"},
		{"truncated", `{"user_id":"a"`, consumer.Limits{}, "invalid JSON: unexpected end of value (want ',' or '}' after an object member)"},
		{"truncated in an array", `{"user_id":"a","conv_msg_seq":[1, `, consumer.Limits{}, "invalid JSON: unexpected end of value (want a JSON value)"},
		{"truncated in a string", `{"user_id":"a","group_id":"g\u00`, consumer.Limits{}, "invalid JSON: unexpected end of value (unterminated string)"},
		{"trailing object", `{"user_id":"a","group_id":"g","conv_msg_seq":1}{}`, consumer.Limits{}, "trailing data after the JSON object at byte 47"},
		{"trailing garbage", `{"user_id":"a","group_id":"g","conv_msg_seq":1} x`, consumer.Limits{}, "trailing data after the JSON object at byte 48"},
		{"bad unknown value", `{"x":tru,"user_id":"a","group_id":"g","conv_msg_seq":1}`, consumer.Limits{}, "invalid JSON at byte 8: unexpected ',' in literal true (expecting 'e')"},
		{"leading zero", `{"user_id":"a","group_id":"g","conv_msg_seq":01}`, consumer.Limits{}, "invalid JSON at byte 46: unexpected '1' after object key:value pair"},
		{"byte outside a string", "{\"user_id\":\"a\"\xff}", consumer.Limits{}, "invalid JSON at byte 14: unexpected byte 0xff after object key:value pair"},
		{"raw control in string", "{\"user_id\":\"a\x01\"}", consumer.Limits{}, "invalid JSON at byte 13: unexpected byte 0x01 in string literal"},
		{"bad escape", `{"user_id":"a\x"}`, consumer.Limits{}, "invalid JSON at byte 14: unexpected 'x' in string escape code"},
		{"deep nesting", `{"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, consumer.Limits{}, "invalid JSON at byte 70: nested deeper than 64 levels"},
		{"duplicate field", `{"user_id":"a","user_id":"b","group_id":"g","conv_msg_seq":1}`, consumer.Limits{}, "user_id: given more than once"},
		{"unknown type", `{"type":"group_unread","user_id":"a","group_id":"g","conv_msg_seq":1}`, consumer.Limits{}, `type: "group_unread" is not one of group_read, c2c_read, group_delivered, c2c_delivered`},
		{"type not a string", `{"type":1,"user_id":"a","group_id":"g","conv_msg_seq":1}`, consumer.Limits{}, "type: must be a string"},
		{"user_id missing", `{"group_id":"g","conv_msg_seq":1}`, consumer.Limits{}, "user_id: missing"},
		{"user_id null", `{"user_id":null,"group_id":"g","conv_msg_seq":1}`, consumer.Limits{}, "user_id: missing"},
		{"user_id empty", `{"user_id":"","group_id":"g","conv_msg_seq":1}`, consumer.Limits{}, "user_id: empty"},
		{"user_id number", `{"user_id":42,"group_id":"g","conv_msg_seq":1}`, consumer.Limits{}, "user_id: must be a string"},
		{"user_id too long", `{"user_id":"` + strings.Repeat("u", 129) + `","group_id":"g","conv_msg_seq":1}`, consumer.Limits{}, "user_id: 129 bytes, longer than the limit of 128"},
		{"user_id over custom limit", `{"user_id":"abcd","group_id":"g","conv_msg_seq":1}`, consumer.Limits{MaxIDLength: 3}, "user_id: 4 bytes, longer than the limit of 3"},
		{"user_id escaped control", `{"user_id":"a\u0007","group_id":"g","conv_msg_seq":1}`, consumer.Limits{}, "user_id: control character U+0007 at byte 1"},
		{"user_id C1 control", `{"user_id":"a\u0085","group_id":"g","conv_msg_seq":1}`, consumer.Limits{}, "user_id: control character U+0085 at byte 1"},
		{"user_id DEL", "{\"user_id\":\"a\x7f\",\"group_id\":\"g\",\"conv_msg_seq\":1}", consumer.Limits{}, "user_id: control character U+007F at byte 1"},
		{"user_id right-to-left mark", `{"user_id":"a\u200f","group_id":"g","conv_msg_seq":1}`, consumer.Limits{}, "user_id: format character U+200F at byte 1"},
		{"user_id raw zero-width space", "{\"user_id\":\"a\u200bb\",\"group_id\":\"g\",\"conv_msg_seq\":1}", consumer.Limits{}, "user_id: format character U+200B at byte 1"},
		{"user_id byte order mark", `{"user_id":"\ufeffa","group_id":"g","conv_msg_seq":1}`, consumer.Limits{}, "user_id: format character U+FEFF at byte 0"},
		{"user_id soft hyphen", `{"user_id":"a\u00adb","group_id":"g","conv_msg_seq":1}`, consumer.Limits{}, "user_id: format character U+00AD at byte 1"},
		{"group_id line separator", `{"user_id":"a","group_id":"g\u2028h","conv_msg_seq":1}`, consumer.Limits{}, "group_id: line separator U+2028 at byte 1"},
		{"conv_id raw paragraph separator", "{\"type\":\"c2c_read\",\"user_id\":\"a\",\"conv_id\":\"bb\u2029\",\"conv_msg_seq\":1}", consumer.Limits{}, "conv_id: paragraph separator U+2029 at byte 2"},
		{"user_id invalid UTF-8", "{\"user_id\":\"a\xff\",\"group_id\":\"g\",\"conv_msg_seq\":1}", consumer.Limits{}, "user_id: invalid UTF-8 at byte 1"},
		{"user_id lone surrogate", `{"user_id":"a\ud800","group_id":"g","conv_msg_seq":1}`, consumer.Limits{}, "user_id: lone surrogate in a \\u escape"},
		{"group_id missing", `{"user_id":"a","conv_id":"b","conv_msg_seq":1}`, consumer.Limits{}, "group_id: missing (required for type group_read)"},
		{"conv_id missing", `{"type":"c2c_delivered","user_id":"a","group_id":"g","conv_msg_seq":1}`, consumer.Limits{}, "conv_id: missing (required for type c2c_delivered)"},
		{"unused id not a string", `{"user_id":"a","group_id":"g","conv_id":[],"conv_msg_seq":1}`, consumer.Limits{}, "conv_id: must be a string"},
		{"seq missing", `{"user_id":"a","group_id":"g"}`, consumer.Limits{}, "conv_msg_seq: missing"},
		{"seq null", `{"user_id":"a","group_id":"g","conv_msg_seq":null}`, consumer.Limits{}, "conv_msg_seq: must be an integer or an array of integers"},
		{"seq string", `{"user_id":"a","group_id":"g","conv_msg_seq":"7"}`, consumer.Limits{}, "conv_msg_seq: must be an integer or an array of integers"},
		{"seq empty array", `{"user_id":"a","group_id":"g","conv_msg_seq":[]}`, consumer.Limits{}, "conv_msg_seq: empty array"},
		{"seq zero", `{"user_id":"a","group_id":"g","conv_msg_seq":[1,2,3,0]}`, consumer.Limits{}, "conv_msg_seq[3]: 0 is below 1"},
		{"seq single zero", `{"user_id":"a","group_id":"g","conv_msg_seq":0}`, consumer.Limits{}, "conv_msg_seq: 0 is below 1"},
		{"seq negative", `{"user_id":"a","group_id":"g","conv_msg_seq":[-5]}`, consumer.Limits{}, "conv_msg_seq[0]: -5 is below 1"},
		{"seq fraction", `{"user_id":"a","group_id":"g","conv_msg_seq":[1.5]}`, consumer.Limits{}, "conv_msg_seq[0]: 1.5 is not an integer"},
		{"seq integral float", `{"user_id":"a","group_id":"g","conv_msg_seq":[2,1.0]}`, consumer.Limits{}, "conv_msg_seq[1]: 1.0 is not an integer"},
		{"seq exponent", `{"user_id":"a","group_id":"g","conv_msg_seq":[1e3]}`, consumer.Limits{}, "conv_msg_seq[0]: 1e3 is not an integer"},
		{"seq string element", `{"user_id":"a","group_id":"g","conv_msg_seq":[1,"7"]}`, consumer.Limits{}, `conv_msg_seq[1]: "7" is not an integer`},
		{"seq null element", `{"user_id":"a","group_id":"g","conv_msg_seq":[null]}`, consumer.Limits{}, "conv_msg_seq[0]: null is not an integer"},
		{"seq nested array", `{"user_id":"a","group_id":"g","conv_msg_seq":[[1]]}`, consumer.Limits{}, "conv_msg_seq[0]: [1] is not an integer"},
		{"seq above 2^53-1", `{"user_id":"a","group_id":"g","conv_msg_seq":[9007199254740992]}`, consumer.Limits{}, "conv_msg_seq[0]: 9007199254740992 is above 9007199254740991"},
		{"seq huge", `{"user_id":"a","group_id":"g","conv_msg_seq":[123456789012345678901234567890123456789]}`, consumer.Limits{}, "conv_msg_seq[0]: 12345678901234567890123456789012… is above 9007199254740991"},
		{"too many seqs", `{"user_id":"a","group_id":"g","conv_msg_seq":` + seqs(1001) + `}`, consumer.Limits{}, "conv_msg_seq: 1001 values, more than the limit of 1000"},
		{"too many seqs custom", `{"user_id":"a","group_id":"g","conv_msg_seq":[1,1,1]}`, consumer.Limits{MaxSeqsPerEvent: 2}, "conv_msg_seq: 3 values, more than the limit of 2"},
		{"read_at string", `{"user_id":"a","group_id":"g","conv_msg_seq":1,"read_at":"now"}`, consumer.Limits{}, "read_at: must be an integer (Unix milliseconds)"},
		{"read_at float", `{"user_id":"a","group_id":"g","conv_msg_seq":1,"read_at":1.5}`, consumer.Limits{}, "read_at: 1.5 is not an integer (want Unix milliseconds)"},
		{"read_at negative", `{"user_id":"a","group_id":"g","conv_msg_seq":1,"read_at":-1}`, consumer.Limits{}, "read_at: -1 is below 0 (want Unix milliseconds)"},
		{"first rule in field order wins", `{"conv_msg_seq":0,"group_id":""}`, consumer.Limits{}, "user_id: missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := consumer.DecodeEvent([]byte(tt.give), tt.lim)
			var inv *consumer.InvalidEventError
			if !errors.As(err, &inv) {
				t.Fatalf("DecodeEvent error = %v, want an *InvalidEventError", err)
			}
			if err.Error() != tt.want {
				t.Errorf("reason = %q\n      want %q", err.Error(), tt.want)
			}
		})
	}
}

// An invalid event still yields its valid seqs: they are the dead-letter
// record's failed seqs.
func TestDecodeEventInvalidKeepsSeqs(t *testing.T) {
	ev, err := consumer.DecodeEvent([]byte(`{"group_id":"g","conv_msg_seq":[5,4,5]}`), consumer.Limits{})
	if err == nil {
		t.Fatal("DecodeEvent accepted an event without user_id")
	}
	if !slices.Equal(ev.Seqs, []uint64{4, 5}) {
		t.Errorf("Seqs = %v, want [4 5]", ev.Seqs)
	}
}

// benchEvents are the values BenchmarkDecodeEvent decodes: the events
// producers send, the largest one allowed, and invalid ones of both kinds.
var benchEvents = []struct{ name, value string }{
	{"single", `{"type":"group_read","user_id":"user-1234567","group_id":"team-42","conv_msg_seq":101,"read_at":1764150000123}`},
	{"array10", `{"type":"group_read","user_id":"user-1234567","group_id":"team-42",` +
		`"conv_msg_seq":[101,102,103,104,105,106,107,108,109,110],"read_at":1764150000123,"client":{"os":"ios","v":"7.1"}}`},
	{"escaped", `{"type":"c2c_read","user_id":"\u00e9l\u00e8ve-\ud83d\ude00","conv_id":"caf\u00e9 \u2603","conv_msg_seq":[7,5,7]}`},
	{"array1000", `{"type":"group_delivered","user_id":"user-1234567","group_id":"team-42","conv_msg_seq":[` + benchSeqs(1000) + `]}`},
	{"syntax", `{"type":"group_read","user_id":"user-1234567","group_id":"team-42","conv_msg_seq":[101,102,103],"read_at":tru}`},
	{"rule", `{"type":"group_read","user_id":"user-1234567","group_id":"team-42","conv_msg_seq":[101,102,0],"read_at":1764150000123}`},
}

func benchSeqs(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprint(1_000_000 + 3*i)
	}
	return strings.Join(parts, ",")
}

func BenchmarkDecodeEvent(b *testing.B) {
	for _, ev := range benchEvents {
		v := []byte(ev.value)
		valid := ev.name != "syntax" && ev.name != "rule"
		b.Run("event="+ev.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(v)))
			for b.Loop() {
				if _, err := consumer.DecodeEvent(v, consumer.Limits{}); (err == nil) != valid {
					b.Fatalf("DecodeEvent: %v", err)
				}
			}
		})
	}
}

func FuzzDecodeEvent(f *testing.F) {
	for _, s := range []string{
		`{"type":"group_read","user_id":"alice","group_id":"team-42","conv_msg_seq":[101,102],"read_at":1764150000123}`,
		`{"type":"c2c_read","user_id":"a","conv_id":"b","conv_msg_seq":1}`,
		`{"user_id":"a\u00e9\ud83d\ude00","group_id":"g","conv_msg_seq":[3,1,3]}`,
		`{"user_id":"a","group_id":"g","conv_msg_seq":[1.5]}`,
		`{"x":[{"y":null}],"user_id":"a","group_id":"g","conv_msg_seq":9007199254740991}`,
		`{"user_id":"a","group_id":"g","conv_msg_seq":1}{}`,
		`{"x":tru,"user_id":"a","group_id":"g","conv_msg_seq":1}`,
		`{"type":"c2c_read","user_id":"a","conv_id":"b","group_id":7,"conv_msg_seq":[1,"7",[2]],"read_at":"x"}`,
		`{"type":"\ud800","user_id":"a\ufffd","group_id":"\u00e9\uFFFD","conv_msg_seq":[1,2,1],"read_at":1.5}`,
		`{"us\ud800er_id":"a","group_id":"g","conv_msg_seq":1}`,
		"{\"type\":\"\xff\xfe\",\"user_id\":\"a\xff\",\"group_id\":\"g\",\"conv_msg_seq\":1}",
		`{"conv_msg_seq":[1],"conv_msg_seq":[2],"read_at":1,"read_at":2,"type":null,"type":null}`,
		`{"x":` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `}`,
		` { "user_id" : "a" , "group_id" : "g" , "conv_msg_seq" : [ 1 , 2 ] } ` + "\t\r\n",
		`{"\uX`,
	} {
		f.Add([]byte(s), 8, 4)
	}
	f.Fuzz(func(t *testing.T, value []byte, maxID, maxSeqs int) {
		lim := consumer.Limits{MaxIDLength: maxID % 300, MaxSeqsPerEvent: maxSeqs % 2000}
		ev, err := consumer.DecodeEvent(value, lim)
		if err != nil {
			var inv *consumer.InvalidEventError
			if !errors.As(err, &inv) {
				t.Fatalf("error %v is not an *InvalidEventError", err)
			}
			if r := err.Error(); r == "" || len(r) > 256 || !utf8.ValidString(r) {
				t.Fatalf("reason %q: want non-empty valid UTF-8 of at most 256 bytes", r)
			}
			// A syntax error names a byte of the value.
			if _, pos, ok := strings.Cut(err.Error(), " at byte "); ok {
				var n int
				if _, serr := fmt.Sscanf(pos, "%d", &n); serr != nil || n < 0 || n >= len(value) {
					t.Fatalf("reason %q names no byte of the %d-byte value", err, len(value))
				}
			}
			return
		}
		checkAccepted(t, value, lim, ev)
	})
}

// checkAccepted verifies an accepted event against every rule, using
// encoding/json as the reference decoder.
func checkAccepted(t *testing.T, value []byte, lim consumer.Limits, ev consumer.Event) {
	t.Helper()
	if lim.MaxIDLength <= 0 {
		lim.MaxIDLength = consumer.DefaultMaxIDLength
	}
	if lim.MaxSeqsPerEvent <= 0 {
		lim.MaxSeqsPerEvent = consumer.DefaultMaxSeqsPerEvent
	}
	if !json.Valid(value) {
		t.Fatalf("accepted invalid JSON %q", value)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(value, &obj); err != nil {
		t.Fatalf("accepted a value that is not one object: %v", err)
	}
	isNull := func(k string) bool { r, ok := obj[k]; return !ok || string(r) == "null" }
	str := func(k string) string {
		var s string
		if err := json.Unmarshal(obj[k], &s); err != nil {
			t.Fatalf("accepted %s %s: %v", k, obj[k], err)
		}
		return s
	}
	action := receipt.GroupRead
	if !isNull("type") {
		names := map[string]receipt.Action{"group_read": receipt.GroupRead, "c2c_read": receipt.C2CRead,
			"group_delivered": receipt.GroupDelivered, "c2c_delivered": receipt.C2CDelivered}
		a, ok := names[str("type")]
		if !ok {
			t.Fatalf("accepted type %s", obj["type"])
		}
		action = a
	}
	convField := "conv_id"
	if action.IsGroup() {
		convField = "group_id"
	}
	want := receipt.Key{Action: action, UserID: str("user_id"), ConvID: str(convField)}
	if ev.Key != want {
		t.Fatalf("Key = %+v, want %+v", ev.Key, want)
	}
	for _, id := range []string{want.UserID, want.ConvID} {
		if id == "" || len(id) > lim.MaxIDLength || !utf8.ValidString(id) || strings.ContainsFunc(id, invisible) {
			t.Fatalf("accepted id %q (limit %d)", id, lim.MaxIDLength)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(obj["conv_msg_seq"]))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		t.Fatalf("accepted conv_msg_seq %s: %v", obj["conv_msg_seq"], err)
	}
	var nums []any
	switch v := raw.(type) {
	case json.Number:
		nums = []any{v}
	case []any:
		nums = v
	default:
		t.Fatalf("accepted conv_msg_seq %s", obj["conv_msg_seq"])
	}
	if len(nums) == 0 || len(nums) > lim.MaxSeqsPerEvent {
		t.Fatalf("accepted %d seqs (limit %d)", len(nums), lim.MaxSeqsPerEvent)
	}
	var wantSeqs []uint64
	for _, n := range nums {
		num, ok := n.(json.Number)
		if !ok {
			t.Fatalf("accepted seq %v", n)
		}
		var u uint64
		if _, err := fmt.Sscan(num.String(), &u); err != nil || num.String() != fmt.Sprint(u) || u < 1 || u > consumer.MaxSeq {
			t.Fatalf("accepted seq %s", num)
		}
		wantSeqs = append(wantSeqs, u)
	}
	slices.Sort(wantSeqs)
	wantSeqs = slices.Compact(wantSeqs)
	if !slices.Equal(ev.Seqs, wantSeqs) {
		t.Fatalf("Seqs = %v, want %v", ev.Seqs, wantSeqs)
	}
	if isNull("read_at") {
		if !ev.ReadAt.IsZero() {
			t.Fatalf("ReadAt = %v without read_at", ev.ReadAt)
		}
	} else {
		var ms int64
		if err := json.Unmarshal(obj["read_at"], &ms); err != nil || ms < 0 || string(obj["read_at"]) != fmt.Sprint(ms) {
			t.Fatalf("accepted read_at %s", obj["read_at"])
		}
		if !ev.ReadAt.Equal(time.UnixMilli(ms)) {
			t.Fatalf("ReadAt = %v, want %v", ev.ReadAt, time.UnixMilli(ms))
		}
	}
}

// invisible reports the characters an id may not hold: control and format
// characters, line and paragraph separators.
func invisible(r rune) bool {
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp)
}
