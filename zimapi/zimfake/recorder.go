package zimfake

import (
	"sync"
	"time"
)

// Receipt is one accepted (action, reader, conversation, seq).
type Receipt struct {
	Action string    `json:"action"`
	UserID string    `json:"user"`
	ConvID string    `json:"conv"`
	Seq    uint64    `json:"seq"`
	At     time.Time `json:"at"`
}

// DistinctReceipt is a receipt with the number of times it was accepted.
type DistinctReceipt struct {
	Action string `json:"action"`
	UserID string `json:"user"`
	ConvID string `json:"conv"`
	Seq    uint64 `json:"seq"`
	Count  int64  `json:"count"`
}

// Stats counts what the server saw since it started or was last reset.
type Stats struct {
	// Calls counts every request the API handler received.
	Calls int64 `json:"calls"`
	// ByCode counts ZIM answers by Code.
	ByCode map[int64]int64 `json:"by_code"`
	// ByHTTPStatus counts answers without a ZIM Code (405, 503 in an
	// outage) by HTTP status.
	ByHTTPStatus map[int]int64 `json:"by_http_status"`
	// Dropped counts connections closed without an answer (DropRate).
	Dropped int64 `json:"dropped"`
	// RateLimited counts 660300005 answers.
	RateLimited int64 `json:"rate_limited"`
	// GroupRateLimited counts 660300006 answers.
	GroupRateLimited int64 `json:"group_rate_limited"`
	// AcceptedCalls counts Code 0 answers.
	AcceptedCalls int64 `json:"accepted_calls"`
	// AcceptedReceipts counts accepted (action, user, conv, seq), repeats
	// included; DistinctReceipts counts them once each; DuplicateReceipts
	// is the difference.
	AcceptedReceipts  int64 `json:"accepted_receipts"`
	DistinctReceipts  int64 `json:"distinct_receipts"`
	DuplicateReceipts int64 `json:"duplicate_receipts"`
	// SeqsPerCall is a histogram: number of seqs -> accepted calls.
	SeqsPerCall map[int]int64 `json:"seqs_per_call"`
	// PeakPerSecond is, per rate-limit bucket (action name, or "shared"),
	// the most requests that reached the rate limiter in any 1 s span,
	// rejected ones included.
	PeakPerSecond map[string]int64 `json:"peak_per_second"`
}

// convKey names one (action, reader, conversation).
type convKey struct {
	action       string
	user, convID string
}

// receiptKey is compact so that a million receipts stay cheap: the
// conversation is an index into recorder.convs.
type receiptKey struct {
	conv uint32
	seq  uint64
}

type distinctEntry struct {
	key   receiptKey
	count uint32
}

type logEntry struct {
	distinct uint32 // index into recorder.distinct
	at       int64  // Unix nanoseconds
}

// recorder keeps receipts and counters; its methods are safe for concurrent
// use.
type recorder struct {
	mu        sync.Mutex
	convIndex map[convKey]uint32
	convs     []convKey
	index     map[receiptKey]uint32
	distinct  []distinctEntry
	log       []logEntry

	calls         int64
	byCode        map[int64]int64
	byHTTPStatus  map[int]int64
	dropped       int64
	acceptedCalls int64
	seqsPerCall   map[int]int64
}

func newRecorder() *recorder {
	r := &recorder{}
	r.resetLocked()
	return r
}

func (r *recorder) resetLocked() {
	r.convIndex = make(map[convKey]uint32)
	r.convs = nil
	r.index = make(map[receiptKey]uint32)
	r.distinct = nil
	r.log = nil
	r.calls, r.dropped, r.acceptedCalls = 0, 0, 0
	r.byCode = make(map[int64]int64)
	r.byHTTPStatus = make(map[int]int64)
	r.seqsPerCall = make(map[int]int64)
}

func (r *recorder) reset() {
	r.mu.Lock()
	r.resetLocked()
	r.mu.Unlock()
}

func (r *recorder) call() {
	r.mu.Lock()
	r.calls++
	r.mu.Unlock()
}

func (r *recorder) answered(code int64) {
	r.mu.Lock()
	r.byCode[code]++
	r.mu.Unlock()
}

func (r *recorder) httpStatus(status int) {
	r.mu.Lock()
	r.byHTTPStatus[status]++
	r.mu.Unlock()
}

func (r *recorder) drop() {
	r.mu.Lock()
	r.dropped++
	r.mu.Unlock()
}

// accept records one accepted call and its receipts.
func (r *recorder) accept(ck convKey, seqs []uint64, at time.Time) {
	t := at.UnixNano()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byCode[0]++
	r.acceptedCalls++
	r.seqsPerCall[len(seqs)]++
	ci, ok := r.convIndex[ck]
	if !ok {
		ci = uint32(len(r.convs))
		r.convs = append(r.convs, ck)
		r.convIndex[ck] = ci
	}
	for _, seq := range seqs {
		k := receiptKey{conv: ci, seq: seq}
		di, ok := r.index[k]
		if ok {
			r.distinct[di].count++
		} else {
			di = uint32(len(r.distinct))
			r.distinct = append(r.distinct, distinctEntry{key: k, count: 1})
			r.index[k] = di
		}
		r.log = append(r.log, logEntry{distinct: di, at: t})
	}
}

func (r *recorder) seen(ck convKey, seq uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	ci, ok := r.convIndex[ck]
	if !ok {
		return false
	}
	_, ok = r.index[receiptKey{conv: ci, seq: seq}]
	return ok
}

func (r *recorder) receipts() []Receipt {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Receipt, len(r.log))
	for i, e := range r.log {
		k := r.distinct[e.distinct].key
		c := r.convs[k.conv]
		out[i] = Receipt{Action: c.action, UserID: c.user, ConvID: c.convID, Seq: k.seq, At: time.Unix(0, e.at)}
	}
	return out
}

func (r *recorder) distinctReceipts() []DistinctReceipt {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]DistinctReceipt, len(r.distinct))
	for i, d := range r.distinct {
		c := r.convs[d.key.conv]
		out[i] = DistinctReceipt{Action: c.action, UserID: c.user, ConvID: c.convID, Seq: d.key.seq, Count: int64(d.count)}
	}
	return out
}

func (r *recorder) stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := Stats{
		Calls:             r.calls,
		ByCode:            make(map[int64]int64, len(r.byCode)),
		ByHTTPStatus:      make(map[int]int64, len(r.byHTTPStatus)),
		Dropped:           r.dropped,
		RateLimited:       r.byCode[CodeRateLimited],
		GroupRateLimited:  r.byCode[CodeGroupRateLimited],
		AcceptedCalls:     r.acceptedCalls,
		AcceptedReceipts:  int64(len(r.log)),
		DistinctReceipts:  int64(len(r.distinct)),
		DuplicateReceipts: int64(len(r.log) - len(r.distinct)),
		SeqsPerCall:       make(map[int]int64, len(r.seqsPerCall)),
	}
	for k, v := range r.byCode {
		s.ByCode[k] = v
	}
	for k, v := range r.byHTTPStatus {
		s.ByHTTPStatus[k] = v
	}
	for k, v := range r.seqsPerCall {
		s.SeqsPerCall[k] = v
	}
	return s
}
