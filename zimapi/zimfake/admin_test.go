package zimfake_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/receiptd/receiptd/internal/httpcall"
	"github.com/receiptd/receiptd/zimapi/zimfake"
)

// admin sends an admin request and returns status and body.
func (f *fixture) admin(t *testing.T, method, path string) (int, string) {
	t.Helper()
	return httpcall.Do(t, f.srv.Client(), method, f.srv.URL+path)
}

// post sends an admin POST and fails the test unless it answers 200.
func (f *fixture) post(t *testing.T, path string) {
	t.Helper()
	if status, body := f.admin(t, http.MethodPost, path); status != 200 {
		t.Fatalf("POST %s: %d %s", path, status, body)
	}
}

// getLines sends an admin GET whose answer is one JSON value a line, and
// returns the values.
func getLines[T any](t *testing.T, f *fixture, path string) []T {
	t.Helper()
	status, body := f.admin(t, http.MethodGet, path)
	if status != 200 {
		t.Fatalf("GET %s: %d %s", path, status, body)
	}
	var got []T
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("GET %s: line %q: %v", path, sc.Text(), err)
		}
		got = append(got, v)
	}
	return got
}

func TestAdminAPI(t *testing.T) {
	f := start(t, nil)
	for _, seqs := range [][]uint64{{1, 2}, {2, 3}} {
		if a := f.do(t, f.groupCall(seqs...)); a.Code != 0 {
			t.Fatalf("answer %+v", a)
		}
	}

	t.Run("stats", func(t *testing.T) {
		status, body := f.admin(t, http.MethodGet, "/_zimfake/stats")
		var st zimfake.Stats
		if err := json.Unmarshal([]byte(body), &st); status != 200 || err != nil {
			t.Fatalf("GET stats: %d %s %v", status, body, err)
		}
		if st.AcceptedCalls != 2 || st.AcceptedReceipts != 4 || st.DistinctReceipts != 3 || st.DuplicateReceipts != 1 || st.ByCode[0] != 2 {
			t.Errorf("stats %+v", st)
		}
	})

	t.Run("receipts", func(t *testing.T) {
		got := getLines[zimfake.DistinctReceipt](t, f, "/_zimfake/receipts")
		want := []zimfake.DistinctReceipt{
			{Action: "GroupReadReceipt", UserID: "alice", ConvID: "team-42", Seq: 1, Count: 1},
			{Action: "GroupReadReceipt", UserID: "alice", ConvID: "team-42", Seq: 2, Count: 2},
			{Action: "GroupReadReceipt", UserID: "alice", ConvID: "team-42", Seq: 3, Count: 1},
		}
		if len(got) != len(want) {
			t.Fatalf("receipts %+v, want %+v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("receipt %d = %+v, want %+v", i, got[i], want[i])
			}
		}
	})

	t.Run("outage", func(t *testing.T) {
		if status, body := f.admin(t, http.MethodPost, "/_zimfake/outage?on=true"); status != 200 || !strings.Contains(body, `"outage":true`) {
			t.Fatalf("POST outage on: %d %s", status, body)
		}
		if a := f.do(t, f.groupCall(9)); a.status != http.StatusServiceUnavailable {
			t.Errorf("during outage: %+v, want HTTP 503", a)
		}
		if status, _ := f.admin(t, http.MethodGet, "/_zimfake/stats"); status != 200 {
			t.Errorf("admin API unavailable during an outage: %d", status)
		}
		f.admin(t, http.MethodPost, "/_zimfake/outage?on=false")
		if a := f.do(t, f.groupCall(9)); a.Code != 0 {
			t.Errorf("after outage: %+v, want Code 0", a)
		}
	})

	t.Run("rps", func(t *testing.T) {
		if status, body := f.admin(t, http.MethodPost, "/_zimfake/rps?value=1"); status != 200 || !strings.Contains(body, `"rps":1`) {
			t.Fatalf("POST rps: %d %s", status, body)
		}
		f.clock.Advance(5e9) // leave earlier requests behind
		first, second := f.do(t, f.groupCall(10)), f.do(t, f.groupCall(11))
		if first.Code != 0 || second.Code != zimfake.CodeRateLimited {
			t.Errorf("at 1/s: %d then %d, want 0 then 660300005", first.Code, second.Code)
		}
	})

	t.Run("reset", func(t *testing.T) {
		f.post(t, "/_zimfake/reset")
		if st := f.fake.Stats(); st.Calls != 0 || st.AcceptedReceipts != 0 {
			t.Errorf("after reset: %+v", st)
		}
	})

	t.Run("bad requests", func(t *testing.T) {
		for _, tt := range []struct {
			method, path string
			want         int
		}{
			{http.MethodGet, "/_zimfake/reset", http.StatusMethodNotAllowed},
			{http.MethodPost, "/_zimfake/stats", http.StatusMethodNotAllowed},
			{http.MethodPost, "/_zimfake/outage?on=maybe", http.StatusBadRequest},
			{http.MethodPost, "/_zimfake/outage", http.StatusBadRequest},
			{http.MethodPost, "/_zimfake/rps?value=-1", http.StatusBadRequest},
			{http.MethodPost, "/_zimfake/rps?value=NaN", http.StatusBadRequest},
			{http.MethodPost, "/_zimfake/rps?value=fast", http.StatusBadRequest},
			{http.MethodGet, "/_zimfake/nothing", http.StatusNotFound},
		} {
			if status, body := f.admin(t, tt.method, tt.path); status != tt.want {
				t.Errorf("%s %s: %d %s, want %d", tt.method, tt.path, status, body, tt.want)
			}
		}
		if f.fake.Stats().Calls != 0 {
			t.Errorf("admin requests reached the API handler")
		}
	})
}
