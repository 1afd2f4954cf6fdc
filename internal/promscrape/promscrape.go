// Package promscrape reads a running receiptd's metrics from the outside,
// as Prometheus would: one series from its /metrics, and a free address for
// the HTTP listener that serves them. The benchmark and the end-to-end
// tests share it.
package promscrape

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// FreeAddr returns a loopback address whose port was free at the time of
// the call, for a worker's HTTP listener.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// Series reads the value of the series named series (metric name and
// labels exactly as exposed, e.g. `m{action="x"}`) from the /metrics of the
// listener at addr. It returns an error if the scrape fails or the series
// is not exposed.
func Series(ctx context.Context, addr, series string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("scrape %s: %w", addr, err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("scrape %s: %w", addr, err)
	}
	return 0, fmt.Errorf("scrape %s: no series %s", addr, series)
}
