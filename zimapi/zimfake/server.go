package zimfake

import (
	"crypto/md5" //nolint:gosec // ZIM SignatureVersion 2.0 is defined as MD5.
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/receiptd/receiptd/zimapi"
)

// ZIM codes the simulator answers with.
const (
	CodeSuccess                     int64 = 0
	CodeBusy                        int64 = 1
	CodeInputParameter              int64 = 2
	CodeAppIDFormat                 int64 = 100000001
	CodeTimestampEmpty              int64 = 100000002
	CodeTimestampFormat             int64 = 100000003
	CodeSignatureExpired            int64 = 100000004
	CodeSignatureError              int64 = 100000005
	CodeActionEmpty                 int64 = 100000006
	CodeActionUnsupported           int64 = 100000007
	CodeSignatureNonceEmpty         int64 = 100000008
	CodeSignatureEmpty              int64 = 100000009
	CodeNoServerSecret              int64 = 100000010
	CodeBodyUnreadable              int64 = 100000012
	CodeSignatureVersionEmpty       int64 = 100000013
	CodeSignatureVersionUnsupported int64 = 100000014
	CodeInvalidParameter            int64 = 660000002
	CodeRateLimited                 int64 = 660300005
	CodeGroupRateLimited            int64 = 660300006
	CodeTooManySeqs                 int64 = 660400102
	CodeGroupReceiptFailed          int64 = 660400103
	CodeC2cReceiptFailed            int64 = 660400104
)

var messages = map[int64]string{
	CodeSuccess:                     "success",
	CodeBusy:                        "request failed: server busy, retry later",
	CodeInputParameter:              "input parameter error",
	CodeAppIDFormat:                 "AppId field format error",
	CodeTimestampEmpty:              "Timestamp field is empty",
	CodeTimestampFormat:             "Timestamp field format error",
	CodeSignatureExpired:            "signature expired",
	CodeSignatureError:              "signature error",
	CodeActionEmpty:                 "Action is empty",
	CodeActionUnsupported:           "unsupported Action",
	CodeSignatureNonceEmpty:         "SignatureNonce field is empty",
	CodeSignatureEmpty:              "Signature field is empty",
	CodeNoServerSecret:              "failed to get ServerSecret: unknown AppId",
	CodeBodyUnreadable:              "failed to read HTTP body",
	CodeSignatureVersionEmpty:       "SignatureVersion field is empty",
	CodeSignatureVersionUnsupported: "unsupported SignatureVersion",
	CodeInvalidParameter:            "invalid parameter",
	CodeRateLimited:                 "AppID-level rate limit exceeded",
	CodeGroupRateLimited:            "group-level rate limit exceeded",
	CodeTooManySeqs:                 "too many ConvMsgSeq: up to 10 per request",
	CodeGroupReceiptFailed:          "failed to set group receipts",
	CodeC2cReceiptFailed:            "failed to set one-to-one receipts",
}

// actions maps each receipt action to whether it addresses a group.
var actions = map[string]bool{
	"GroupReadReceipt":     true,
	"GroupDeliveryReceipt": true,
	"C2cReadReceipt":       false,
	"C2cDeliveryReceipt":   false,
}

const maxBodyBytes = 1 << 20

// Server simulates ZIM. It is an http.Handler, safe for concurrent use; no
// lock is held while an answer is delayed.
type Server struct {
	primary       uint32
	apps          map[uint32]string
	maxSeqs       int
	window        time.Duration
	failGroups    map[string]struct{}
	failUsers     map[string]struct{}
	transientRate float64
	dropRate      float64
	latency       func(*rand.Rand) time.Duration
	now           func() time.Time

	outage    atomic.Bool
	requestID atomic.Uint64

	rngMu sync.Mutex
	rng   *rand.Rand

	limits        *limiter
	groups        *groupLimits
	countRejected bool
	rec           *recorder
}

