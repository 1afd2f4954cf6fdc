package zimapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/receiptd/receiptd/internal/secret"
	"github.com/receiptd/receiptd/receipt"
	"github.com/receiptd/receiptd/zimapi"
)

const plainSecret = "9193cc662a4c0ec135ec71fb57194b38"

// verbs are the fmt verbs a log or error message could use.
var verbs = []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v"}

func TestSecretRedactsEverywhere(t *testing.T) {
	sec := secret.Secret(plainSecret)
	cfg := zimapi.Config{Endpoint: "https://zim-api.zego.im/", AppID: 12345, ServerSecret: sec}
	client, err := zimapi.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	badCfg := zimapi.Config{Endpoint: "ftp://user:" + plainSecret + "@host/?x=1", ServerSecret: sec, Timeout: -1}
	validateErr := badCfg.Validate()
	if validateErr == nil {
		t.Fatal("Validate accepted a bad config")
	}
	_, newErr := zimapi.NewClient(badCfg)
	// An outcome with an error: nothing listens on port 1 of localhost.
	refusing, err := zimapi.NewClient(zimapi.Config{Endpoint: "http://127.0.0.1:1/", AppID: 1, ServerSecret: sec})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(refusing.Close)
	out := refusing.Send(context.Background(), receipt.Request{Key: receipt.Key{Action: receipt.GroupRead, UserID: "u", ConvID: "g"}, Seqs: []uint64{1}})
	if out.Err == nil {
		t.Fatal("Send to a closed port returned no error")
	}

	values := map[string]any{
		"Secret":          sec,
		"*Secret":         &sec,
		"Config":          cfg,
		"*Config":         &cfg,
		"*Client":         client,
		"Client struct":   struct{ C *zimapi.Client }{client},
		"Validate error":  validateErr,
		"NewClient error": newErr,
		"Outcome":         out,
		"Outcome.Err":     out.Err,
	}
	for name, v := range values {
		for _, verb := range verbs {
			if s := fmt.Sprintf(verb, v, v); strings.Contains(s, plainSecret) {
				t.Errorf("%s formatted with %q reveals the secret: %s", name, verb, s)
			}
		}
	}

	for _, verb := range []string{"%v", "%+v", "%s"} {
		if got := fmt.Sprintf(verb, sec); got != secret.Redacted {
			t.Errorf("Sprintf(%q, secret) = %q, want %q", verb, got, secret.Redacted)
		}
	}
	// Other verbs apply to the redacted text, never to the secret's bytes.
	for _, verb := range []string{"%x", "%X", "%d", "%q", "%10.3s"} {
		if got := fmt.Sprintf(verb, sec); strings.Contains(strings.ToLower(got), fmt.Sprintf("%x", plainSecret)) ||
			strings.Contains(got, plainSecret) {
			t.Errorf("Sprintf(%q, secret) = %q reveals the secret", verb, got)
		}
	}
	if got, want := fmt.Sprintf("%#v", sec), `secret.Secret("[REDACTED]")`; got != want {
		t.Errorf("%%#v of secret = %s, want %s", got, want)
	}
	if got := sec.String(); got != secret.Redacted {
		t.Errorf("String() = %q", got)
	}
	if got := fmt.Sprint((*zimapi.Client)(nil)); got != "zimapi.Client(nil)" {
		t.Errorf("nil client prints %q", got)
	}
	if got := sec.Value(); got != plainSecret {
		t.Errorf("Value() = %q, want the secret", got)
	}
}

func TestSecretRedactsInEncoders(t *testing.T) {
	cfg := zimapi.Config{Endpoint: "https://zim-api.zego.im/", AppID: 12345, ServerSecret: plainSecret}

	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"ServerSecret":"[REDACTED]"`) || strings.Contains(string(b), plainSecret) {
		t.Errorf("json.Marshal(Config) = %s", b)
	}
	text, _ := cfg.ServerSecret.MarshalText()
	if string(text) != secret.Redacted {
		t.Errorf("MarshalText = %q", text)
	}

	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&buf, nil), slog.NewTextHandler(&buf, nil)} {
		slog.New(h).Info("config", "secret", cfg.ServerSecret, "cfg", cfg, "ptr", &cfg)
	}
	if strings.Contains(buf.String(), plainSecret) || !strings.Contains(buf.String(), secret.Redacted) {
		t.Errorf("slog output reveals the secret or lacks the redaction:\n%s", buf.String())
	}
}

func TestConfigValidate(t *testing.T) {
	valid := zimapi.Config{Endpoint: "https://zim-api-fra.zego.im/", AppID: 1, ServerSecret: "s"}
	tests := []struct {
		name   string
		modify func(*zimapi.Config)
		want   []string // substrings of the error, one per problem; none = valid
	}{
		{name: "valid regional https", modify: func(*zimapi.Config) {}},
		{name: "valid http without path", modify: func(c *zimapi.Config) { c.Endpoint = "http://127.0.0.1:8080" }},
		{name: "valid with timeout and limit", modify: func(c *zimapi.Config) { c.Timeout, c.MaxResponseBytes = 1, 1 }},
		{name: "empty", modify: func(c *zimapi.Config) { *c = zimapi.Config{} },
			want: []string{"endpoint is required", "app id is required", "server secret is required"}},
		{name: "endpoint not a URL", modify: func(c *zimapi.Config) { c.Endpoint = "http://[::1" },
			want: []string{"endpoint is not a URL"}},
		{name: "endpoint scheme", modify: func(c *zimapi.Config) { c.Endpoint = "ftp://zim-api.zego.im/" },
			want: []string{`scheme "ftp"`}},
		{name: "endpoint without host", modify: func(c *zimapi.Config) { c.Endpoint = "https:///path" },
			want: []string{"no host"}},
		{name: "endpoint with query and fragment", modify: func(c *zimapi.Config) { c.Endpoint = "https://h/?Action=x#f" },
			want: []string{"query", "fragment"}},
		{name: "endpoint with credentials", modify: func(c *zimapi.Config) { c.Endpoint = "https://me:pw@h/" },
			want: []string{"credentials"}},
		{name: "negative durations and sizes", modify: func(c *zimapi.Config) { c.Timeout, c.MaxResponseBytes = -1, -1 },
			want: []string{"timeout -1ns is negative", "max response bytes -1 is negative"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.modify(&cfg)
			err := cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				c, err := zimapi.NewClient(cfg)
				if err != nil {
					t.Fatalf("NewClient() = %v", err)
				}
				c.Close()
				return
			}
			if !errors.Is(err, zimapi.ErrInvalidConfig) {
				t.Fatalf("Validate() = %v, want ErrInvalidConfig", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, missing %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "pw") {
				t.Errorf("Validate() echoes endpoint credentials: %q", err)
			}
			c, err := zimapi.NewClient(cfg)
			if c != nil || !errors.Is(err, zimapi.ErrInvalidConfig) {
				t.Errorf("NewClient() = %v, %v; want nil, ErrInvalidConfig", c, err)
			}
		})
	}
}
