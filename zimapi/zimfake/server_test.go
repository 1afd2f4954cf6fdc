package zimfake_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	cred "github.com/receiptd/receiptd/internal/secret"
	"github.com/receiptd/receiptd/receipt"
	"github.com/receiptd/receiptd/zimapi"
	"github.com/receiptd/receiptd/zimapi/zimfake"
)

func TestAuthenticationAndCommonParameters(t *testing.T) {
	f := start(t, nil)
	now := f.clock.Now()
	// change returns valid parameters with one change applied.
	change := func(mod func(q url.Values)) url.Values {
		q := signed("GroupReadReceipt", now)
		mod(q)
		return q
	}
	resign := func(q url.Values, s string) {
		ts, _ := strconv.ParseInt(q.Get("Timestamp"), 10, 64)
		q.Set("Signature", zimapi.Sign(appID, q.Get("SignatureNonce"), cred.Secret(s), ts))
	}
	tests := []struct {
		name  string
		query url.Values
		want  int64
	}{
		{"right secret", change(func(url.Values) {}), zimfake.CodeSuccess},
		{"wrong secret", change(func(q url.Values) { resign(q, "ffffffffffffffffffffffffffffffff") }), zimfake.CodeSignatureError},
		{"upper-case signature", change(func(q url.Values) { q.Set("Signature", strings.ToUpper(q.Get("Signature"))) }), zimfake.CodeSignatureError},
		{"signature of another nonce", change(func(q url.Values) { q.Set("SignatureNonce", "0000000000000000") }), zimfake.CodeSignatureError},
		{"missing Action", change(func(q url.Values) { q.Del("Action") }), zimfake.CodeActionEmpty},
		{"unsupported Action", change(func(q url.Values) { q.Set("Action", "SendGroupMessage") }), zimfake.CodeActionUnsupported},
		{"missing AppId", change(func(q url.Values) { q.Del("AppId") }), zimfake.CodeAppIDFormat},
		{"AppId not a number", change(func(q url.Values) { q.Set("AppId", "abc") }), zimfake.CodeAppIDFormat},
		{"AppId beyond uint32", change(func(q url.Values) { q.Set("AppId", "4294967296") }), zimfake.CodeAppIDFormat},
		{"unknown AppId", change(func(q url.Values) { q.Set("AppId", "778") }), zimfake.CodeNoServerSecret},
		{"missing SignatureVersion", change(func(q url.Values) { q.Del("SignatureVersion") }), zimfake.CodeSignatureVersionEmpty},
		{"SignatureVersion 1.0", change(func(q url.Values) { q.Set("SignatureVersion", "1.0") }), zimfake.CodeSignatureVersionUnsupported},
		{"missing SignatureNonce", change(func(q url.Values) { q.Del("SignatureNonce") }), zimfake.CodeSignatureNonceEmpty},
		{"missing Signature", change(func(q url.Values) { q.Del("Signature") }), zimfake.CodeSignatureEmpty},
		{"missing Timestamp", change(func(q url.Values) { q.Del("Timestamp") }), zimfake.CodeTimestampEmpty},
		{"Timestamp in milliseconds format", change(func(q url.Values) { q.Set("Timestamp", "1.5") }), zimfake.CodeTimestampFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := f.do(t, call{query: tt.query, body: groupBody("alice", "team-42", 1)})
			if a.status != http.StatusOK || a.Code != tt.want {
				t.Fatalf("answer %+v, want HTTP 200 Code %d", a, tt.want)
			}
			if a.RequestID == "" || a.Message == "" {
				t.Errorf("answer %+v lacks RequestId or Message", a)
			}
			if tt.want != zimfake.CodeSuccess && zimapi.Classify(a.Code) != receipt.ClassSystemic {
				t.Errorf("code %d classifies as %s; a bad common parameter is systemic", a.Code, zimapi.Classify(a.Code))
			}
		})
	}
	if got := f.fake.Stats().AcceptedReceipts; got != 1 {
		t.Errorf("accepted %d receipts, want 1 (the right-secret call)", got)
	}
}

