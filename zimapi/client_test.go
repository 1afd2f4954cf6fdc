package zimapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/receiptd/receiptd/receipt"
	"github.com/receiptd/receiptd/zimapi"
)

func TestSendAllActionsAgainstSimulator(t *testing.T) {
	fake, srv := startFake(t, nil)
	c := newClient(t, srv.URL, nil)
	for _, a := range receipt.Actions {
		t.Run(a.String(), func(t *testing.T) {
			req := receipt.Request{Key: receipt.Key{Action: a, UserID: "alice", ConvID: "conv-" + a.String()}, Seqs: []uint64{3, 1, 2}}
			out := c.Send(context.Background(), req)
			if out.Class != receipt.ClassSuccess || out.Err != nil || out.Code != 0 || out.HTTPStatus != http.StatusOK {
				t.Fatalf("Send = %+v, want success", out)
			}
			if out.RequestID == "" || out.Message == "" || out.Latency <= 0 {
				t.Errorf("Send = %+v, want RequestID, Message and Latency", out)
			}
			for _, seq := range req.Seqs {
				if !fake.Seen(a.String(), "alice", req.Key.ConvID, seq) {
					t.Errorf("simulator did not record seq %d", seq)
				}
			}
		})
	}
	if got := fake.Stats().AcceptedReceipts; got != 12 {
		t.Errorf("simulator accepted %d receipts, want 12", got)
	}
}

// captured is one request as a server saw it.
type captured struct {
	method, path string
	header       http.Header
	query        url.Values
	body         []byte
}

// captureServer answers success and hands each request to the test.
func captureServer(t *testing.T) (string, <-chan captured) {
	t.Helper()
	ch := make(chan captured, 100)
	srv := startHandler(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- captured{method: r.Method, path: r.URL.Path, header: r.Header.Clone(), query: r.URL.Query(), body: b}
		_, _ = io.WriteString(w, `{"Code":0,"Message":"success","RequestId":"r1","ReadTime":1}`)
	})
	return srv.URL, ch
}

