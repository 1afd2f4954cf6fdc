package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/receiptd/receiptd/internal/telemetry"
	"github.com/receiptd/receiptd/zimapi"
	"github.com/receiptd/receiptd/zimapi/zimfake"
)

func zimfakeCmd(ctx context.Context, args []string, s streams) int {
	fs := newFlags("zimfake", "zimfake [flags]", `
Serve the ZIM simulator: the four receipt actions with ZIM's signature check,
timestamp window, rate limit and 10-seq cap, failure injection by rule, and an
admin API under /_zimfake/ (stats, receipts, outage, rps, group-limit, busy,
reset). Point
zim.endpoint at it (http://127.0.0.1:PORT/). The app secret comes from
--secret or RECEIPTD_ZIM_SERVER_SECRET.`, s)
	listen := fs.String("listen", "127.0.0.1:8090", "address to serve on")
	appID := fs.Uint("app-id", 1234567, "accepted AppId")
	secret := fs.String("secret", "", "accepted ServerSecret (default: $RECEIPTD_ZIM_SERVER_SECRET)")
	rps := fs.Float64("rps", zimapi.RateLimitRPS, "rate limit per AppId per action, requests/s in any 1 s window; 0 = unlimited")
	shared := fs.Bool("shared-bucket", false, "the four actions share one rate limit")
	failGroups := fs.String("fail-groups", "", "comma-separated group ids answered 660400103")
	failUsers := fs.String("fail-users", "", "comma-separated user ids answered 660400104 (c2c) or 660400103 (group)")
	groupLimits := fs.String("group-limits", "", "comma-separated GROUP=RPS per-group limits, answered 660300006 beyond; RPS 0 refuses every call")
	busyGroups := fs.String("busy-groups", "", "comma-separated group ids whose group receipts are answered code 1 (busy)")
	busyFor := fs.Duration("busy-for", 0, "how long --busy-groups stay busy from the start; 0 = for good")
	transient := fs.Float64("transient-rate", 0, "fraction of requests answered code 1 (busy)")
	drop := fs.Float64("drop-rate", 0, "fraction of requests whose connection is dropped")
	p50 := fs.Duration("latency-p50", 0, "median answer delay (log-normal with --latency-p99)")
	p99 := fs.Duration("latency-p99", 0, "99th percentile answer delay")
	seed := fs.Int64("seed", 1, "seed of the random failures and delays")
	if code, ok := parse(fs, args, s); !ok {
		return code
	}
	if *secret == "" {
		*secret = os.Getenv("RECEIPTD_ZIM_SERVER_SECRET")
	}
	cfg := zimfake.DefaultConfig()
	cfg.AppID, cfg.Secret = uint32(*appID), *secret
	cfg.RPS, cfg.SharedBucket = *rps, *shared
	cfg.FailGroups, cfg.FailUsers = splitList(*failGroups), splitList(*failUsers)
	cfg.TransientRate, cfg.DropRate, cfg.Seed = *transient, *drop, *seed
	cfg.BusyGroups, cfg.BusyFor = splitList(*busyGroups), *busyFor
	limits, err := parseGroupLimits(*groupLimits)
	if err != nil {
		fmt.Fprintf(s.errOut, "receiptd zimfake: --group-limits: %v\n", err)
		return exitUsage
	}
	cfg.GroupRPS = limits
	if *p50 > 0 {
		cfg.Latency = zimfake.LogNormalLatency(*p50, max(*p99, *p50))
	}
	if *appID == 0 || *appID > 1<<32-1 {
		fmt.Fprintf(s.errOut, "receiptd zimfake: --app-id %d is not a uint32 above 0\n", *appID)
		return exitUsage
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(s.errOut, "receiptd zimfake: %v\n", err)
		return exitUsage
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(s.errOut, "receiptd zimfake: %v\n", err)
		return exitFailure
	}
	fake := zimfake.New(cfg)
	// The address line is what scripts and tests wait for.
	fmt.Fprintf(s.out, "zimfake listening on http://%s/ (app %d, %v req/s per action)\n", ln.Addr(), cfg.AppID, cfg.RPS)
	if err := telemetry.ServeListener(ctx, ln, fake.Handler()); err != nil {
		fmt.Fprintf(s.errOut, "receiptd zimfake: %v\n", err)
		return exitFailure
	}
	st := fake.Stats()
	fmt.Fprintf(s.out, "zimfake stopped at %s: %d calls, %d receipts accepted (%d distinct), %d rate-limited\n",
		time.Now().Format(time.RFC3339), st.Calls, st.AcceptedReceipts, st.DistinctReceipts, st.RateLimited)
	return exitOK
}

// parseGroupLimits reads GROUP=RPS pairs separated by commas.
func parseGroupLimits(s string) (map[string]float64, error) {
	out := make(map[string]float64)
	for _, pair := range splitList(s) {
		group, rate, ok := strings.Cut(pair, "=")
		rps, err := strconv.ParseFloat(strings.TrimSpace(rate), 64)
		if !ok || strings.TrimSpace(group) == "" || err != nil {
			return nil, fmt.Errorf("%q is not GROUP=RPS", pair)
		}
		out[strings.TrimSpace(group)] = rps
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