// New returns a Server for cfg, clamping invalid values (rates into [0, 1],
// negative sizes to their defaults); see [Config.Validate].
func New(cfg Config) *Server {
	s := &Server{
		primary:       cfg.AppID,
		apps:          make(map[uint32]string, len(cfg.Apps)+1),
		maxSeqs:       cfg.MaxSeqs,
		window:        cfg.TimestampWindow,
		failGroups:    set(cfg.FailGroups),
		failUsers:     set(cfg.FailUsers),
		transientRate: clamp01(cfg.TransientRate),
		dropRate:      clamp01(cfg.DropRate),
		latency:       cfg.Latency,
		now:           cfg.Now,
		rng:           rand.New(rand.NewPCG(uint64(cfg.Seed), 0x7a696d66616b65)),
		limits:        newLimiter(cfg.RPS, cfg.SharedBucket, cfg.CountRejected),
		groups:        newGroupLimits(),
		countRejected: cfg.CountRejected,
		rec:           newRecorder(),
	}
	for id, secret := range cfg.Apps {
		s.apps[id] = secret
	}
	if cfg.AppID != 0 {
		s.apps[cfg.AppID] = cfg.Secret
	}
	if s.maxSeqs <= 0 {
		s.maxSeqs = zimapi.MaxSeqsPerCall
	}
	if s.window <= 0 {
		s.window = 10 * time.Minute
	}
	if s.now == nil {
		s.now = time.Now
	}
	start := s.now()
	for group, rps := range cfg.GroupRPS {
		if group != "" && rps >= 0 {
			s.groups.setLimit(group, rps, 0, start)
		}
	}
	for _, group := range cfg.BusyGroups {
		s.groups.setBusy(group, max(cfg.BusyFor, 0), start)
	}
	return s
}

func set(ids []string) map[string]struct{} {
	m := make(map[string]struct{}, len(ids))
	for _, id := range ids {
		m[id] = struct{}{}
	}
	return m
}

func clamp01(v float64) float64 {
	if !(v > 0) {
		return 0
	}
	return min(v, 1)
}

// SetOutage switches a full outage on or off. During an outage every API
// request is answered HTTP 503 with a plain-text body, before any check.
func (s *Server) SetOutage(on bool) { s.outage.Store(on) }

// SetRPS changes the rate limit (see Config.RPS); windows in progress keep
// their history.
func (s *Server) SetRPS(rps float64) { s.limits.setRPS(rps) }

// SetGroupLimit limits group-action requests on group to rps in any 1 s
// span (0: none at all, the group is at its limit) for d from now (d <= 0:
// until changed); beyond it they are answered 660300006. A negative rps
// lifts the limit.
func (s *Server) SetGroupLimit(group string, rps float64, d time.Duration) {
	s.groups.setLimit(group, rps, d, s.now())
}

// SetBusy makes group-action requests on group answered Code 1 (server
// busy) for d from now; d == 0 means for good, d < 0 switches it off.
func (s *Server) SetBusy(group string, d time.Duration) {
	s.groups.setBusy(group, d, s.now())
}

// Receipts returns every accepted receipt in order of acceptance, repeats
// included.
func (s *Server) Receipts() []Receipt { return s.rec.receipts() }

// DistinctReceipts returns each accepted receipt once, in order of first
// acceptance, with the number of times it was accepted.
func (s *Server) DistinctReceipts() []DistinctReceipt { return s.rec.distinctReceipts() }

// Seen reports whether (action, user, conv, seq) was accepted at least once.
func (s *Server) Seen(action, user, conv string, seq uint64) bool {
	return s.rec.seen(convKey{action: action, user: user, convID: conv}, seq)
}

// Stats returns the counters since start or the last Reset.
func (s *Server) Stats() Stats {
	st := s.rec.stats()
	st.PeakPerSecond = s.limits.peaks(s.primary)
	return st
}

// Reset forgets all receipts, counters and rate-limit windows. The outage
// switch, the rate limit, group limits and busy groups stay as they are.
func (s *Server) Reset() {
	s.rec.reset()
	s.limits.reset()
}

// reply is the decision for one request.
type reply struct {
	code    int64
	message string // overrides the code's standard message
	status  int    // HTTP status of an answer without a ZIM Code
	drop    bool
	action  string
}

// fate holds the random draws for one request.
type fate struct {
	delay     time.Duration
	transient bool
	drop      bool
}