func TestSendWireFormat(t *testing.T) {
	endpoint, reqs := captureServer(t)
	c := newClient(t, endpoint+"/zim/", nil)
	// The clock and nonce of ZEGO's published vector: the signature on the
	// wire must be the published one.
	zimapi.SetClock(c, func() time.Time { return time.Unix(1615186943, 0) })
	zimapi.SetNonceSource(c, func() string { return "4fd24687296dd9f3" })

	tests := []struct {
		req      receipt.Request
		wantBody string
	}{
		{
			req:      receipt.Request{Key: receipt.Key{Action: receipt.GroupRead, UserID: "alice", ConvID: "team-42"}, Seqs: []uint64{101, 102}},
			wantBody: `{"FromUserId":"alice","GroupId":"team-42","ConvMsgSeq":[101,102]}`,
		},
		{
			req:      receipt.Request{Key: receipt.Key{Action: receipt.C2CRead, UserID: "bob", ConvID: "carol"}, Seqs: []uint64{1<<53 + 1, 18446744073709551615}},
			wantBody: `{"FromUserId":"bob","ConvId":"carol","ConvMsgSeq":[9007199254740993,18446744073709551615]}`,
		},
		{
			req:      receipt.Request{Key: receipt.Key{Action: receipt.GroupDelivered, UserID: "q\"b\\s\n\t\x01é😀", ConvID: "bad\xffutf8"}, Seqs: []uint64{7}},
			wantBody: `{"FromUserId":"q\"b\\s\n\t\u0001é😀","GroupId":"bad\ufffdutf8","ConvMsgSeq":[7]}`,
		},
		{
			req:      receipt.Request{Key: receipt.Key{Action: receipt.C2CDelivered, UserID: "", ConvID: ""}, Seqs: nil},
			wantBody: `{"FromUserId":"","ConvId":"","ConvMsgSeq":[]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.req.Key.Action.String(), func(t *testing.T) {
			if out := c.Send(context.Background(), tt.req); out.Class != receipt.ClassSuccess {
				t.Fatalf("Send = %+v", out)
			}
			got := <-reqs
			if got.method != http.MethodPost || got.path != "/zim/" {
				t.Errorf("request %s %s, want POST /zim/", got.method, got.path)
			}
			if ct := got.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if ua := got.header.Get("User-Agent"); ua != "receiptd" {
				t.Errorf("User-Agent = %q", ua)
			}
			wantQuery := url.Values{
				"Action":           {tt.req.Key.Action.String()},
				"AppId":            {"12345"},
				"SignatureNonce":   {"4fd24687296dd9f3"},
				"Timestamp":        {"1615186943"},
				"SignatureVersion": {"2.0"},
				"Signature":        {"43e5cfcca828314675f91b001390566a"},
			}
			if got.query.Encode() != wantQuery.Encode() {
				t.Errorf("query = %s\nwant    %s", got.query.Encode(), wantQuery.Encode())
			}
			if string(got.body) != tt.wantBody {
				t.Errorf("body = %s\nwant   %s", got.body, tt.wantBody)
			}
			if !json.Valid(got.body) {
				t.Errorf("body is not valid JSON: %s", got.body)
			}
		})
	}
}

func TestSendSignsEveryCallAfresh(t *testing.T) {
	endpoint, reqs := captureServer(t)
	c := newClient(t, endpoint, nil)
	var tick atomic.Int64
	base := time.Unix(1764150000, 0)
	zimapi.SetClock(c, func() time.Time { return base.Add(time.Duration(tick.Add(1)) * time.Second) })

	const calls = 50
	nonces := make(map[string]bool)
	signatures := make(map[string]bool)
	hex16 := regexp.MustCompile(`^[0-9a-f]{16}$`)
	for i := range calls {
		// The same request every time, as a retry would send it.
		if out := c.Send(context.Background(), groupRead(1)); out.Class != receipt.ClassSuccess {
			t.Fatalf("Send = %+v", out)
		}
		q := (<-reqs).query
		nonce, sig := q.Get("SignatureNonce"), q.Get("Signature")
		if !hex16.MatchString(nonce) {
			t.Errorf("nonce %q is not 16 lower-case hex characters", nonce)
		}
		if want := strconv.FormatInt(base.Unix()+int64(i)+1, 10); q.Get("Timestamp") != want {
			t.Errorf("call %d: Timestamp = %s, want %s", i, q.Get("Timestamp"), want)
		}
		ts, _ := strconv.ParseInt(q.Get("Timestamp"), 10, 64)
		if want := zimapi.Sign(testAppID, nonce, testSecret, ts); sig != want {
			t.Errorf("call %d: Signature = %s, want %s", i, sig, want)
		}
		nonces[nonce], signatures[sig] = true, true
	}
	if len(nonces) != calls || len(signatures) != calls {
		t.Errorf("%d calls used %d nonces and %d signatures, want all distinct", calls, len(nonces), len(signatures))
	}
}

// codeServer answers {"Code": <FromUserId>} so that one server can play
// every code of the table.
func codeServer(t *testing.T) string {
	t.Helper()
	return startHandler(t, func(w http.ResponseWriter, r *http.Request) {
		var body struct{ FromUserId string }
		_ = json.NewDecoder(r.Body).Decode(&body)
		fmt.Fprintf(w, `{"Code":%s,"Message":"message %s","RequestId":"rid-%s"}`, body.FromUserId, body.FromUserId, body.FromUserId)
	}).URL
}

func TestSendClassifiesEveryDocumentedCode(t *testing.T) {
	c := newClient(t, codeServer(t), nil)
	for _, row := range codeTable {
		for _, code := range row.codes {
			req := receipt.Request{Key: receipt.Key{Action: receipt.GroupRead, UserID: strconv.FormatInt(code, 10), ConvID: "g"}, Seqs: []uint64{1}}
			out := c.Send(context.Background(), req)
			if out.Err != nil || out.Class != row.class || out.Code != code {
				t.Errorf("code %d: Send = %+v, want class %s", code, out, row.class)
				continue
			}
			if s := strconv.FormatInt(code, 10); out.Message != "message "+s || out.RequestID != "rid-"+s {
				t.Errorf("code %d: Message %q RequestID %q not decoded", code, out.Message, out.RequestID)
			}
		}
	}
}

func TestSendDecodesTolerantly(t *testing.T) {
	tests := []struct {
		name string
		body string
		want receipt.Result
	}{
		{"extra fields", `{"Code":0,"Message":"ok","RequestId":"r","ReadTime":1764150000123,"Extra":{"a":[1,2]},"Data":null}`,
			receipt.Result{Class: receipt.ClassSuccess, Message: "ok", RequestID: "r"}},
		{"code in exponent form", `{"Code":6.60300005e8}`,
			receipt.Result{Class: receipt.ClassRateLimited, Code: 660300005}},
		{"huge ReadTime ignored", `{"Code":0,"ReadTime":1e30,"DeliveredTime":123456789012345678901234567890}`,
			receipt.Result{Class: receipt.ClassSuccess}},
		{"non-string RequestId kept as text", `{"Code":1,"RequestId":12345678901234567890}`,
			receipt.Result{Class: receipt.ClassTransient, Code: 1, RequestID: "12345678901234567890"}},
		{"DeliveredTime ignored", `{"Code":0,"DeliveredTime":42}`,
			receipt.Result{Class: receipt.ClassSuccess}},
		{"unknown code", `{"Code":123456,"Message":"new"}`,
			receipt.Result{Class: receipt.ClassUnknown, Code: 123456, Message: "new"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startHandler(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, tt.body) })
			out := newClient(t, srv.URL, nil).Send(context.Background(), groupRead(1))
			tt.want.HTTPStatus = http.StatusOK
			out.Latency, out.Sent = 0, time.Time{}
			if out != tt.want {
				t.Errorf("Send = %+v\nwant   %+v", out, tt.want)
			}
		})
	}
}

func TestSendTransportFailuresAreTransient(t *testing.T) {
	const limit = 1024
	pad := func(n int) string {
		return `{"Code":0,"Pad":"` + strings.Repeat("x", n-len(`{"Code":0,"Pad":""}`)) + `"}`
	}
	write := func(status int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(status)
			_, _ = io.WriteString(w, body)
		}
	}
	tests := []struct {
		name       string
		handler    http.HandlerFunc
		wantErr    error // nil: any transport error
		wantStatus int
	}{
		{"HTTP 500 with a success body", write(500, `{"Code":0}`), zimapi.ErrHTTPStatus, 500},
		{"HTTP 503", write(503, "down"), zimapi.ErrHTTPStatus, 503},
		{"oversize with Content-Length", write(200, pad(limit+1)), zimapi.ErrResponseTooLarge, 200},
		{"oversize chunked", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, pad(limit + 1)[:limit/2])
			w.(http.Flusher).Flush() // forces chunked encoding: no Content-Length
			_, _ = io.WriteString(w, pad(limit + 1)[limit/2:])
		}, zimapi.ErrResponseTooLarge, 200},
		{"not JSON", write(200, "<html>gateway</html>"), zimapi.ErrUnparsableResponse, 200},
		{"empty body", write(200, ""), zimapi.ErrUnparsableResponse, 200},
		{"204 no content", write(204, ""), zimapi.ErrUnparsableResponse, 204},
		{"empty object", write(200, "{}"), zimapi.ErrUnparsableResponse, 200},
		{"Code null", write(200, `{"Code":null,"Message":"x"}`), zimapi.ErrUnparsableResponse, 200},
		{"Code string", write(200, `{"Code":"0"}`), zimapi.ErrUnparsableResponse, 200},
		{"Code fraction", write(200, `{"Code":1.5}`), zimapi.ErrUnparsableResponse, 200},
		{"Code beyond int64", write(200, `{"Code":9223372036854775808}`), zimapi.ErrUnparsableResponse, 200},
		{"array", write(200, `[{"Code":0}]`), zimapi.ErrUnparsableResponse, 200},
		{"trailing data", write(200, `{"Code":0}{"Code":1}`), zimapi.ErrUnparsableResponse, 200},
		{"truncated", write(200, `{"Code":0,"Mess`), zimapi.ErrUnparsableResponse, 200},
		{"connection dropped", func(w http.ResponseWriter, _ *http.Request) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				_ = conn.Close()
			}
		}, nil, 0},
		{"garbage instead of HTTP", func(w http.ResponseWriter, _ *http.Request) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				_, _ = io.WriteString(conn, "SSH-2.0-nope\r\n\r\n")
				_ = conn.Close()
			}
		}, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startHandler(t, tt.handler)
			c := newClient(t, srv.URL, func(c *zimapi.Config) { c.MaxResponseBytes = limit })
			out := c.Send(context.Background(), groupRead(1))
			if out.Class != receipt.ClassTransient || out.Err == nil || out.Code != 0 || out.HTTPStatus != tt.wantStatus {
				t.Fatalf("Send = %+v, want transient with error and HTTP status %d", out, tt.wantStatus)
			}
			if tt.wantErr != nil && !errors.Is(out.Err, tt.wantErr) {
				t.Errorf("Err = %v, want %v", out.Err, tt.wantErr)
			}
			checkErrorText(t, out.Err, srv.URL)
		})
	}
}