func TestClientCredentials(t *testing.T) {
	f := start(t, func(c *zimfake.Config) { c.Apps = map[uint32]string{778: "other-secret"} })
	tests := []struct {
		name      string
		appID     uint32
		secret    cred.Secret
		wantCode  int64
		wantClass receipt.Class
	}{
		{"right secret", appID, secret, 0, receipt.ClassSuccess},
		{"second app", 778, "other-secret", 0, receipt.ClassSuccess},
		{"wrong secret", appID, "wrong-secret", 100000005, receipt.ClassSystemic},
		{"secret of another app", 778, secret, 100000005, receipt.ClassSystemic},
		{"unknown app", 779, secret, 100000010, receipt.ClassSystemic},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := f.client(t, func(c *zimapi.Config) { c.AppID, c.ServerSecret = tt.appID, tt.secret })
			out := c.Send(context.Background(), receipt.Request{Key: receipt.Key{Action: receipt.GroupRead, UserID: "u", ConvID: "g"}, Seqs: []uint64{1}})
			if out.Code != tt.wantCode || out.Class != tt.wantClass || out.Err != nil {
				t.Errorf("Send = %+v, want code %d class %s", out, tt.wantCode, tt.wantClass)
			}
		})
	}
}

func TestTimestampWindow(t *testing.T) {
	f := start(t, nil)
	tests := []struct {
		name string
		skew time.Duration // request time minus server time
		want int64
	}{
		{"on time", 0, zimfake.CodeSuccess},
		{"10 min behind", -10 * time.Minute, zimfake.CodeSuccess},
		{"10 min ahead", 10 * time.Minute, zimfake.CodeSuccess},
		{"stale by 10 min 1 s", -10*time.Minute - time.Second, zimfake.CodeSignatureExpired},
		{"ahead by 10 min 1 s", 10*time.Minute + time.Second, zimfake.CodeSignatureExpired},
		{"a day old", -24 * time.Hour, zimfake.CodeSignatureExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := signed("C2cReadReceipt", f.clock.Now().Add(tt.skew))
			if a := f.do(t, call{query: q, body: c2cBody("alice", "bob", 1)}); a.Code != tt.want {
				t.Errorf("answer %+v, want Code %d", a, tt.want)
			}
		})
	}

	// Through the client: a server clock 11 minutes ahead makes every
	// signature stale, which the client reports as resign.
	f.clock.Advance(11 * time.Minute)
	out := f.client(t, nil).Send(context.Background(), receipt.Request{Key: receipt.Key{Action: receipt.C2CRead, UserID: "a", ConvID: "b"}, Seqs: []uint64{1}})
	if out.Code != 100000004 || out.Class != receipt.ClassResign {
		t.Errorf("Send with a stale clock = %+v, want 100000004 resign", out)
	}
}

func TestMethodAndContentType(t *testing.T) {
	f := start(t, nil)
	q := signed("GroupReadReceipt", f.clock.Now())
	body := groupBody("alice", "team-42", 1)
	tests := []struct {
		name       string
		c          call
		wantStatus int
		wantCode   int64
	}{
		{"GET", call{method: http.MethodGet, query: q}, http.StatusMethodNotAllowed, -1},
		{"PUT", call{method: http.MethodPut, query: q, body: body}, http.StatusMethodNotAllowed, -1},
		{"no Content-Type", call{contentType: "-", query: q, body: body}, http.StatusOK, zimfake.CodeInputParameter},
		{"form Content-Type", call{contentType: "application/x-www-form-urlencoded", query: q, body: body}, http.StatusOK, zimfake.CodeInputParameter},
		{"JSON with charset", call{contentType: "application/json; charset=utf-8", query: q, body: body}, http.StatusOK, zimfake.CodeSuccess},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if a := f.do(t, tt.c); a.status != tt.wantStatus || a.Code != tt.wantCode {
				t.Errorf("answer %+v, want HTTP %d Code %d", a, tt.wantStatus, tt.wantCode)
			}
		})
	}
	st := f.fake.Stats()
	if st.ByHTTPStatus[http.StatusMethodNotAllowed] != 2 || st.ByCode[zimfake.CodeInputParameter] != 2 {
		t.Errorf("stats %+v, want two 405 and two Code 2", st)
	}
}

