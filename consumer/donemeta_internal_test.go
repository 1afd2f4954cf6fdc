package consumer

import (
	"slices"
	"strings"
	"testing"
)

func TestDoneMetadata(t *testing.T) {
	many := make([]int64, 0, 20000)
	for off := int64(101); len(many) < cap(many); off += 2 {
		many = append(many, off) // no two adjacent: one range each
	}
	tests := []struct {
		name string
		base int64
		done []int64
		want []int64 // what decoding the encoding gives
	}{
		{"nothing done above", 100, nil, nil},
		{"ranges and gaps", 100, []int64{101, 102, 103, 107, 200, 201}, []int64{101, 102, 103, 107, 200, 201}},
		{"right at the committed offset", 0, []int64{0, 1, 5}, []int64{0, 1, 5}},
		{"not above the offset: nothing", 100, []int64{99, 101}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			meta := encodeDone(tt.base, slices.Values(tt.done))
			if got := decodeDone(tt.base, meta); !slices.Equal(got, tt.want) {
				t.Errorf("decodeDone(encodeDone(%d, %v)) = %v (%q), want %v", tt.base, tt.done, got, meta, tt.want)
			}
		})
	}

	t.Run("bounded, lowest ranges kept", func(t *testing.T) {
		meta := encodeDone(100, slices.Values(many))
		got := decodeDone(100, meta)
		if len(meta) > maxDoneMeta || len(got) == 0 || len(got) == len(many) || !slices.Equal(got, many[:len(got)]) {
			t.Errorf("%d bytes listing %d of %d done offsets, want at most %d bytes listing the lowest", len(meta), len(got), len(many), maxDoneMeta)
		}
	})
	t.Run("anything else is ignored", func(t *testing.T) {
		meta := encodeDone(100, slices.Values([]int64{101}))
		for _, m := range []string{
			"", "some other consumer's metadata", strings.Replace(meta, ":100:", ":99:", 1), meta + "!",
			doneMetaPrefix + "100:" + "_____", // varints that never end
		} {
			if got := decodeDone(100, m); got != nil {
				t.Errorf("decodeDone(100, %q) = %v, want nothing", m, got)
			}
		}
	})
}

func FuzzDecodeDone(f *testing.F) {
	f.Add(int64(100), encodeDone(100, slices.Values([]int64{101, 102, 150})))
	f.Add(int64(0), doneMetaPrefix+"0:AAEB")
	f.Fuzz(func(t *testing.T, base int64, meta string) {
		if base < 0 {
			return
		}
		done := decodeDone(base, meta)
		for i, off := range done {
			if off < base || (i > 0 && off <= done[i-1]) {
				t.Fatalf("decodeDone(%d, %q) = %v: not ascending from the base", base, meta, done)
			}
		}
		if len(done) > 0 && !slices.Equal(decodeDone(base, encodeDone(base, slices.Values(done))), done) && len(encodeDone(base, slices.Values(done))) < maxDoneMeta-16 {
			t.Fatalf("%v does not survive encoding", done)
		}
	})
}
