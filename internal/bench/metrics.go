package bench

import (
	"context"

	"github.com/receiptd/receiptd/internal/promscrape"
)

// freeAddr returns a loopback address with a port free at the time of the
// call, for a worker's HTTP listener.
func freeAddr() (string, error) { return promscrape.FreeAddr() }

// scrape reads the value of the series named series (metric name and
// labels exactly as exposed, e.g. `m{action="x"}`) from a worker's
// /metrics.
func scrape(ctx context.Context, addr, series string) (float64, error) {
	return promscrape.Series(ctx, addr, series)
}