func TestBodyValidation(t *testing.T) {
	f := start(t, nil)
	tests := []struct {
		name, action, body string
		want               int64
	}{
		{"valid group", "GroupReadReceipt", `{"FromUserId":"a","GroupId":"g","ConvMsgSeq":[1,18446744073709551615]}`, zimfake.CodeSuccess},
		{"valid c2c with extra fields", "C2cDeliveryReceipt", `{"FromUserId":"a","ConvId":"b","ConvMsgSeq":[5],"Extra":true}`, zimfake.CodeSuccess},
		{"not JSON", "GroupReadReceipt", `FromUserId=a`, zimfake.CodeInvalidParameter},
		{"empty body", "GroupReadReceipt", ``, zimfake.CodeInvalidParameter},
		{"JSON null", "GroupReadReceipt", `null`, zimfake.CodeInvalidParameter},
		{"array", "GroupReadReceipt", `[{"FromUserId":"a"}]`, zimfake.CodeInvalidParameter},
		{"trailing data", "GroupReadReceipt", `{"FromUserId":"a","GroupId":"g","ConvMsgSeq":[1]}x`, zimfake.CodeInvalidParameter},
		{"missing FromUserId", "GroupReadReceipt", `{"GroupId":"g","ConvMsgSeq":[1]}`, zimfake.CodeInvalidParameter},
		{"empty FromUserId", "GroupReadReceipt", `{"FromUserId":"","GroupId":"g","ConvMsgSeq":[1]}`, zimfake.CodeInvalidParameter},
		{"FromUserId a number", "GroupReadReceipt", `{"FromUserId":1,"GroupId":"g","ConvMsgSeq":[1]}`, zimfake.CodeInvalidParameter},
		{"group without GroupId", "GroupReadReceipt", `{"FromUserId":"a","ConvId":"g","ConvMsgSeq":[1]}`, zimfake.CodeInvalidParameter},
		{"c2c without ConvId", "C2cReadReceipt", `{"FromUserId":"a","GroupId":"g","ConvMsgSeq":[1]}`, zimfake.CodeInvalidParameter},
		{"empty GroupId", "GroupDeliveryReceipt", `{"FromUserId":"a","GroupId":"","ConvMsgSeq":[1]}`, zimfake.CodeInvalidParameter},
		{"missing ConvMsgSeq", "GroupReadReceipt", `{"FromUserId":"a","GroupId":"g"}`, zimfake.CodeInvalidParameter},
		{"empty ConvMsgSeq", "GroupReadReceipt", `{"FromUserId":"a","GroupId":"g","ConvMsgSeq":[]}`, zimfake.CodeInvalidParameter},
		{"ConvMsgSeq not an array", "GroupReadReceipt", `{"FromUserId":"a","GroupId":"g","ConvMsgSeq":1}`, zimfake.CodeInvalidParameter},
		{"seq 0", "GroupReadReceipt", `{"FromUserId":"a","GroupId":"g","ConvMsgSeq":[1,0]}`, zimfake.CodeInvalidParameter},
		{"negative seq", "GroupReadReceipt", `{"FromUserId":"a","GroupId":"g","ConvMsgSeq":[-1]}`, zimfake.CodeInvalidParameter},
		{"fractional seq", "GroupReadReceipt", `{"FromUserId":"a","GroupId":"g","ConvMsgSeq":[1.5]}`, zimfake.CodeInvalidParameter},
		{"seq in exponent form", "GroupReadReceipt", `{"FromUserId":"a","GroupId":"g","ConvMsgSeq":[1e3]}`, zimfake.CodeInvalidParameter},
		{"seq as string", "GroupReadReceipt", `{"FromUserId":"a","GroupId":"g","ConvMsgSeq":["1"]}`, zimfake.CodeInvalidParameter},
		{"seq beyond uint64", "GroupReadReceipt", `{"FromUserId":"a","GroupId":"g","ConvMsgSeq":[18446744073709551616]}`, zimfake.CodeInvalidParameter},
		{"body over 1 MiB", "GroupReadReceipt", `{"FromUserId":"` + strings.Repeat("a", 1<<20) + `","GroupId":"g","ConvMsgSeq":[1]}`, zimfake.CodeInvalidParameter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := f.do(t, call{query: signed(tt.action, f.clock.Now()), body: tt.body})
			if a.Code != tt.want {
				t.Fatalf("answer %+v, want Code %d", a, tt.want)
			}
			if tt.want == zimfake.CodeInvalidParameter && zimapi.Classify(a.Code) != receipt.ClassDeadLetter {
				t.Errorf("a bad body must dead-letter, classifies as %s", zimapi.Classify(a.Code))
			}
		})
	}
	if got := f.fake.Stats().AcceptedCalls; got != 2 {
		t.Errorf("accepted %d calls, want the 2 valid ones", got)
	}
}

