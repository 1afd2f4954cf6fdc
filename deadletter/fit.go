package deadletter

// Fitting a letter to the dead-letter topic's max.message.bytes: what a
// record costs in a batch, and cutting its value, then its own headers,
// then its key, saying so in its headers.
//
// Lock and goroutine contract: pure functions of their arguments; no state,
// no locks, safe from any goroutine.

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/segmentio/kafka-go"
)

// recordBatchOverhead is the size of a record batch's header (format v2,
// with the log's offset and length fields), which the brokers count against
// max.message.bytes and kafka-go's Writer.BatchBytes leaves out.
const recordBatchOverhead = 61

// What fit cuts from a letter, in the order it cuts them; HeaderTruncated
// lists those cut.
const (
	cutValue   = "value"   // the value is shortened, possibly to nothing
	cutHeaders = "headers" // the source record's own headers are dropped
	cutKey     = "key"     // the key is dropped
)

// messageSize is kafka-go's count of m's bytes (Message.totalSize, which it
// does not export), the one it holds against Writer.BatchBytes: a little more
// than m takes inside a record batch, since it counts fixed-width lengths
// and a timestamp where the batch has varints. So a batch kafka-go fills to
// BatchBytes takes at most BatchBytes plus recordBatchOverhead.
func messageSize(m kafka.Message) int {
	n := 4 + 1 + 1 + 4 + len(m.Key) + 4 + len(m.Value) + 8
	n += varintSize(len(m.Headers))
	for _, h := range m.Headers {
		n += varintSize(len(h.Key)) + len(h.Key) + varintSize(len(h.Value)) + len(h.Value)
	}
	return n
}

// varintSize is the length of n as a zig-zag varint.
func varintSize(n int) int {
	z := uint64(n<<1) ^ uint64(n>>63)
	size := 1
	for z >= 0x80 {
		z >>= 7
		size++
	}
	return size
}

// fit returns m as it fits in room bytes by messageSize, and what it cut.
// It keeps as much of the value as fits, after headers that say what was
// cut (HeaderTruncated), how long the value was and its SHA-256. If even an
// empty value does not fit, it drops the source record's own headers, then
// the key. The result can still exceed room: receiptd's own headers are
// never cut. fit(m, 0) is the smallest form of m.
func fit(m kafka.Message, room int) (kafka.Message, []string) {
	if messageSize(m) <= room {
		return m, nil
	}
	value := m.Value
	sum := sha256.Sum256(value)
	var own, receiptd []kafka.Header
	for _, h := range m.Headers {
		if strings.HasPrefix(h.Key, HeaderPrefix) {
			receiptd = append(receiptd, h)
		} else {
			own = append(own, h)
		}
	}
	cut := []string{cutValue}
	out := m
	for _, next := range []string{"", cutHeaders, cutKey} {
		switch next {
		case cutHeaders:
			own = nil
		case cutKey:
			out.Key = nil
		}
		if next != "" {
			cut = append(cut, next)
		}
		out.Headers = append(append(append(make([]kafka.Header, 0, len(m.Headers)+3), own...), receiptd...),
			kafka.Header{Key: HeaderTruncated, Value: []byte(strings.Join(cut, ","))},
			kafka.Header{Key: HeaderOriginalValueSize, Value: []byte(strconv.Itoa(len(value)))},
			kafka.Header{Key: HeaderOriginalValueSHA256, Value: []byte(hex.EncodeToString(sum[:]))})
		out.Value = nil
		if free := room - messageSize(out); free >= 0 {
			out.Value = value[:min(free, len(value))]
			return out, cut
		}
	}
	return out, cut
}

// truncatedEvent describes the cutting of src's letter full into written.
func truncatedEvent(topic string, limit int, src, full, written kafka.Message, cut []string) Truncated {
	return Truncated{Topic: topic, MaxMessageBytes: limit, Cut: cut,
		SourceTopic: src.Topic, SourcePartition: src.Partition, SourceOffset: src.Offset,
		LetterBytes: messageSize(full) + recordBatchOverhead, WrittenBytes: messageSize(written) + recordBatchOverhead}
}