// checkErrorText asserts that err names the action and the host and leaks
// neither the signed query nor the secret.
func checkErrorText(t *testing.T, err error, endpoint string) {
	t.Helper()
	u, _ := url.Parse(endpoint)
	msg := err.Error()
	if !strings.Contains(msg, receipt.GroupRead.String()) || !strings.Contains(msg, u.Host) {
		t.Errorf("error %q lacks the action or the host %s", msg, u.Host)
	}
	for _, leak := range []string{"Signature", "Nonce", "AppId=", "?", plainSecret} {
		if strings.Contains(msg, leak) {
			t.Errorf("error %q contains %q", msg, leak)
		}
	}
}

func TestSendAcceptsBodyOfExactlyTheLimit(t *testing.T) {
	body := `{"Code":0,"Pad":"` + strings.Repeat("x", 100) + `"}`
	srv := startHandler(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, body) })
	c := newClient(t, srv.URL, func(c *zimapi.Config) { c.MaxResponseBytes = int64(len(body)) })
	if out := c.Send(context.Background(), groupRead(1)); out.Class != receipt.ClassSuccess {
		t.Errorf("Send = %+v, want success", out)
	}
}

func TestSendConnectionRefused(t *testing.T) {
	srv := startHandler(t, func(http.ResponseWriter, *http.Request) {})
	endpoint := srv.URL
	srv.Close()
	out := newClient(t, endpoint, nil).Send(context.Background(), groupRead(1))
	if out.Class != receipt.ClassTransient || out.Err == nil || out.HTTPStatus != 0 || out.Message != "transport error" {
		t.Fatalf("Send = %+v, want transient transport error", out)
	}
	checkErrorText(t, out.Err, endpoint)
}

