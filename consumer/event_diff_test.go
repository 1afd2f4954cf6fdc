package consumer_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/receiptd/receiptd/consumer"
	"github.com/receiptd/receiptd/consumer/internal/eventscan"
	"github.com/receiptd/receiptd/internal/traffic"
)

// The decoder on encoding/json decides every input as the hand-written
// scanner did: the same accept or reject, the same Event (an invalid one
// included: its Seqs are the dead letter's failed seqs), and the same
// reason, but for the wording of JSON syntax errors, which is
// encoding/json's.
func TestDecodersAgree(t *testing.T) {
	inputs := diffInputs(t)
	var syntax, samePos int
	for _, in := range inputs {
		for _, lim := range []consumer.Limits{{}, {MaxIDLength: 3, MaxSeqsPerEvent: 2}} {
			s, p := compareDecoders(t, in, lim)
			if s {
				syntax++
			}
			if p {
				samePos++
			}
		}
	}
	t.Logf("%d inputs (×2 limits); %d syntax errors, %d of them at the same byte", len(inputs), syntax, samePos)
}

func FuzzDecodersAgree(f *testing.F) {
	for _, in := range corpus(f) {
		f.Add(in, 8, 4)
	}
	f.Fuzz(func(t *testing.T, value []byte, maxID, maxSeqs int) {
		compareDecoders(t, value, consumer.Limits{MaxIDLength: maxID % 300, MaxSeqsPerEvent: maxSeqs % 2000})
	})
}

// compareDecoders fails t unless both decoders decide value alike, and
// reports whether it was a JSON syntax error and whether both placed it at
// the same byte.
func compareDecoders(t *testing.T, value []byte, lim consumer.Limits) (syntax, samePos bool) {
	t.Helper()
	got, gotErr := consumer.DecodeEvent(value, lim)
	want, wantErr := eventscan.DecodeEvent(value, eventscan.Limits{MaxIDLength: lim.MaxIDLength, MaxSeqsPerEvent: lim.MaxSeqsPerEvent})
	if got.Key != want.Key || !slices.Equal(got.Seqs, want.Seqs) || !got.ReadAt.Equal(want.ReadAt) {
		t.Fatalf("%q: json decoder %+v, scanner %+v", value, got, want)
	}
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("%q: json decoder says %v, scanner %v", value, gotErr, wantErr)
	}
	if gotErr == nil {
		return false, false
	}
	g, w := gotErr.Error(), wantErr.Error()
	const prefix = "invalid JSON"
	if strings.HasPrefix(w, prefix) && !strings.Contains(w, "lone surrogate") {
		if !strings.HasPrefix(g, prefix) {
			t.Fatalf("%q: json decoder says %q, scanner %q", value, g, w)
		}
		// The scanner placed a bad literal (tru, nul) at its first byte and
		// checked depth before syntax; encoding/json names the offending
		// byte, which comes later. The scanner also called a \u escape cut
		// short by the end of the value an unexpected end even when a
		// character before the end was no hex digit.
		pg, pw := bytePos(g), bytePos(w)
		if strings.Contains(g, "unexpected end") {
			pg = len(value)
		}
		if strings.Contains(w, "unexpected end") {
			pw = len(value)
		}
		later := strings.Contains(w, "(want a JSON value)") || strings.Contains(w, "nested deeper")
		shortEscape := strings.Contains(w, "unexpected end of value (in a \\u escape)")
		if pg != pw && !(later && pg > pw) && !(shortEscape && pg < pw) {
			t.Fatalf("%q: json decoder says %q, scanner %q", value, g, w)
		}
		return true, pg == pw
	}
	if g != w {
		t.Fatalf("%q: json decoder says %q, scanner %q", value, g, w)
	}
	return false, false
}

// bytePos returns the N of "at byte N" in a reason, or -1.
func bytePos(reason string) int {
	_, rest, ok := strings.Cut(reason, " at byte ")
	n := -1
	if ok {
		fmt.Sscanf(rest, "%d", &n)
	}
	return n
}

// diffInputs returns the fuzz corpus, every one-byte deletion and several
// one-byte substitutions of each of its entries, and the traffic
// generator's records, a fifth of them malformed.
func diffInputs(t *testing.T) [][]byte {
	t.Helper()
	seeds := corpus(t)
	inputs := slices.Clone(seeds)
	for _, s := range seeds {
		for i := range s {
			inputs = append(inputs, slices.Delete(slices.Clone(s), i, i+1))
			for _, c := range []byte{'"', '\\', '[', ']', '{', '}', ',', ':', '0', '-', '.', 'e', 'n', ' ', 0x01, 0xff} {
				m := slices.Clone(s)
				m[i] = c
				inputs = append(inputs, m)
			}
		}
	}
	cfg := traffic.DefaultConfig()
	cfg.MalformedFraction = 0.2
	g, err := traffic.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	epoch := time.UnixMilli(1764150000000)
	for i := range 20000 {
		inputs = append(inputs, g.Next(epoch.Add(time.Duration(i)*time.Millisecond)).Value)
	}
	return inputs
}

// corpus returns the committed seed corpus of FuzzDecodeEvent and a few
// more values that reach every rule.
func corpus(t testing.TB) [][]byte {
	t.Helper()
	var out [][]byte
	files, err := filepath.Glob("testdata/fuzz/FuzzDecodeEvent/*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no seed corpus: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			lit, ok := strings.CutPrefix(sc.Text(), "[]byte(")
			if !ok {
				continue
			}
			v, err := strconv.Unquote(strings.TrimSuffix(lit, ")"))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			out = append(out, []byte(v))
		}
	}
	for _, s := range []string{
		`{"x":tru,"user_id":"a","group_id":"g","conv_msg_seq":1}`,
		`{"type":"c2c_read","user_id":"a","conv_id":"b","group_id":7,"conv_msg_seq":[1,"7",[2]],"read_at":"x"}`,
		`{"type":"\ud800","user_id":"a\ufffd","group_id":"\u00e9\uFFFD","conv_msg_seq":[1,2,1],"read_at":1.5}`,
		`{"us\ud800er_id":"a","group_id":"g","conv_msg_seq":1}`,
		"{\"type\":\"\xff\xfe\",\"user_id\":\"a\xff\",\"group_id\":\"g\",\"conv_msg_seq\":1}",
		`{"user_id":"` + strings.Repeat("é", 70) + `","group_id":"g","conv_msg_seq":[0,1e2,-0]}`,
		`{"conv_msg_seq":[1],"conv_msg_seq":[2],"read_at":1,"read_at":2,"type":null,"type":null}`,
		`{"x":` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `,"y":` + strings.Repeat(`{"a":`, 70) + `1` + strings.Repeat("}", 70) + `}`,
		`{"conv_msg_seq":` + strings.Repeat("[", 66) + `1` + strings.Repeat("]", 66) + `}`,
		` { "user_id" : "a" , "group_id" : "g" , "conv_msg_seq" : [ 1 , 2 ] } ` + "\t\r\n",
	} {
		out = append(out, []byte(s))
	}
	return out
}
