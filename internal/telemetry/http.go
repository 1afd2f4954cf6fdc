package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ReadyFunc reports whether one part of receiptd is ready, and if not, why.
type ReadyFunc func() (ok bool, reason string)

// Handler serves /metrics from g, /healthz (the process answers) and
// /readyz (every ReadyFunc is ready; else 503 with the reasons).
func Handler(g prometheus.Gatherer, ready ...ReadyFunc) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if reasons := notReady(ready); len(reasons) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			for _, why := range reasons {
				fmt.Fprintln(w, "not ready:", why)
			}
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}

// RegisterReadiness registers receiptd_ready, 1 when every ReadyFunc is
// ready: what /readyz answers, as a gauge an alert can follow. Pass the
// same ReadyFuncs as to Handler.
func RegisterReadiness(reg prometheus.Registerer, ready ...ReadyFunc) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "receiptd_ready",
		Help: "1 when /readyz answers 200: the consumer group is joined and dispatch is not paused.",
	}, func() float64 { return boolFloat(len(notReady(ready)) == 0) }))
}

// notReady returns the reasons of the ReadyFuncs that are not ready.
func notReady(ready []ReadyFunc) []string {
	var reasons []string
	for _, r := range ready {
		if ok, why := r(); !ok {
			reasons = append(reasons, why)
		}
	}
	return reasons
}

// Serve serves h on addr until ctx ends, then shuts down gracefully. The
// listener is opened before Serve returns its first error, so a busy port
// fails at start.
func Serve(ctx context.Context, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("http listener on %s: %w", addr, err)
	}
	return ServeListener(ctx, ln, h)
}

// ServeListener is Serve on an open listener.
func ServeListener(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdown)
	if serveErr := <-errc; !errors.Is(serveErr, http.ErrServerClosed) && err == nil {
		err = serveErr
	}
	return err
}