// blockingServer holds every request until its client gives up, and
// reports each arrival.
func blockingServer(t *testing.T) (string, <-chan struct{}) {
	t.Helper()
	arrived := make(chan struct{}, 10)
	stop := make(chan struct{})
	srv := startHandler(t, func(_ http.ResponseWriter, r *http.Request) {
		// The server notices a client hanging up only once the body is read.
		_, _ = io.Copy(io.Discard, r.Body)
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	})
	t.Cleanup(func() { close(stop) }) // runs before the server's Close
	return srv.URL, arrived
}

func TestSendTimeout(t *testing.T) {
	endpoint, arrived := blockingServer(t)
	c := newClient(t, endpoint, func(c *zimapi.Config) { c.Timeout = 50 * time.Millisecond })
	out := c.Send(context.Background(), groupRead(1))
	if out.Class != receipt.ClassTransient || !errors.Is(out.Err, zimapi.ErrTimeout) || out.Message != "timeout" {
		t.Fatalf("Send = %+v, want transient ErrTimeout", out)
	}
	if errors.Is(out.Err, context.Canceled) || errors.Is(out.Err, context.DeadlineExceeded) {
		t.Errorf("Err = %v looks like the caller's context ended", out.Err)
	}
	if out.Latency < 50*time.Millisecond {
		t.Errorf("Latency = %s, below the timeout", out.Latency)
	}
	if len(arrived) != 1 {
		t.Errorf("%d requests arrived, want 1", len(arrived))
	}
	checkErrorText(t, out.Err, endpoint)
}

