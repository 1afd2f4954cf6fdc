package traffic_test

import (
	"fmt"
	"time"

	"github.com/receiptd/receiptd/internal/traffic"
)

func Example() {
	cfg := traffic.DefaultConfig()
	cfg.Seed = 42
	gen, err := traffic.New(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	tally := traffic.NewTally(cfg)
	now := time.UnixMilli(1764150000123)
	for i := range 10000 {
		r := gen.Next(now.Add(time.Duration(i) * time.Millisecond))
		tally.Add(r)
		if i < 3 {
			fmt.Printf("key %s: %s\n", r.Key, r.Value)
		}
	}
	fmt.Println("receipts:", tally.Receipts(), "ideal calls:", tally.IdealCalls(10))
	fmt.Println("dead letters:", tally.Malformed(), "invalid,", tally.Rejected(), "rejected")
	// Output:
	// key user-107: {"type":"c2c_delivered","user_id":"user-107","conv_id":"user-4167","conv_msg_seq":[1291],"read_at":1764150000123}
	// key user-8: {"type":"c2c_read","user_id":"user-8","conv_id":"user-3844","conv_msg_seq":[2397,2398,2399],"read_at":1764150000124}
	// key group-547: {"type":"group_read","user_id":"user-65","group_id":"group-547","conv_msg_seq":[81276,81277],"read_at":1764150000125}
	// receipts: 26895 ideal calls: 3746
	// dead letters: 10 invalid, 9 rejected
}
