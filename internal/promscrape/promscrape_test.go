package promscrape_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/receiptd/receiptd/internal/promscrape"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const exposition = `# HELP receiptd_rate_share_ratio The pod's share of the limit.
# TYPE receiptd_rate_share_ratio gauge
receiptd_rate_share_ratio{action="C2CReadReceipt"} 0.25
receiptd_rate_share_ratio{action="GroupReadReceipt"} 0.5
receiptd_ready 1
`

func TestSeries(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(exposition))
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	for _, tt := range []struct {
		give string
		want float64
	}{
		{give: `receiptd_rate_share_ratio{action="GroupReadReceipt"}`, want: 0.5},
		{give: `receiptd_rate_share_ratio{action="C2CReadReceipt"}`, want: 0.25},
		{give: `receiptd_ready`, want: 1},
	} {
		got, err := promscrape.Series(context.Background(), addr, tt.give)
		if err != nil || got != tt.want {
			t.Errorf("Series(%s) = %v, %v; want %v", tt.give, got, err, tt.want)
		}
	}
	// A name that only prefixes an exposed one is not that series.
	if got, err := promscrape.Series(context.Background(), addr, "receiptd_rate_share"); err == nil {
		t.Errorf("Series(receiptd_rate_share) = %v, want an error: no such series", got)
	}
}

func TestFreeAddr(t *testing.T) {
	addr, err := promscrape.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Errorf("FreeAddr() = %q, want a loopback address", addr)
	}
}