func TestSendTimeoutWhileReadingBody(t *testing.T) {
	stop := make(chan struct{})
	srv := startHandler(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, `{"Code":0,`)
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	})
	t.Cleanup(func() { close(stop) })
	c := newClient(t, srv.URL, func(c *zimapi.Config) { c.Timeout = 50 * time.Millisecond })
	out := c.Send(context.Background(), groupRead(1))
	if out.Class != receipt.ClassTransient || !errors.Is(out.Err, zimapi.ErrTimeout) || out.HTTPStatus != 200 {
		t.Fatalf("Send = %+v, want transient ErrTimeout after the headers", out)
	}
}

func TestSendCallerCancellation(t *testing.T) {
	endpoint, arrived := blockingServer(t)
	c := newClient(t, endpoint, nil) // default timeout: 5 s
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan receipt.Result)
	go func() { done <- c.Send(ctx, groupRead(1)) }()
	<-arrived
	cancel()
	out := <-done
	if out.Class != receipt.ClassTransient || !errors.Is(out.Err, context.Canceled) || errors.Is(out.Err, zimapi.ErrTimeout) {
		t.Fatalf("Send = %+v, want transient context.Canceled", out)
	}
	checkErrorText(t, out.Err, endpoint)
}

func TestSendCallerContextAlreadyDone(t *testing.T) {
	endpoint, arrived := blockingServer(t)
	c := newClient(t, endpoint, nil)

	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	cause := errors.New("shutting down")
	cancelled, cancelCause := context.WithCancelCause(context.Background())
	cancelCause(cause)

	tests := []struct {
		name string
		ctx  context.Context
		want []error
	}{
		{"deadline passed", expired, []error{context.DeadlineExceeded}},
		{"cancelled with cause", cancelled, []error{context.Canceled, cause}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := c.Send(tt.ctx, groupRead(1))
			if out.Class != receipt.ClassTransient || errors.Is(out.Err, zimapi.ErrTimeout) {
				t.Fatalf("Send = %+v, want transient caller error", out)
			}
			for _, w := range tt.want {
				if !errors.Is(out.Err, w) {
					t.Errorf("Err = %v, want it to wrap %v", out.Err, w)
				}
			}
		})
	}
	if len(arrived) != 0 {
		t.Errorf("%d requests reached the server with a dead context", len(arrived))
	}
}

func TestSendRefusesWhatItCannotSend(t *testing.T) {
	endpoint, reqs := captureServer(t)
	c := newClient(t, endpoint, nil)
	tests := []struct {
		name string
		ctx  context.Context
		req  receipt.Request
	}{
		{"unknown action", context.Background(), receipt.Request{Key: receipt.Key{Action: receipt.Action(99), UserID: "u", ConvID: "g"}, Seqs: []uint64{1}}},
		{"empty action", context.Background(), receipt.Request{Key: receipt.Key{UserID: "u", ConvID: "g"}, Seqs: []uint64{1}}},
		{"nil context", nil, groupRead(1)}, //nolint:staticcheck // the nil context is the point.
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := c.Send(tt.ctx, tt.req)
			if out.Class != receipt.ClassSystemic || !errors.Is(out.Err, zimapi.ErrInvalidRequest) {
				t.Errorf("Send = %+v, want systemic ErrInvalidRequest", out)
			}
		})
	}
	if len(reqs) != 0 {
		t.Errorf("%d invalid requests reached the server", len(reqs))
	}
}

