package zimfake_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/receiptd/receiptd/zimapi"
	"github.com/receiptd/receiptd/zimapi/zimfake"
)

const (
	appID  = 777
	secret = "0123456789abcdef0123456789abcdef"
)

// clock is a settable server clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *clock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// fixture is a simulator on loopback with its clock.
type fixture struct {
	fake  *zimfake.Server
	srv   *httptest.Server
	clock *clock
}

// start serves a simulator with ZIM's defaults, the test credentials, and
// an injected clock, then applies modify.
func start(t testing.TB, modify func(*zimfake.Config)) *fixture {
	t.Helper()
	clk := newClock()
	cfg := zimfake.DefaultConfig()
	cfg.AppID, cfg.Secret, cfg.Now = appID, secret, clk.Now
	if modify != nil {
		modify(&cfg)
	}
	f := &fixture{fake: zimfake.New(cfg), clock: clk}
	f.srv = httptest.NewServer(f.fake.Handler())
	t.Cleanup(f.srv.Close)
	return f
}

// client returns a zimapi client of the fixture.
func (f *fixture) client(t testing.TB, modify func(*zimapi.Config)) *zimapi.Client {
	t.Helper()
	cfg := zimapi.Config{Endpoint: f.srv.URL, AppID: appID, ServerSecret: secret}
	if modify != nil {
		modify(&cfg)
	}
	c, err := zimapi.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// call is one hand-made request, for what the client would never send.
type call struct {
	method      string // default POST
	contentType string // default application/json; "-" for none
	query       url.Values
	body        string
}

// signed returns the public parameters of a correctly signed request at ts.
func signed(action string, ts time.Time) url.Values {
	nonce := zimapi.NewNonce()
	return url.Values{
		"Action":           {action},
		"AppId":            {strconv.Itoa(appID)},
		"SignatureNonce":   {nonce},
		"Timestamp":        {strconv.FormatInt(ts.Unix(), 10)},
		"SignatureVersion": {"2.0"},
		"Signature":        {zimapi.Sign(appID, nonce, secret, ts.Unix())},
	}
}

func groupBody(user, group string, seqs ...uint64) string {
	b, _ := json.Marshal(map[string]any{"FromUserId": user, "GroupId": group, "ConvMsgSeq": seqs})
	return string(b)
}

func c2cBody(user, peer string, seqs ...uint64) string {
	b, _ := json.Marshal(map[string]any{"FromUserId": user, "ConvId": peer, "ConvMsgSeq": seqs})
	return string(b)
}

// answer is a decoded simulator answer.
type answer struct {
	status        int
	Code          int64
	Message       string
	RequestID     string `json:"RequestId"`
	ReadTime      *int64
	DeliveredTime *int64
}

// do sends c and decodes the answer; non-JSON answers keep Code -1.
func (f *fixture) do(t testing.TB, c call) answer {
	t.Helper()
	method := c.method
	if method == "" {
		method = http.MethodPost
	}
	req, err := http.NewRequest(method, f.srv.URL+"/?"+c.query.Encode(), strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	switch c.contentType {
	case "":
		req.Header.Set("Content-Type", "application/json")
	case "-":
	default:
		req.Header.Set("Content-Type", c.contentType)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, Code: -1}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &a); err != nil {
			t.Fatalf("answer %q: %v", b, err)
		}
	}
	return a
}

// groupCall is a valid GroupReadReceipt at the fixture's current time.
func (f *fixture) groupCall(seqs ...uint64) call {
	return call{query: signed("GroupReadReceipt", f.clock.Now()), body: groupBody("alice", "team-42", seqs...)}
}
