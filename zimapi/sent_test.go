package zimapi_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/receiptd/receiptd/receipt"
)

// Sent is when the request left the client: after Send began, before the
// server saw it, and zero when it never left.
func TestSendReportsWhenTheRequestWasWritten(t *testing.T) {
	arrived := make(chan time.Time, 1)
	srv := startHandler(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		arrived <- time.Now()
		_, _ = io.WriteString(w, `{"Code":0,"Message":"success","RequestId":"r"}`)
	})
	start := time.Now()
	out := newClient(t, srv.URL, nil).Send(context.Background(), groupRead(1))
	if out.Class != receipt.ClassSuccess {
		t.Fatalf("Send = %+v, want success", out)
	}
	at := <-arrived
	if out.Sent.Before(start) || out.Sent.After(at) {
		t.Errorf("Sent %v, want between the start of Send (%v) and the server's arrival (%v)", out.Sent, start, at)
	}

	endpoint := srv.URL
	srv.Close()
	if out := newClient(t, endpoint, nil).Send(context.Background(), groupRead(1)); !out.Sent.IsZero() {
		t.Errorf("Sent = %v for a request that could not be written, want zero", out.Sent)
	}
}