func TestSendLeavesSeqCapToServer(t *testing.T) {
	fake, srv := startFake(t, nil)
	c := newClient(t, srv.URL, nil)
	out := c.Send(context.Background(), groupRead(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11))
	if out.Class != receipt.ClassTooMany || out.Code != 660400102 {
		t.Fatalf("Send with 11 seqs = %+v, want too_many 660400102", out)
	}
	if n := fake.Stats().AcceptedReceipts; n != 0 {
		t.Errorf("simulator accepted %d receipts", n)
	}
}

func TestSendSpecialIDsReachSimulatorIntact(t *testing.T) {
	fake, srv := startFake(t, nil)
	c := newClient(t, srv.URL, nil)
	ids := []string{`quo"te`, `back\slash`, "new\nline\ttab\x01ctl", "ünïcödé 😀", "<script>&amp;", "   "}
	for _, id := range ids {
		for _, a := range []receipt.Action{receipt.GroupRead, receipt.C2CRead} {
			out := c.Send(context.Background(), receipt.Request{Key: receipt.Key{Action: a, UserID: id, ConvID: id + "-conv"}, Seqs: []uint64{9}})
			if out.Class != receipt.ClassSuccess {
				t.Fatalf("%s %q: Send = %+v", a, id, out)
			}
			if !fake.Seen(a.String(), id, id+"-conv", 9) {
				t.Errorf("%s %q: simulator recorded %+v", a, id, fake.Receipts())
			}
		}
	}
}

