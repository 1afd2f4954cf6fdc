package zimfake_test

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/receiptd/receiptd/zimapi/zimfake"
)

// discard is a ResponseWriter that keeps nothing, so that the benchmark
// measures the simulator alone.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

// BenchmarkServeHTTP measures one accepted call of 10 new receipts, in
// memory: checks, signature verification, body decoding and recording.
func BenchmarkServeHTTP(b *testing.B) {
	fake := zimfake.New(zimfake.Config{AppID: appID, Secret: secret})
	target := "/?" + signed("GroupReadReceipt", time.Now()).Encode()
	w := &discard{h: http.Header{}}
	var sb strings.Builder
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		serveTenSeqs(fake, w, target, &sb, `{"FromUserId":"alice","GroupId":"team-42","ConvMsgSeq":[`, i*10+1)
		i++
	}
	b.StopTimer()
	if st := fake.Stats(); st.AcceptedCalls != int64(i) {
		b.Fatalf("accepted %d of %d calls: %+v", st.AcceptedCalls, i, st.ByCode)
	}
}

// BenchmarkMillionReceipts reports the memory the simulator holds per
// accepted receipt, for one million receipts in 1,000 conversations.
func BenchmarkMillionReceipts(b *testing.B) {
	target := "/?" + signed("GroupReadReceipt", time.Now()).Encode()
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		fake := zimfake.New(zimfake.Config{AppID: appID, Secret: secret})
		w := &discard{h: http.Header{}}
		var sb strings.Builder
		for call := range 100_000 {
			head := `{"FromUserId":"user-` + strconv.Itoa(call%1000) + `","GroupId":"group-` + strconv.Itoa(call%1000) + `","ConvMsgSeq":[`
			serveTenSeqs(fake, w, target, &sb, head, call*10+1)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if n := fake.Stats().DistinctReceipts; n != 1_000_000 {
			b.Fatalf("%d distinct receipts", n)
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/1e6, "heapMB/1M-receipts")
		runtime.KeepAlive(fake)
	}
}

// serveTenSeqs has fake serve one call to target whose body, built in sb,
// is head (the body up to its ConvMsgSeq array) and the ten seqs from first.
func serveTenSeqs(fake *zimfake.Server, w http.ResponseWriter, target string, sb *strings.Builder, head string, first int) {
	sb.Reset()
	sb.WriteString(head)
	for k := range 10 {
		if k > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(strconv.Itoa(first + k))
	}
	sb.WriteString("]}")
	req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(sb.String()))
	req.Header.Set("Content-Type", "application/json")
	fake.ServeHTTP(w, req)
}