// ServeHTTP answers one ZIM API request; see the package documentation for
// the order of checks. A dropped connection uses http.ResponseController's
// Hijack, or panics with http.ErrAbortHandler (which net/http servers treat
// as a silent abort) when the ResponseWriter cannot be hijacked.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.rec.call()
	if s.outage.Load() {
		s.rec.httpStatus(http.StatusServiceUnavailable)
		http.Error(w, "zimfake: service unavailable (outage)", http.StatusServiceUnavailable)
		return
	}
	f := s.draw()
	now := s.now()
	rep := s.decide(r, f, now)
	switch {
	case rep.drop:
		s.rec.drop()
	case rep.status != 0:
		s.rec.httpStatus(rep.status)
	case rep.code != CodeSuccess:
		s.rec.answered(rep.code) // accept counted the successes
	}

	if f.delay > 0 {
		t := time.NewTimer(f.delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return // the client is gone; nobody reads the answer
		}
	}

	switch {
	case rep.drop:
		dropConnection(w)
	case rep.status != 0:
		if rep.status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", http.MethodPost)
		}
		http.Error(w, rep.message, rep.status)
	default:
		s.answer(w, rep, now)
	}
}

// draw takes the random decisions for one request under the rng lock.
func (s *Server) draw() fate {
	if s.latency == nil && s.transientRate == 0 && s.dropRate == 0 {
		return fate{}
	}
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	var f fate
	if s.latency != nil {
		f.delay = s.latency(s.rng)
	}
	if s.transientRate > 0 {
		f.transient = s.rng.Float64() < s.transientRate
	}
	if s.dropRate > 0 {
		f.drop = s.rng.Float64() < s.dropRate
	}
	return f
}

// decide runs the checks and, for an accepted request, records it.
func (s *Server) decide(r *http.Request, f fate, now time.Time) reply {
	if r.Method != http.MethodPost {
		return reply{status: http.StatusMethodNotAllowed, message: "zimfake: only POST is supported"}
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return reply{code: CodeInputParameter, message: "Content-Type must be application/json"}
	}
	q, _ := url.ParseQuery(r.URL.RawQuery) // malformed pairs are dropped and reported as missing below
	action := q.Get("Action")
	isGroup, known := actions[action]
	switch {
	case action == "":
		return reply{code: CodeActionEmpty}
	case !known:
		return reply{code: CodeActionUnsupported}
	}
	rep := reply{action: action}

	appIDText := q.Get("AppId")
	appID, err := strconv.ParseUint(appIDText, 10, 32)
	if err != nil {
		return rep.with(CodeAppIDFormat)
	}
	secret, ok := s.apps[uint32(appID)]
	if !ok {
		return rep.with(CodeNoServerSecret)
	}
	switch q.Get("SignatureVersion") {
	case "2.0":
	case "":
		return rep.with(CodeSignatureVersionEmpty)
	default:
		return rep.with(CodeSignatureVersionUnsupported)
	}
	nonce, signature := q.Get("SignatureNonce"), q.Get("Signature")
	if nonce == "" {
		return rep.with(CodeSignatureNonceEmpty)
	}
	if signature == "" {
		return rep.with(CodeSignatureEmpty)
	}
	tsText := q.Get("Timestamp")
	if tsText == "" {
		return rep.with(CodeTimestampEmpty)
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return rep.with(CodeTimestampFormat)
	}
	if skew := now.Sub(time.Unix(ts, 0)); skew > s.window || skew < -s.window {
		return rep.with(CodeSignatureExpired)
	}
	if !validSignature(appIDText, nonce, secret, tsText, signature) {
		return rep.with(CodeSignatureError)
	}

	if !s.limits.admit(uint32(appID), action, now) {
		return rep.with(CodeRateLimited)
	}

	b, code, msg := readBody(r, isGroup)
	if code != CodeSuccess {
		rep = rep.with(code)
		rep.message = msg
		return rep
	}
	if len(b.seqs) > s.maxSeqs {
		rep = rep.with(CodeTooManySeqs)
		rep.message = "too many ConvMsgSeq: up to " + strconv.Itoa(s.maxSeqs) + " per request"
		return rep
	}
	if isGroup && !s.groups.admit(b.conv, now, s.countRejected) {
		return rep.with(CodeGroupRateLimited)
	}
	if isGroup {
		if s.fails(s.failGroups, b.conv) || s.fails(s.failUsers, b.user) {
			return rep.with(CodeGroupReceiptFailed)
		}
	} else if s.fails(s.failUsers, b.conv) || s.fails(s.failUsers, b.user) {
		return rep.with(CodeC2cReceiptFailed)
	}
	if isGroup && s.groups.isBusy(b.conv, now) {
		return rep.with(CodeBusy)
	}
	if f.transient {
		return rep.with(CodeBusy)
	}
	if f.drop {
		rep.drop = true
		return rep
	}
	s.rec.accept(convKey{action: action, user: b.user, convID: b.conv}, b.seqs, now)
	return rep.with(CodeSuccess)
}

