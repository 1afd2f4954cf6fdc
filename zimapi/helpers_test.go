package zimapi_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/receiptd/receiptd/internal/secret"
	"github.com/receiptd/receiptd/receipt"
	"github.com/receiptd/receiptd/zimapi"
	"github.com/receiptd/receiptd/zimapi/zimfake"
)

const (
	testAppID  = 12345
	testSecret = secret.Secret(plainSecret)
)

// startFake serves a ZIM simulator accepting testAppID/testSecret.
func startFake(t testing.TB, modify func(*zimfake.Config)) (*zimfake.Server, *httptest.Server) {
	t.Helper()
	cfg := zimfake.DefaultConfig()
	cfg.AppID, cfg.Secret = testAppID, testSecret.Value()
	cfg.RPS = 0
	if modify != nil {
		modify(&cfg)
	}
	fake := zimfake.New(cfg)
	srv := httptest.NewServer(fake.Handler())
	t.Cleanup(srv.Close)
	return fake, srv
}

// startHandler serves h on loopback.
func startHandler(t testing.TB, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// newClient returns a client of endpoint, closed at cleanup (before the
// server, which was registered earlier).
func newClient(t testing.TB, endpoint string, modify func(*zimapi.Config)) *zimapi.Client {
	t.Helper()
	cfg := zimapi.Config{Endpoint: endpoint, AppID: testAppID, ServerSecret: testSecret}
	if modify != nil {
		modify(&cfg)
	}
	c, err := zimapi.NewClient(cfg)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

func groupRead(seqs ...uint64) receipt.Request {
	return receipt.Request{Key: receipt.Key{Action: receipt.GroupRead, UserID: "alice", ConvID: "team-42"}, Seqs: seqs}
}
