package zimapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/receiptd/receiptd/internal/secret"
)

// Defaults applied by [NewClient] to zero fields of [Config].
const (
	// DefaultEndpoint is ZIM's unified host. ZEGO asks callers to prefer
	// the regional host of their servers, e.g. https://zim-api-fra.zego.im/.
	DefaultEndpoint = "https://zim-api.zego.im/"
	// DefaultTimeout bounds one request, from dial to the last body byte.
	DefaultTimeout = 5 * time.Second
	// DefaultMaxResponseBytes bounds the response body read into memory.
	DefaultMaxResponseBytes int64 = 64 << 10
)

// The API's published limits, which receiptd's defaults and the simulator
// follow.
const (
	// RateLimitRPS is the requests per second ZEGO grants an app per
	// action, in any one-second window.
	RateLimitRPS = 20
	// MaxSeqsPerCall is the most seqs one receipt call may carry.
	MaxSeqsPerCall = 10
)

// Config configures a [Client]. The zero value is not usable: Endpoint,
// AppID and ServerSecret are required. Printing a Config never shows the
// secret.
type Config struct {
	// Endpoint is the base URL requests are POSTed to, e.g.
	// [DefaultEndpoint] or a regional host. https is required in
	// production; http is accepted for the simulator and tests. It must not
	// carry credentials, a query or a fragment.
	Endpoint string
	// AppID is the ZEGO AppId.
	AppID uint32
	// ServerSecret is the ZEGO ServerSecret; it only ever feeds the
	// signature.
	ServerSecret secret.Secret
	// Timeout bounds one request including reading the answer; zero means
	// [DefaultTimeout].
	Timeout time.Duration
	// MaxResponseBytes bounds the answer read into memory; a larger answer
	// is a transient failure. Zero means [DefaultMaxResponseBytes].
	MaxResponseBytes int64
	// Transport, when set, carries the requests and stays owned by the
	// caller. When nil the client builds a tuned *http.Transport of its
	// own (keep-alive, connection reuse) and [Client.Close] releases it.
	Transport http.RoundTripper
}

// Validate reports every problem of c at once (joined) wrapped in
// [ErrInvalidConfig], or nil. Messages never echo the secret or any
// credentials in the endpoint.
func (c Config) Validate() error {
	var problems []error
	if c.Endpoint == "" {
		problems = append(problems, errors.New("endpoint is required (e.g. "+DefaultEndpoint+")"))
	} else if _, err := parseEndpoint(c.Endpoint); err != nil {
		problems = append(problems, err)
	}
	if c.AppID == 0 {
		problems = append(problems, errors.New("app id is required"))
	}
	if c.ServerSecret == "" {
		problems = append(problems, errors.New("server secret is required"))
	}
	if c.Timeout < 0 {
		problems = append(problems, fmt.Errorf("timeout %s is negative", c.Timeout))
	}
	if c.MaxResponseBytes < 0 {
		problems = append(problems, fmt.Errorf("max response bytes %d is negative", c.MaxResponseBytes))
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(problems...))
}

// withDefaults returns c with zero optional fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = DefaultMaxResponseBytes
	}
	return c
}

// parseEndpoint checks raw and returns it without query, with path "/" when
// empty. Its errors never contain raw, which could hold credentials.
func parseEndpoint(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("endpoint is not a URL: %w", err)
	}
	var problems []error
	if u.Scheme != "https" && u.Scheme != "http" {
		problems = append(problems, fmt.Errorf("endpoint scheme %q is not https or http", u.Scheme))
	}
	if u.Host == "" {
		problems = append(problems, errors.New("endpoint has no host"))
	}
	if u.User != nil {
		problems = append(problems, errors.New("endpoint must not carry credentials"))
	}
	if u.RawQuery != "" || u.ForceQuery {
		problems = append(problems, errors.New("endpoint must not carry a query: the client sets the query parameters"))
	}
	if u.Fragment != "" {
		problems = append(problems, errors.New("endpoint must not carry a fragment"))
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	if u.Path == "" {
		u.Path = "/"
	}
	return u, nil
}
