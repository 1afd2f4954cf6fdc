package zimsender_test

import (
	"net/http/httptest"
	"testing"

	"go.uber.org/goleak"

	"github.com/receiptd/receiptd/internal/zimsender"
	"github.com/receiptd/receiptd/worker"
	"github.com/receiptd/receiptd/zimapi"
	"github.com/receiptd/receiptd/zimapi/zimfake"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Every zimapi class maps to the worker class of the same name, and the
// worker's action names are ZIM's.
func TestClassesAndActionsAgree(t *testing.T) {
	for c := zimapi.ClassSuccess; c <= zimapi.ClassUnknown; c++ {
		if got := zimsender.Class(c); got.String() != c.String() {
			t.Errorf("zimapi class %s maps to worker class %s", c, got)
		}
	}
	if got := zimsender.Class(zimapi.Class(200)); got != worker.ClassUnknown {
		t.Errorf("an unknown zimapi class maps to %s, want unknown", got)
	}
	for _, a := range worker.Actions {
		if !zimapi.Action(a.String()).Valid() {
			t.Errorf("worker action %s is not a ZIM action", a)
		}
	}
}

func TestSendThroughSimulator(t *testing.T) {
	fake := zimfake.New(zimfake.Config{AppID: 7, Secret: "00112233445566778899aabbccddeeff", FailGroups: []string{"gone"}})
	srv := httptest.NewServer(fake.Handler())
	defer srv.Close()
	client, err := zimapi.NewClient(zimapi.Config{Endpoint: srv.URL, AppID: 7, ServerSecret: "00112233445566778899aabbccddeeff"})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	s := zimsender.New(client)

	tests := []struct {
		key  worker.Key
		want worker.Class
	}{
		{worker.Key{Action: worker.GroupRead, UserID: "alice", ConvID: "team"}, worker.ClassSuccess},
		{worker.Key{Action: worker.C2CRead, UserID: "alice", ConvID: "bob"}, worker.ClassSuccess},
		{worker.Key{Action: worker.GroupDelivered, UserID: "alice", ConvID: "team"}, worker.ClassSuccess},
		{worker.Key{Action: worker.C2CDelivered, UserID: "alice", ConvID: "bob"}, worker.ClassSuccess},
		{worker.Key{Action: worker.GroupRead, UserID: "alice", ConvID: "gone"}, worker.ClassDeadLetter},
	}
	for _, tt := range tests {
		res := s.Send(t.Context(), worker.Request{Key: tt.key, Seqs: []uint64{3, 4}})
		if res.Class != tt.want || res.RequestID == "" {
			t.Errorf("%v: result %+v, want class %s with a request id", tt.key, res, tt.want)
		}
		if tt.want == worker.ClassSuccess && !fake.Seen(tt.key.Action.String(), tt.key.UserID, tt.key.ConvID, 4) {
			t.Errorf("%v: the simulator did not record seq 4", tt.key)
		}
	}
}
