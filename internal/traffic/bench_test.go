package traffic_test

import (
	"testing"
	"time"

	"github.com/receiptd/receiptd/internal/traffic"
)

// BenchmarkNext measures one record of the default mix, the cost the
// throughput benchmark pays a million times.
func BenchmarkNext(b *testing.B) {
	g, err := traffic.New(traffic.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	now := epoch
	var bytes int64
	b.ReportAllocs()
	for b.Loop() {
		r := g.Next(now)
		bytes += int64(len(r.Value))
		now = now.Add(time.Microsecond)
	}
	b.ReportMetric(float64(bytes)/float64(b.N), "B/record")
}

// BenchmarkTallyAdd measures the bookkeeping of one record.
func BenchmarkTallyAdd(b *testing.B) {
	cfg := traffic.DefaultConfig()
	recs := generate(b, cfg, 1<<16)
	tally := traffic.NewTally(cfg)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tally.Add(recs[i%len(recs)])
		i++
	}
}
