package zimapi_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/receiptd/receiptd/receipt"
	"github.com/receiptd/receiptd/zimapi"
)

// memoryTransport answers every request in memory with a fixed ZIM answer,
// after consuming the body as a network transport would.
type memoryTransport struct{ answer []byte }

func (m memoryTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	_, _ = io.Copy(io.Discard, r.Body)
	_ = r.Body.Close()
	return &http.Response{
		StatusCode:    http.StatusOK,
		Status:        "200 OK",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{},
		Body:          io.NopCloser(bytes.NewReader(m.answer)),
		ContentLength: int64(len(m.answer)),
		Request:       r,
	}, nil
}

// BenchmarkSignedRequest measures one full call without the network: nonce,
// signature, URL and body encoding, request construction, answer decoding
// and classification.
func BenchmarkSignedRequest(b *testing.B) {
	c, err := zimapi.NewClient(zimapi.Config{
		Endpoint:     zimapi.DefaultEndpoint,
		AppID:        testAppID,
		ServerSecret: testSecret,
		Transport:    memoryTransport{answer: []byte(`{"Code":0,"Message":"success","RequestId":"7f9b7a5e-1c3a-4f1e","ReadTime":1764150000123}`)},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := receipt.Request{Key: receipt.Key{Action: receipt.GroupRead, UserID: "user-123456", ConvID: "group-987654"}, Seqs: []uint64{1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, 1010}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if out := c.Send(ctx, req); out.Class != receipt.ClassSuccess {
			b.Fatalf("Send = %+v", out)
		}
	}
}

func BenchmarkSign(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		zimapi.Sign(12345, "4fd24687296dd9f3", testSecret, 1615186943)
	}
}

// BenchmarkSendLoopback measures calls through a real loopback connection
// to the simulator, from parallel goroutines, as the worker makes them.
func BenchmarkSendLoopback(b *testing.B) {
	fake, srv := startFake(b, nil)
	c := newClient(b, srv.URL, nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := groupRead(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
		for pb.Next() {
			if out := c.Send(context.Background(), req); out.Class != receipt.ClassSuccess {
				b.Errorf("Send = %+v", out)
				return
			}
		}
	})
	b.StopTimer()
	if st := fake.Stats(); st.AcceptedCalls < int64(b.N) {
		b.Errorf("simulator accepted %d calls, want %d", st.AcceptedCalls, b.N)
	}
}
