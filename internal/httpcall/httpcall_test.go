package httpcall_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"go.uber.org/goleak"

	"github.com/receiptd/receiptd/internal/httpcall"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestDo(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
		_, _ = w.Write([]byte(r.Method + " " + r.URL.Path))
	}))
	defer srv.Close()
	if status, body := httpcall.Do(t, srv.Client(), http.MethodPost, srv.URL+"/x"); status != http.StatusTeapot || body != "POST /x" {
		t.Errorf("Do = %d %q, want 418 and the server's body %q", status, body, "POST /x")
	}
}
