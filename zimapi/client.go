package zimapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/receiptd/receiptd/internal/secret"
	"github.com/receiptd/receiptd/receipt"
)

// Client sends receipt requests to ZIM. It is safe for concurrent use; one
// Client per process shares its connections. Printing a Client never shows
// the secret. Its Send makes it the worker's Sender.
type Client struct {
	base      string   // endpoint without query, then "?"
	endpoint  *url.URL // parsed once; each request copies it and adds its query
	host      string   // for error messages
	appID     uint32
	appIDText string
	cred      *credential // behind a pointer so that fmt prints an address
	timeout   time.Duration
	maxBody   int64
	rt        http.RoundTripper
	owned     *http.Transport // nil when the caller supplied Config.Transport

	now   func() time.Time
	nonce func() string
}

type credential struct{ secret secret.Secret }

// NewClient validates cfg, applies defaults and returns a Client. Its error
// wraps [ErrInvalidConfig] and lists every problem.
func NewClient(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	u, _ := parseEndpoint(cfg.Endpoint)      // validated above
	u.Host = strings.TrimSuffix(u.Host, ":") // as http.NewRequest drops an empty port
	c := &Client{
		base:      u.String() + "?",
		endpoint:  u,
		host:      u.Host,
		appID:     cfg.AppID,
		appIDText: strconv.FormatUint(uint64(cfg.AppID), 10),
		cred:      &credential{secret: cfg.ServerSecret},
		timeout:   cfg.Timeout,
		maxBody:   cfg.MaxResponseBytes,
		now:       time.Now,
		nonce:     NewNonce,
	}
	rt := cfg.Transport
	if rt == nil {
		c.owned = newTransport()
		rt = c.owned
	}
	// The round tripper is called directly rather than through an
	// http.Client: ZIM does not redirect, so a 3xx is a non-2xx answer and
	// the signed query is never resent elsewhere; and no cookie jar or
	// header copies for redirects are needed.
	c.rt = rt
	return c, nil
}

// newTransport returns the transport for one busy host: the default
// MaxIdleConnsPerHost of 2 would close and redial connections whenever more
// than two calls are in flight.
func newTransport() *http.Transport {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                  http.ProxyFromEnvironment,
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           64,
		MaxIdleConnsPerHost:    64,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    5 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
	}
}

// Close releases the idle connections of the client's own transport. A
// transport supplied through Config.Transport is left alone. Send may still
// be called afterwards; it dials anew.
func (c *Client) Close() {
	if c.owned != nil {
		c.owned.CloseIdleConnections()
	}
}

// Format prints the client's endpoint and AppId, never its secret.
func (c *Client) Format(f fmt.State, _ rune) {
	if c == nil {
		_, _ = io.WriteString(f, "zimapi.Client(nil)")
		return
	}
	_, _ = fmt.Fprintf(f, "zimapi.Client{Endpoint: %s, AppID: %d, ServerSecret: %s}",
		c.base[:len(c.base)-1], c.appID, secret.Redacted)
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// Send performs one signed call with a fresh nonce, timestamp and signature,
// bounded by the client's timeout and by ctx, and returns what it learned:
// a decoded ZIM answer classified by [Classify], or a failure that produced
// none (a transport error, a timeout, a non-2xx status, an oversized or
// unparsable body) with Err set. It never panics. When ctx ends first the
// result is receipt.ClassTransient with Err wrapping ctx.Err(); the caller
// is expected to check ctx itself. The client sends the seqs it is given;
// ZIM enforces its cap of 10 (660400102).
func (c *Client) Send(ctx context.Context, req receipt.Request) receipt.Result {
	start := time.Now()
	var sent atomic.Pointer[time.Time] // set on the transport's goroutine
	if ctx != nil {
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				now := time.Now()
				sent.Store(&now)
			}
		}})
	}
	out := c.send(ctx, req)
	out.Latency = time.Since(start)
	if t := sent.Load(); t != nil {
		out.Sent = *t
	}
	return out
}