func TestSeqCap(t *testing.T) {
	seqs := func(n int) []uint64 {
		s := make([]uint64, n)
		for i := range s {
			s[i] = uint64(i + 1)
		}
		return s
	}
	tests := []struct {
		name    string
		maxSeqs int
		n       int
		want    int64
	}{
		{"10 of default 10", 0, 10, zimfake.CodeSuccess},
		{"11 of default 10", 0, 11, zimfake.CodeTooManySeqs},
		{"3 of 3", 3, 3, zimfake.CodeSuccess},
		{"4 of 3", 3, 4, zimfake.CodeTooManySeqs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := start(t, func(c *zimfake.Config) { c.MaxSeqs = tt.maxSeqs })
			out := f.client(t, nil).Send(context.Background(), receipt.Request{Key: receipt.Key{Action: receipt.GroupRead, UserID: "a", ConvID: "g"}, Seqs: seqs(tt.n)})
			if out.Code != tt.want {
				t.Fatalf("Send %d seqs = %+v, want Code %d", tt.n, out, tt.want)
			}
			wantAccepted := int64(0)
			if tt.want == zimfake.CodeSuccess {
				wantAccepted = int64(tt.n)
			}
			if got := f.fake.Stats().AcceptedReceipts; got != wantAccepted {
				t.Errorf("accepted %d receipts, want %d", got, wantAccepted)
			}
		})
	}
}

func TestFailureRules(t *testing.T) {
	f := start(t, func(c *zimfake.Config) {
		c.FailGroups = []string{"dissolved"}
		c.FailUsers = []string{"ghost"}
	})
	c := f.client(t, nil)
	tests := []struct {
		name   string
		action receipt.Action
		user   string
		conv   string
		want   int64
	}{
		{"group in FailGroups", receipt.GroupRead, "alice", "dissolved", 660400103},
		{"group delivery in FailGroups", receipt.GroupDelivered, "alice", "dissolved", 660400103},
		{"reader not a member", receipt.GroupRead, "ghost", "team", 660400103},
		{"c2c peer unknown", receipt.C2CRead, "alice", "ghost", 660400104},
		{"c2c reader unknown", receipt.C2CDelivered, "ghost", "bob", 660400104},
		{"c2c with a FailGroups id as peer", receipt.C2CRead, "alice", "dissolved", 0},
		{"healthy group", receipt.GroupRead, "alice", "team", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := c.Send(context.Background(), receipt.Request{Key: receipt.Key{Action: tt.action, UserID: tt.user, ConvID: tt.conv}, Seqs: []uint64{1}})
			if out.Code != tt.want || out.Err != nil {
				t.Fatalf("Send = %+v, want Code %d", out, tt.want)
			}
			if tt.want != 0 && out.Class != receipt.ClassDeadLetter {
				t.Errorf("class %s, want dead_letter", out.Class)
			}
			if seen := f.fake.Seen(tt.action.String(), tt.user, tt.conv, 1); seen != (tt.want == 0) {
				t.Errorf("Seen = %v after Code %d", seen, out.Code)
			}
		})
	}
}