func (rep reply) with(code int64) reply {
	rep.code = code
	return rep
}

func (s *Server) fails(ids map[string]struct{}, id string) bool {
	_, ok := ids[id]
	return ok
}

// validSignature checks the signature against the parameters exactly as
// received, as a server must; only lower-case hex is accepted.
func validSignature(appID, nonce, secret, ts, got string) bool {
	h := md5.New() //nolint:gosec // mandated by the API.
	_, _ = io.WriteString(h, appID)
	_, _ = io.WriteString(h, nonce)
	_, _ = io.WriteString(h, secret)
	_, _ = io.WriteString(h, ts)
	var want [2 * md5.Size]byte
	hex.Encode(want[:], h.Sum(nil))
	return subtle.ConstantTimeCompare(want[:], []byte(got)) == 1
}

// body is a validated request body.
type body struct {
	user, conv string
	seqs       []uint64
}

type wireBody struct {
	FromUserID *string          `json:"FromUserId"`
	GroupID    *string          `json:"GroupId"`
	ConvID     *string          `json:"ConvId"`
	ConvMsgSeq *json.RawMessage `json:"ConvMsgSeq"`
}

// readBody reads and validates the body; it returns a non-zero code and a
// message naming the problem when the body is unusable.
func readBody(r *http.Request, isGroup bool) (body, int64, string) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return body{}, CodeBodyUnreadable, messages[CodeBodyUnreadable]
	}
	if len(raw) > maxBodyBytes {
		return body{}, CodeInvalidParameter, "invalid parameter: body over 1 MiB"
	}
	var w wireBody
	if err := json.Unmarshal(raw, &w); err != nil {
		return body{}, CodeInvalidParameter, "invalid parameter: body is not a JSON object of the expected shape"
	}
	var b body
	if w.FromUserID == nil || *w.FromUserID == "" {
		return b, CodeInvalidParameter, "invalid parameter: FromUserId is required"
	}
	b.user = *w.FromUserID
	conv, name := w.ConvID, "ConvId"
	if isGroup {
		conv, name = w.GroupID, "GroupId"
	}
	if conv == nil || *conv == "" {
		return b, CodeInvalidParameter, "invalid parameter: " + name + " is required"
	}
	b.conv = *conv
	var items []json.RawMessage
	if w.ConvMsgSeq == nil || json.Unmarshal(*w.ConvMsgSeq, &items) != nil || len(items) == 0 {
		return b, CodeInvalidParameter, "invalid parameter: ConvMsgSeq must be a non-empty array"
	}
	b.seqs = make([]uint64, len(items))
	for i, it := range items {
		seq, ok := parseSeq(it)
		if !ok {
			return b, CodeInvalidParameter, "invalid parameter: ConvMsgSeq values must be integers >= 1"
		}
		b.seqs[i] = seq
	}
	return b, CodeSuccess, ""
}

// parseSeq accepts a JSON integer literal >= 1 that fits in uint64.
func parseSeq(raw json.RawMessage) (uint64, bool) {
	for _, c := range raw {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(string(raw), 10, 64)
	return n, err == nil && n >= 1
}

// answer writes a ZIM JSON answer.
func (s *Server) answer(w http.ResponseWriter, rep reply, now time.Time) {
	msg := rep.message
	if msg == "" {
		msg = messages[rep.code]
	}
	b := make([]byte, 0, 160)
	b = append(b, `{"Code":`...)
	b = strconv.AppendInt(b, rep.code, 10)
	b = append(b, `,"Message":`...)
	b = strconv.AppendQuote(b, msg) // messages are ASCII, where Go and JSON quoting agree
	b = append(b, `,"RequestId":"zimfake-`...)
	b = strconv.AppendUint(b, s.requestID.Add(1), 10)
	b = append(b, '"')
	if rep.code == CodeSuccess {
		if rep.action == "GroupDeliveryReceipt" || rep.action == "C2cDeliveryReceipt" {
			b = append(b, `,"DeliveredTime":`...)
		} else {
			b = append(b, `,"ReadTime":`...)
		}
		b = strconv.AppendInt(b, now.UnixMilli(), 10)
	}
	b = append(b, '}')
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// dropConnection closes the connection without an answer.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}