func TestSendReusesConnections(t *testing.T) {
	var newConns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"Code":0}`)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			newConns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL, nil)
	for range 20 {
		if out := c.Send(context.Background(), groupRead(1)); out.Class != receipt.ClassSuccess {
			t.Fatalf("Send = %+v", out)
		}
	}
	if n := newConns.Load(); n != 1 {
		t.Errorf("20 sequential calls opened %d connections, want 1", n)
	}

	// Concurrent calls keep their connections too: the default transport
	// would keep only 2 idle per host and redial the rest every round.
	const workers = 8
	for range 5 {
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() { c.Send(context.Background(), groupRead(1)) })
		}
		wg.Wait()
	}
	if n := newConns.Load(); n > workers+1 {
		t.Errorf("5 rounds of %d concurrent calls opened %d connections, want at most %d", workers, n, workers+1)
	}
}

// countingTransport is a caller-owned RoundTripper.
type countingTransport struct {
	rt          http.RoundTripper
	trips       atomic.Int64
	closedIdles atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.trips.Add(1)
	return c.rt.RoundTrip(r)
}

func (c *countingTransport) CloseIdleConnections() { c.closedIdles.Add(1) }

func TestSendUsesCallerTransportAndLeavesItOpen(t *testing.T) {
	_, srv := startFake(t, nil)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	ct := &countingTransport{rt: tr}
	c := newClient(t, srv.URL, func(c *zimapi.Config) { c.Transport = ct })
	if out := c.Send(context.Background(), groupRead(1)); out.Class != receipt.ClassSuccess {
		t.Fatalf("Send = %+v", out)
	}
	c.Close()
	if ct.trips.Load() != 1 || ct.closedIdles.Load() != 0 {
		t.Errorf("trips=%d closeIdle=%d, want 1 and 0", ct.trips.Load(), ct.closedIdles.Load())
	}
}

func TestSendConcurrentAgainstSimulator(t *testing.T) {
	fake, srv := startFake(t, nil)
	c := newClient(t, srv.URL, nil)
	const workers, perWorker = 8, 25
	var wg sync.WaitGroup
	var failures atomic.Int64
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				req := receipt.Request{Key: receipt.Key{Action: receipt.Actions[w%4], UserID: "u" + strconv.Itoa(w), ConvID: "c"}, Seqs: []uint64{uint64(i + 1)}}
				if out := c.Send(context.Background(), req); out.Class != receipt.ClassSuccess {
					failures.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if failures.Load() != 0 {
		t.Fatalf("%d concurrent calls failed", failures.Load())
	}
	st := fake.Stats()
	if st.AcceptedReceipts != workers*perWorker || st.DistinctReceipts != workers*perWorker {
		t.Errorf("simulator stats %+v, want %d distinct accepted receipts", st, workers*perWorker)
	}
}

// urlErrorTransport fails the way an http.Client would, with the signed URL
// in its error text.
type urlErrorTransport struct{}

func (urlErrorTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	_ = r.Body.Close()
	return nil, &url.Error{Op: "Post", URL: r.URL.String(), Err: io.ErrUnexpectedEOF}
}

func TestSendStripsSignedURLFromErrors(t *testing.T) {
	c := newClient(t, "https://zim-api.zego.im/", func(c *zimapi.Config) { c.Transport = urlErrorTransport{} })
	out := c.Send(context.Background(), groupRead(1))
	if out.Class != receipt.ClassTransient || !errors.Is(out.Err, io.ErrUnexpectedEOF) {
		t.Fatalf("Send = %+v, want transient wrapping the transport's error", out)
	}
	checkErrorText(t, out.Err, "https://zim-api.zego.im/")
}

// TestSendNonJSONAnswers: an answer that is not a ZIM answer is classified
// by its HTTP status and reported with that status and what the body was
// (an HTML page's title), never as a JSON syntax error.
func TestSendNonJSONAnswers(t *testing.T) {
	page := func(status int, title string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(status)
			fmt.Fprintf(w, "<!DOCTYPE html>\n<html><head>\n<title>%s</title></head><body><h1>nope</h1></body></html>", title)
		}
	}
	tests := []struct {
		name      string
		handler   http.HandlerFunc
		wantClass receipt.Class
		wantErr   error
		status    int
		wantText  []string // in Message or Err
	}{
		{"403 page from a proxy", page(403, "403 Forbidden"), receipt.ClassSystemic, zimapi.ErrHTTPStatus, 403,
			[]string{"HTTP 403", "403 Forbidden", "text/html"}},
		{"401 without a body", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(401) }, receipt.ClassSystemic, zimapi.ErrHTTPStatus, 401,
			[]string{"HTTP 401"}},
		{"404 wrong endpoint", page(404, "Not Found"), receipt.ClassSystemic, zimapi.ErrHTTPStatus, 404,
			[]string{"HTTP 404", "Not Found"}},
		{"redirect not followed", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		}, receipt.ClassSystemic, zimapi.ErrHTTPStatus, 302, []string{"HTTP 302"}},
		{"429 from a gateway", page(429, "Too Many Requests"), receipt.ClassRateLimited, zimapi.ErrHTTPStatus, 429,
			[]string{"HTTP 429", "Too Many Requests"}},
		{"502 page", page(502, "502 Bad Gateway"), receipt.ClassTransient, zimapi.ErrHTTPStatus, 502,
			[]string{"HTTP 502", "502 Bad Gateway"}},
		{"200 with a captive portal's page", page(200, "Sign in to the network"), receipt.ClassTransient, zimapi.ErrUnparsableResponse, 200,
			[]string{"HTTP 200", "Sign in to the network", "text/html"}},
		{"200 with plain text", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, "upstream connect error")
		}, receipt.ClassTransient, zimapi.ErrUnparsableResponse, 200, []string{"HTTP 200", "upstream connect error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startHandler(t, tt.handler)
			out := newClient(t, srv.URL, nil).Send(context.Background(), groupRead(1))
			if out.Class != tt.wantClass || out.HTTPStatus != tt.status || out.Code != 0 || !errors.Is(out.Err, tt.wantErr) {
				t.Fatalf("Send = %+v, want class %s, status %d, error %v", out, tt.wantClass, tt.status, tt.wantErr)
			}
			text := out.Message + " | " + out.Err.Error()
			for _, want := range tt.wantText {
				if !strings.Contains(text, want) {
					t.Errorf("message and error %q lack %q", text, want)
				}
			}
			for _, json := range []string{"invalid character", "looking for beginning"} {
				if strings.Contains(text, json) {
					t.Errorf("message and error %q report a JSON syntax error for a page", text)
				}
			}
			checkErrorText(t, out.Err, srv.URL)
		})
	}
}