func TestTransientRate(t *testing.T) {
	t.Run("all", func(t *testing.T) {
		f := start(t, func(c *zimfake.Config) { c.RPS, c.TransientRate = 0, 1 })
		c := f.client(t, nil)
		for i := range 20 {
			out := c.Send(context.Background(), receipt.Request{Key: receipt.Key{Action: receipt.Actions[i%4], UserID: "a", ConvID: "g"}, Seqs: []uint64{1}})
			if out.Code != 1 || out.Class != receipt.ClassTransient || out.Err != nil {
				t.Fatalf("Send = %+v, want Code 1 transient", out)
			}
		}
		if st := f.fake.Stats(); st.ByCode[1] != 20 || st.AcceptedReceipts != 0 {
			t.Errorf("stats %+v, want 20 Code 1 and nothing accepted", st)
		}
	})
	t.Run("a fraction, reproducible by seed", func(t *testing.T) {
		codes := func() []int64 {
			f := start(t, func(c *zimfake.Config) { c.RPS, c.TransientRate, c.Seed = 0, 0.3, 42 })
			c := f.client(t, nil)
			var got []int64
			for i := range 300 {
				out := c.Send(context.Background(), receipt.Request{Key: receipt.Key{Action: receipt.GroupRead, UserID: "a", ConvID: "g"}, Seqs: []uint64{uint64(i + 1)}})
				got = append(got, out.Code)
			}
			return got
		}
		first, second := codes(), codes()
		if !slices.Equal(first, second) {
			t.Errorf("the same seed gave different failures")
		}
		busy := 0
		for _, c := range first {
			if c == 1 {
				busy++
			}
		}
		// 300 draws at p=0.3: mean 90, standard deviation about 8.
		if busy < 60 || busy > 120 {
			t.Errorf("%d of 300 answers were Code 1, want about 90", busy)
		}
	})
}

func TestDropRate(t *testing.T) {
	f := start(t, func(c *zimfake.Config) { c.DropRate = 1 })
	c := f.client(t, nil)
	for range 3 {
		out := c.Send(context.Background(), receipt.Request{Key: receipt.Key{Action: receipt.C2CRead, UserID: "a", ConvID: "b"}, Seqs: []uint64{1}})
		if out.Class != receipt.ClassTransient || out.Err == nil || out.HTTPStatus != 0 || out.Code != 0 {
			t.Fatalf("Send = %+v, want a transient transport error", out)
		}
	}
	if st := f.fake.Stats(); st.Dropped != 3 || st.AcceptedReceipts != 0 || st.Calls != 3 {
		t.Errorf("stats %+v, want 3 calls dropped, nothing accepted", st)
	}
}

func TestDropWithoutHijackAborts(t *testing.T) {
	fake := zimfake.New(zimfake.Config{AppID: appID, Secret: secret, DropRate: 1})
	req := httptest.NewRequest(http.MethodPost, "/?"+signed("GroupReadReceipt", time.Now()).Encode(), strings.NewReader(groupBody("a", "g", 1)))
	req.Header.Set("Content-Type", "application/json")
	defer func() {
		if r := recover(); r != http.ErrAbortHandler {
			t.Errorf("recovered %v, want http.ErrAbortHandler", r)
		}
	}()
	fake.ServeHTTP(httptest.NewRecorder(), req)
}

func TestLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := zimfake.New(zimfake.Config{AppID: appID, Secret: secret, Latency: zimfake.FixedLatency(3 * time.Second)})
		req := httptest.NewRequest(http.MethodPost, "/?"+signed("GroupReadReceipt", time.Now()).Encode(), strings.NewReader(groupBody("a", "g", 1)))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		began := time.Now()
		fake.ServeHTTP(rec, req)
		if took := time.Since(began); took != 3*time.Second {
			t.Errorf("answer took %s, want 3s", took)
		}
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"Code":0`) {
			t.Errorf("answer %d %s", rec.Code, rec.Body)
		}
	})
}

func TestLatencyLongerThanClientTimeout(t *testing.T) {
	f := start(t, func(c *zimfake.Config) { c.Latency = zimfake.FixedLatency(time.Hour) })
	c := f.client(t, func(c *zimapi.Config) { c.Timeout = 50 * time.Millisecond })
	out := c.Send(context.Background(), receipt.Request{Key: receipt.Key{Action: receipt.GroupRead, UserID: "a", ConvID: "g"}, Seqs: []uint64{1}})
	if out.Class != receipt.ClassTransient || !errors.Is(out.Err, zimapi.ErrTimeout) {
		t.Fatalf("Send = %+v, want a timeout", out)
	}
	// ZIM decided before the delay: the receipt is set though the answer
	// never arrived, so a retry will be a duplicate.
	if !f.fake.Seen("GroupReadReceipt", "a", "g", 1) {
		t.Errorf("receipt not recorded")
	}
}

func TestLatencyDistributions(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const n = 20000
	draw := func(fn func(*rand.Rand) time.Duration) []time.Duration {
		d := make([]time.Duration, n)
		for i := range d {
			d[i] = fn(r)
		}
		slices.Sort(d)
		return d
	}

	u := draw(zimfake.UniformLatency(10*time.Millisecond, 20*time.Millisecond))
	if u[0] < 10*time.Millisecond || u[n-1] >= 20*time.Millisecond {
		t.Errorf("uniform range [%s, %s], want within [10ms, 20ms)", u[0], u[n-1])
	}
	if med := u[n/2]; med < 14*time.Millisecond || med > 16*time.Millisecond {
		t.Errorf("uniform median %s, want about 15ms", med)
	}

	ln := draw(zimfake.LogNormalLatency(20*time.Millisecond, 200*time.Millisecond))
	if p50 := ln[n/2]; p50 < 18*time.Millisecond || p50 > 22*time.Millisecond {
		t.Errorf("log-normal p50 %s, want about 20ms", p50)
	}
	if p99 := ln[n*99/100]; p99 < 170*time.Millisecond || p99 > 235*time.Millisecond {
		t.Errorf("log-normal p99 %s, want about 200ms", p99)
	}

	if d := zimfake.LogNormalLatency(5*time.Millisecond, time.Millisecond)(r); d != 5*time.Millisecond {
		t.Errorf("p99 below p50 gave %s, want the fixed p50", d)
	}
	if d := zimfake.UniformLatency(5*time.Millisecond, 5*time.Millisecond)(r); d != 5*time.Millisecond {
		t.Errorf("empty uniform range gave %s, want 5ms", d)
	}
}

func TestOutage(t *testing.T) {
	f := start(t, nil)
	c := f.client(t, nil)
	send := func() receipt.Result {
		return c.Send(context.Background(), receipt.Request{Key: receipt.Key{Action: receipt.GroupRead, UserID: "a", ConvID: "g"}, Seqs: []uint64{1}})
	}
	f.fake.SetOutage(true)
	out := send()
	if out.Class != receipt.ClassTransient || out.HTTPStatus != http.StatusServiceUnavailable || !errors.Is(out.Err, zimapi.ErrHTTPStatus) {
		t.Fatalf("Send during outage = %+v, want transient HTTP 503", out)
	}
	f.fake.SetOutage(false)
	if out := send(); out.Class != receipt.ClassSuccess {
		t.Fatalf("Send after outage = %+v, want success", out)
	}
	if st := f.fake.Stats(); st.ByHTTPStatus[503] != 1 || st.AcceptedCalls != 1 || st.Calls != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestReceiptsAndDuplicates(t *testing.T) {
	f := start(t, nil)
	c := f.client(t, nil)
	sends := []receipt.Request{
		{Key: receipt.Key{Action: receipt.GroupRead, UserID: "alice", ConvID: "team"}, Seqs: []uint64{1, 2, 3}},
		{Key: receipt.Key{Action: receipt.GroupRead, UserID: "alice", ConvID: "team"}, Seqs: []uint64{3, 4}},   // 3 again
		{Key: receipt.Key{Action: receipt.GroupDelivered, UserID: "alice", ConvID: "team"}, Seqs: []uint64{1}}, // other action
		{Key: receipt.Key{Action: receipt.C2CRead, UserID: "bob", ConvID: "alice"}, Seqs: []uint64{7, 7}},      // repeat within a call
	}
	for _, r := range sends {
		if out := c.Send(context.Background(), r); out.Class != receipt.ClassSuccess {
			t.Fatalf("Send(%+v) = %+v", r, out)
		}
	}
	type rcpt struct {
		action, user, conv string
		seq                uint64
	}
	var got []rcpt
	for _, r := range f.fake.Receipts() {
		if r.At.IsZero() {
			t.Errorf("receipt %+v without time", r)
		}
		got = append(got, rcpt{r.Action, r.UserID, r.ConvID, r.Seq})
	}
	want := []rcpt{
		{"GroupReadReceipt", "alice", "team", 1}, {"GroupReadReceipt", "alice", "team", 2}, {"GroupReadReceipt", "alice", "team", 3},
		{"GroupReadReceipt", "alice", "team", 3}, {"GroupReadReceipt", "alice", "team", 4},
		{"GroupDeliveryReceipt", "alice", "team", 1},
		{"C2cReadReceipt", "bob", "alice", 7}, {"C2cReadReceipt", "bob", "alice", 7},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Receipts() = %v\nwant %v", got, want)
	}

	st := f.fake.Stats()
	if st.AcceptedCalls != 4 || st.AcceptedReceipts != 8 || st.DistinctReceipts != 6 || st.DuplicateReceipts != 2 {
		t.Errorf("stats %+v, want 4 calls, 8 receipts, 6 distinct, 2 duplicates", st)
	}
	if want := map[int]int64{3: 1, 2: 2, 1: 1}; !mapsEqual(st.SeqsPerCall, want) {
		t.Errorf("SeqsPerCall = %v, want %v", st.SeqsPerCall, want)
	}
	var counts []int64
	for _, d := range f.fake.DistinctReceipts() {
		counts = append(counts, d.Count)
	}
	if want := []int64{1, 1, 2, 1, 1, 2}; !slices.Equal(counts, want) {
		t.Errorf("distinct counts %v, want %v", counts, want)
	}

	for _, tt := range []struct {
		action, user, conv string
		seq                uint64
		want               bool
	}{
		{"GroupReadReceipt", "alice", "team", 4, true},
		{"GroupReadReceipt", "alice", "team", 5, false},
		{"C2cReadReceipt", "alice", "team", 1, false},
		{"GroupReadReceipt", "bob", "team", 1, false},
		{"C2cReadReceipt", "bob", "alice", 7, true},
	} {
		if got := f.fake.Seen(tt.action, tt.user, tt.conv, tt.seq); got != tt.want {
			t.Errorf("Seen(%s, %s, %s, %d) = %v, want %v", tt.action, tt.user, tt.conv, tt.seq, got, tt.want)
		}
	}

	f.fake.Reset()
	if st := f.fake.Stats(); st.Calls != 0 || st.AcceptedReceipts != 0 || len(f.fake.Receipts()) != 0 || f.fake.Seen("GroupReadReceipt", "alice", "team", 1) {
		t.Errorf("after Reset: stats %+v", st)
	}
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestConcurrentUse(t *testing.T) {
	f := start(t, func(c *zimfake.Config) { c.RPS = 0 })
	c := f.client(t, nil)
	const workers, calls = 8, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range calls {
				// Every worker sends the same receipts: many duplicates.
				c.Send(context.Background(), receipt.Request{Key: receipt.Key{Action: receipt.GroupRead, UserID: "u", ConvID: "g"}, Seqs: []uint64{uint64(i + 1), uint64(w + 1000)}})
				f.fake.Stats()
				f.fake.Seen("GroupReadReceipt", "u", "g", uint64(i+1))
			}
		})
	}
	wg.Wait()
	st := f.fake.Stats()
	if st.AcceptedCalls != workers*calls || st.AcceptedReceipts != 2*workers*calls || st.DistinctReceipts != calls+workers {
		t.Errorf("stats %+v, want %d calls, %d receipts, %d distinct", st, workers*calls, 2*workers*calls, calls+workers)
	}
}

func TestConfigValidate(t *testing.T) {
	valid := zimfake.DefaultConfig()
	valid.AppID, valid.Secret = 1, "s"
	if err := valid.Validate(); err != nil {
		t.Fatalf("Validate(valid) = %v", err)
	}
	bad := zimfake.Config{RPS: -1, MaxSeqs: -1, TimestampWindow: -1, TransientRate: 2, DropRate: -0.5, Apps: map[uint32]string{0: "x"}}
	err := bad.Validate()
	if err == nil {
		t.Fatal("Validate(bad) = nil")
	}
	if err := (zimfake.Config{}).Validate(); err == nil || !strings.Contains(err.Error(), "no app configured") {
		t.Errorf("Validate(zero) = %v, want no app configured", err)
	}
	for _, want := range []string{"app 0", "rps -1", "max seqs -1", "timestamp window", "transient rate 2", "drop rate -0.5"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate(bad) = %q, missing %q", err, want)
		}
	}
}
