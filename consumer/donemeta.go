package consumer

// A partition's committed offset says that every record below it is done.
// Records above it may be done too, since the worker finishes records out of
// order; every commit lists them in its metadata, so that whoever consumes
// the partition next (this process after a kill -9 or a SIGTERM, or another
// member after a rebalance) marks them done instead of sending them again.
// Only the work finished since the last commit is then redone.
//
// The metadata is "receiptd-done/1:<committed offset>:<ranges>", the ranges
// of done offsets above the committed offset as unsigned varints (the gap
// from the end of the previous range, or from the committed offset, then the
// length), base64url without padding. Metadata of another form is ignored.
//
// Encoding and decoding are pure functions of their arguments, safe
// anywhere: encodeDone runs under a tracker's lock, decodeDone on a
// generation's goroutine.

import (
	"encoding/base64"
	"encoding/binary"
	"iter"
	"strconv"
	"strings"
)

const doneMetaPrefix = "receiptd-done/1:"

// maxDoneMeta bounds one partition's metadata. Brokers refuse a commit whose
// metadata exceeds offset.metadata.max.bytes (4096 by default); past the
// bound the highest ranges are left out, which only costs their records
// being sent again.
const maxDoneMeta = 3000

// encodeDone returns the metadata of a commit at base, listing done, the
// ascending offsets above base that are done; "" when there are none. It
// reads done only as far as the metadata's bound.
func encodeDone(base int64, done iter.Seq[int64]) string {
	head := doneMetaPrefix + strconv.FormatInt(base, 10) + ":"
	budget := base64.RawURLEncoding.DecodedLen(maxDoneMeta - len(head))
	var raw []byte
	prev := base                       // end of the previous range
	start, end := int64(-1), int64(-1) // the range being read
	flush := func() bool {
		n := len(raw)
		raw = binary.AppendUvarint(raw, uint64(start-prev))
		raw = binary.AppendUvarint(raw, uint64(end-start))
		if len(raw) > budget {
			raw = raw[:n]
			return false
		}
		prev = end
		return true
	}
	for off := range done {
		switch {
		case off < max(prev, end):
			return "" // not ascending above base: write nothing rather than something wrong
		case off == end:
			end++
			continue
		case start >= 0 && !flush():
			return finishDone(head, raw)
		}
		start, end = off, off+1
	}
	if start >= 0 {
		flush()
	}
	return finishDone(head, raw)
}

func finishDone(head string, raw []byte) string {
	if len(raw) == 0 {
		return ""
	}
	return head + base64.RawURLEncoding.EncodeToString(raw)
}

// decodeDone returns the done offsets that metadata written by encodeDone
// lists above base, or nil if meta is not such metadata for base.
func decodeDone(base int64, meta string) []int64 {
	rest, ok := strings.CutPrefix(meta, doneMetaPrefix)
	if !ok {
		return nil
	}
	at, ranges, ok := strings.Cut(rest, ":")
	if !ok || at != strconv.FormatInt(base, 10) {
		return nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(ranges)
	if err != nil {
		return nil
	}
	var done []int64
	prev := base
	for len(raw) > 0 {
		gap, n := binary.Uvarint(raw)
		if n <= 0 {
			return nil
		}
		raw = raw[n:]
		length, n := binary.Uvarint(raw)
		// Bounded by what maxDoneMeta can describe, so that a forged
		// length cannot make it allocate without limit.
		if n <= 0 || length == 0 || length > 1<<20 || gap > 1<<40 || len(done)+int(length) > 1<<20 {
			return nil
		}
		raw = raw[n:]
		start := prev + int64(gap)
		if start < prev || start+int64(length) < start {
			return nil // overflow
		}
		for off := start; off < start+int64(length); off++ {
			done = append(done, off)
		}
		prev = start + int64(length)
	}
	return done
}