func (c *Client) send(ctx context.Context, req receipt.Request) receipt.Result {
	action := req.Key.Action
	if ctx == nil {
		return receipt.Result{Class: receipt.ClassSystemic, Message: "invalid request",
			Err: fmt.Errorf("zim %s: %w: nil context", action, ErrInvalidRequest)}
	}
	if !action.Valid() {
		return receipt.Result{Class: receipt.ClassSystemic, Message: "invalid request",
			Err: fmt.Errorf("zim action %d: %w: unknown action", action, ErrInvalidRequest)}
	}

	body := appendBody(make([]byte, 0, 96+len(req.Key.UserID)+len(req.Key.ConvID)+12*len(req.Seqs)), req)
	ctx, cancel := context.WithTimeoutCause(ctx, c.timeout, ErrTimeout)
	defer cancel()
	// The URL is built, not parsed from text: the endpoint was parsed once
	// and the query is made of digits, hex and action names.
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "", bytes.NewReader(body))
	if err != nil {
		return c.failure(ctx, action, 0, err)
	}
	u := *c.endpoint
	u.RawQuery = c.signedQuery(action)
	hreq.URL, hreq.Host = &u, u.Host
	hreq.Header["Content-Type"] = []string{"application/json"}
	hreq.Header["Accept"] = []string{"application/json"}
	hreq.Header["User-Agent"] = []string{"receiptd"}

	resp, err := c.rt.RoundTrip(hreq)
	if err != nil {
		return c.failure(ctx, action, 0, err)
	}
	defer resp.Body.Close()

	if resp.ContentLength > c.maxBody {
		return c.failure(ctx, action, resp.StatusCode,
			fmt.Errorf("%w: %d bytes announced, limit %d", ErrResponseTooLarge, resp.ContentLength, c.maxBody))
	}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, c.maxBody+1)); err != nil {
		return c.failure(ctx, action, resp.StatusCode, err)
	}
	if int64(buf.Len()) > c.maxBody {
		return c.failure(ctx, action, resp.StatusCode,
			fmt.Errorf("%w: more than %d bytes", ErrResponseTooLarge, c.maxBody))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		err := fmt.Errorf("%w: %s", ErrHTTPStatus, resp.Status)
		if what := describeBody(resp.Header.Get("Content-Type"), buf.Bytes()); what != "" {
			err = fmt.Errorf("%w with %s", err, what)
		}
		return c.failure(ctx, action, resp.StatusCode, err)
	}
	if !looksLikeJSON(buf.Bytes()) {
		// A page from something in the way (a captive portal, a proxy):
		// say what it is rather than how JSON fails to parse it.
		what := describeBody(resp.Header.Get("Content-Type"), buf.Bytes())
		if what == "" {
			what = "an empty body"
		}
		return c.failure(ctx, action, resp.StatusCode,
			fmt.Errorf("%w: HTTP %d with %s", ErrUnparsableResponse, resp.StatusCode, what))
	}
	r, err := decodeResponse(buf.Bytes())
	if err != nil {
		return c.failure(ctx, action, resp.StatusCode, fmt.Errorf("%w: %w", ErrUnparsableResponse, err))
	}
	return receipt.Result{
		Class:      Classify(r.Code),
		Code:       r.Code,
		Message:    r.Message,
		RequestID:  r.RequestID,
		HTTPStatus: resp.StatusCode,
	}
}

// signedQuery returns the six public parameters. The values are digits,
// hex and known action names, so they need no escaping; the nonce is
// escaped in case a test seam supplies something else.
func (c *Client) signedQuery(a receipt.Action) string {
	ts := c.now().Unix()
	nonce := c.nonce()
	sig := Sign(c.appID, nonce, c.cred.secret, ts)
	b := make([]byte, 0, 160)
	b = append(b, "Action="...)
	b = append(b, a.String()...)
	b = append(b, "&AppId="...)
	b = append(b, c.appIDText...)
	b = append(b, "&SignatureNonce="...)
	b = append(b, url.QueryEscape(nonce)...)
	b = append(b, "&Timestamp="...)
	b = strconv.AppendInt(b, ts, 10)
	b = append(b, "&SignatureVersion="+SignatureVersion+"&Signature="...)
	b = append(b, sig...)
	return string(b)
}

// failure builds the result of a call that produced no ZIM answer:
// transient, except for an HTTP status that says otherwise
// ([ClassifyStatus]). ctx is the per-request context: when it ended, the
// cause (the caller's cancellation or the client's own timeout) replaces
// err, whose text is then only a consequence. *url.Error is unwrapped
// because its text contains the signed URL.
func (c *Client) failure(ctx context.Context, a receipt.Action, status int, err error) receipt.Result {
	class := receipt.ClassTransient
	msg := "transport error"
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, ErrTimeout):
		msg = "timeout"
		err = fmt.Errorf("%w (%s)", ErrTimeout, c.timeout)
	case ctx.Err() != nil:
		msg = "caller gave up: " + ctx.Err().Error()
		err = ctx.Err()
		if cause != err {
			err = fmt.Errorf("%w: %w", err, cause)
		}
	case errors.Is(err, ErrHTTPStatus):
		class = ClassifyStatus(status)
		msg = "HTTP " + strconv.Itoa(status)
	case errors.Is(err, ErrResponseTooLarge):
		msg = "response too large"
	case errors.Is(err, ErrUnparsableResponse):
		msg = "HTTP " + strconv.Itoa(status) + ": not a ZIM answer"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return receipt.Result{
		Class:      class,
		Message:    msg,
		HTTPStatus: status,
		Err:        fmt.Errorf("zim %s via %s: %w", a, c.host, err),
	}
}
