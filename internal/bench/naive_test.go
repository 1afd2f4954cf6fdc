package bench

import (
	"slices"
	"testing"

	"github.com/receiptd/receiptd/receipt"
)

func TestNaiveRequest(t *testing.T) {
	tests := []struct {
		give string
		want receipt.Request
	}{
		{`{"type":"group_read","user_id":"u","group_id":"g","conv_msg_seq":[3,4],"read_at":1}`,
			receipt.Request{Key: receipt.Key{Action: receipt.GroupRead, UserID: "u", ConvID: "g"}, Seqs: []uint64{3, 4}}},
		{`{"user_id":"u","group_id":"g","conv_msg_seq":9}`,
			receipt.Request{Key: receipt.Key{Action: receipt.GroupRead, UserID: "u", ConvID: "g"}, Seqs: []uint64{9}}},
		{`{"type":"c2c_delivered","user_id":"u","conv_id":"peer","conv_msg_seq":[1]}`,
			receipt.Request{Key: receipt.Key{Action: receipt.C2CDelivered, UserID: "u", ConvID: "peer"}, Seqs: []uint64{1}}},
	}
	for _, tt := range tests {
		got, err := naiveRequest([]byte(tt.give))
		if err != nil {
			t.Errorf("naiveRequest(%s): %v", tt.give, err)
			continue
		}
		if got.Key != tt.want.Key || !slices.Equal(got.Seqs, tt.want.Seqs) {
			t.Errorf("naiveRequest(%s) = %+v, want %+v", tt.give, got, tt.want)
		}
	}
	for _, bad := range []string{`not json`, `{"type":"seen","user_id":"u","group_id":"g","conv_msg_seq":1}`,
		`{"type":"c2c_read","user_id":"u","group_id":"g","conv_msg_seq":1}`, `{"user_id":"u","group_id":"g","conv_msg_seq":"1"}`} {
		if _, err := naiveRequest([]byte(bad)); err == nil {
			t.Errorf("naiveRequest(%s) accepted an invalid event", bad)
		}
	}
}
