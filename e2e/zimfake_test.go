package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/receiptd/receiptd/zimapi/zimfake"
)

// The credentials of the simulated ZIM app.
const (
	zimAppID  = 424242
	zimSecret = "e2e5ecre7e2e5ecre7e2e5ecre7e2e5e"
)

// zimOptions are the flags of receiptd zimfake that the scenarios vary.
type zimOptions struct {
	RPS                    float64 // per action; 0 = unlimited
	FailGroups, FailUsers  []string
	LatencyP50, LatencyP99 time.Duration
}

// zimFake is a running receiptd zimfake and a client of its admin API.
type zimFake struct {
	proc *process
	url  string // base URL, http://127.0.0.1:PORT/
	http *http.Client
}

func startZimfake(t *testing.T, o zimOptions) *zimFake {
	t.Helper()
	args := []string{"zimfake", "--listen", "127.0.0.1:0", "--app-id", strconv.Itoa(zimAppID),
		"--rps", strconv.FormatFloat(o.RPS, 'f', -1, 64)}
	if len(o.FailGroups) > 0 {
		args = append(args, "--fail-groups", strings.Join(o.FailGroups, ","))
	}
	if len(o.FailUsers) > 0 {
		args = append(args, "--fail-users", strings.Join(o.FailUsers, ","))
	}
	if o.LatencyP50 > 0 {
		args = append(args, "--latency-p50", o.LatencyP50.String(), "--latency-p99", o.LatencyP99.String())
	}
	// The secret goes through the environment, as in production, not argv.
	p := startProcess(t, "zimfake", childEnv(map[string]string{"RECEIPTD_ZIM_SERVER_SECRET": zimSecret}), args...)
	const prefix = "zimfake listening on "
	l, err := p.stdout.wait(30*time.Second, p.exited, func(l logLine) bool { return strings.HasPrefix(l.Raw, prefix) })
	if err != nil {
		t.Fatalf("zimfake: waiting for %q: %v", prefix, err)
	}
	url, _, _ := strings.Cut(strings.TrimPrefix(l.Raw, prefix), " ")
	if !strings.HasPrefix(url, "http://127.0.0.1:") || !strings.HasSuffix(url, "/") {
		t.Fatalf("zimfake: unexpected address line %q", l.Raw)
	}
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &zimFake{proc: p, url: url, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// stats returns zimfake's counters.
func (z *zimFake) stats(t *testing.T) zimfake.Stats {
	t.Helper()
	var st zimfake.Stats
	body := z.do(t, http.MethodGet, "stats")
	defer body.Close()
	if err := json.NewDecoder(body).Decode(&st); err != nil {
		t.Fatalf("zimfake stats: %v", err)
	}
	return st
}

// receipts returns every distinct receipt zimfake accepted, with how often.
func (z *zimFake) receipts(t *testing.T) []zimfake.DistinctReceipt {
	t.Helper()
	return jsonLines[zimfake.DistinctReceipt](t, z, "receipts")
}

// jsonLines decodes the JSON lines that admin path of zimfake serves.
func jsonLines[T any](t *testing.T, z *zimFake, path string) []T {
	t.Helper()
	body := z.do(t, http.MethodGet, path)
	defer body.Close()
	var out []T
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("zimfake %s: line %q: %v", path, sc.Text(), err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("zimfake %s: %v", path, err)
	}
	return out
}

// outage switches the simulated full outage (HTTP 503 to every call) on or
// off.
func (z *zimFake) outage(t *testing.T, on bool) {
	t.Helper()
	z.do(t, http.MethodPost, "outage?on="+strconv.FormatBool(on)).Close()
}

// setRPS changes the rate limit per action; 0 removes it.
func (z *zimFake) setRPS(t *testing.T, rps float64) {
	t.Helper()
	z.do(t, http.MethodPost, "rps?value="+strconv.FormatFloat(rps, 'f', -1, 64)).Close()
}

func (z *zimFake) do(t *testing.T, method, path string) io.ReadCloser {
	t.Helper()
	req, err := http.NewRequest(method, z.url+strings.TrimPrefix(zimfake.AdminPrefix, "/")+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := z.http.Do(req)
	if err != nil {
		t.Fatalf("zimfake %s %s: %v", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		resp.Body.Close()
		t.Fatalf("zimfake %s %s: %s: %s", method, path, resp.Status, b)
	}
	return resp.Body
}

// summarizeCalls is the account of zimfake's calls that the figures lines
// carry.
func summarizeCalls(st zimfake.Stats) string {
	seqs, calls := int64(0), int64(0)
	for n, c := range st.SeqsPerCall {
		seqs += int64(n) * c
		calls += c
	}
	perCall := 0.0
	if calls > 0 {
		perCall = float64(seqs) / float64(calls)
	}
	return fmt.Sprintf("calls=%d accepted_calls=%d seqs_per_call=%.2f rate_limited=%d", st.Calls, st.AcceptedCalls, perCall, st.RateLimited)
}
