package zimfake_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/receiptd/receiptd/receipt"
	"github.com/receiptd/receiptd/zimapi"
	"github.com/receiptd/receiptd/zimapi/zimfake"
)

func sendTo(t *testing.T, c *zimapi.Client, a receipt.Action, user, conv string, seq uint64) receipt.Result {
	t.Helper()
	out := c.Send(context.Background(), receipt.Request{Key: receipt.Key{Action: a, UserID: user, ConvID: conv}, Seqs: []uint64{seq}})
	if out.Err != nil {
		t.Fatalf("Send: %v", out.Err)
	}
	return out
}

// TestGroupLimit: a group's own limit answers 660300006 beyond its rate,
// for group actions on that group only, counts toward the app's limit
// like any request that reached it, and lifts by itself after its time.
func TestGroupLimit(t *testing.T) {
	f := start(t, func(c *zimfake.Config) { c.GroupRPS = map[string]float64{"hot": 2} })
	c := f.client(t, nil)
	var codes []int64
	for i := range 4 {
		codes = append(codes, sendTo(t, c, receipt.GroupRead, "alice", "hot", uint64(i+1)).Code)
	}
	if want := []int64{0, 0, 660300006, 660300006}; !equal(codes, want) {
		t.Errorf("4 calls within a second to a group limited to 2/s answered %v, want %v", codes, want)
	}
	if out := sendTo(t, c, receipt.GroupDelivered, "bob", "hot", 1); out.Code != 660300006 || out.Class != receipt.ClassGroupRateLimited {
		t.Errorf("the group's other action: %+v, want 660300006 (the limit is the group's)", out)
	}
	if out := sendTo(t, c, receipt.GroupRead, "alice", "cold", 1); out.Code != 0 {
		t.Errorf("another group: Code %d, want 0", out.Code)
	}
	if out := sendTo(t, c, receipt.C2CRead, "alice", "hot", 1); out.Code != 0 {
		t.Errorf("a c2c peer named like the group: Code %d, want 0", out.Code)
	}
	f.clock.Advance(1100 * time.Millisecond)
	if out := sendTo(t, c, receipt.GroupRead, "alice", "hot", 9); out.Code != 0 {
		t.Errorf("a second later: Code %d, want 0", out.Code)
	}

	f.fake.SetGroupLimit("hot", 0, 30*time.Second) // at its limit: every call refused
	if out := sendTo(t, c, receipt.GroupRead, "alice", "hot", 10); out.Code != 660300006 {
		t.Errorf("limit 0: Code %d, want 660300006", out.Code)
	}
	f.clock.Advance(31 * time.Second)
	if out := sendTo(t, c, receipt.GroupRead, "alice", "hot", 11); out.Code != 0 {
		t.Errorf("after the limit's 30 s: Code %d, want 0", out.Code)
	}
	st := f.fake.Stats()
	if st.GroupRateLimited != 4 || st.RateLimited != 0 || st.ByCode[660300006] != 4 {
		t.Errorf("stats: %d group-rate-limited, %d rate-limited; want 4 and 0", st.GroupRateLimited, st.RateLimited)
	}
	if f.fake.Seen("GroupReadReceipt", "alice", "hot", 3) {
		t.Error("a refused receipt was recorded as accepted")
	}
}

// TestBusyGroup: a busy group answers code 1 to its group actions for the
// set time, then accepts again.
func TestBusyGroup(t *testing.T) {
	f := start(t, func(c *zimfake.Config) { c.BusyGroups, c.BusyFor = []string{"slow"}, time.Minute })
	c := f.client(t, nil)
	for _, a := range []receipt.Action{receipt.GroupRead, receipt.GroupDelivered} {
		if out := sendTo(t, c, a, "alice", "slow", 1); out.Code != 1 || out.Class != receipt.ClassTransient {
			t.Errorf("%s on a busy group: %+v, want Code 1", a, out)
		}
	}
	if out := sendTo(t, c, receipt.GroupRead, "alice", "fine", 1); out.Code != 0 {
		t.Errorf("another group: Code %d", out.Code)
	}
	f.clock.Advance(61 * time.Second)
	if out := sendTo(t, c, receipt.GroupRead, "alice", "slow", 2); out.Code != 0 {
		t.Errorf("after its busy minute: Code %d, want 0", out.Code)
	}
	f.fake.SetBusy("slow", 0) // for good
	if out := sendTo(t, c, receipt.GroupRead, "alice", "slow", 3); out.Code != 1 {
		t.Errorf("busy for good: Code %d, want 1", out.Code)
	}
	f.clock.Advance(5 * time.Minute) // within the timestamp window of the client's clock
	if out := sendTo(t, c, receipt.GroupRead, "alice", "slow", 4); out.Code != 1 {
		t.Errorf("busy for good, minutes later: Code %d, want 1", out.Code)
	}
	f.fake.SetBusy("slow", -1)
	if out := sendTo(t, c, receipt.GroupRead, "alice", "slow", 5); out.Code != 0 {
		t.Errorf("after busy was switched off: Code %d, want 0", out.Code)
	}
}

// TestGroupAdminAPI: the group limit and busy switches and the timed
// receipt log over the admin API, for tests in another process.
func TestGroupAdminAPI(t *testing.T) {
	f := start(t, nil)
	c := f.client(t, nil)
	for _, bad := range []string{"group-limit?rps=1", "group-limit?group=g&rps=x", "group-limit?group=g&rps=1&for=soon", "busy?for=1s", "busy?group=g&for=x"} {
		if status, body := f.admin(t, http.MethodPost, "/_zimfake/"+bad); status != http.StatusBadRequest {
			t.Errorf("POST %s: %d %s, want 400", bad, status, body)
		}
	}
	f.post(t, "/_zimfake/group-limit?group=g&rps=0&for=10s")
	if out := sendTo(t, c, receipt.GroupRead, "alice", "g", 1); out.Code != 660300006 {
		t.Errorf("after POST group-limit rps=0: Code %d", out.Code)
	}
	f.post(t, "/_zimfake/group-limit?group=g&rps=off")
	f.post(t, "/_zimfake/busy?group=b&for=10s")
	if out := sendTo(t, c, receipt.GroupRead, "alice", "b", 1); out.Code != 1 {
		t.Errorf("after POST busy: Code %d", out.Code)
	}
	f.post(t, "/_zimfake/busy?group=b&for=off")
	for i := range 2 {
		if out := sendTo(t, c, receipt.GroupRead, "alice", "g", uint64(i+1)); out.Code != 0 {
			t.Fatalf("after both were lifted: Code %d", out.Code)
		}
	}
	sendTo(t, c, receipt.GroupRead, "alice", "b", 1)

	got := getLines[zimfake.Receipt](t, f, "/_zimfake/receipts?each=true")
	if len(got) != 3 || got[0].ConvID != "g" || got[2].ConvID != "b" || !got[0].At.Equal(f.clock.Now()) {
		t.Errorf("receipts with their times: %+v", got)
	}
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
