package zimapi_test

import (
	"fmt"

	"github.com/receiptd/receiptd/zimapi"
)

func ExampleSign() {
	// ZEGO's published test vector.
	fmt.Println(zimapi.Sign(12345, "4fd24687296dd9f3", "9193cc662a4c0ec135ec71fb57194b38", 1615186943))
	// Output: 43e5cfcca828314675f91b001390566a
}

func ExampleClassify() {
	for _, code := range []int64{0, 660300005, 660400102, 660400103, 100000005, 123} {
		fmt.Println(code, zimapi.Classify(code))
	}
	// Output:
	// 0 success
	// 660300005 rate_limited
	// 660400102 too_many
	// 660400103 dead_letter
	// 100000005 systemic
	// 123 unknown
}

func ExampleHint() {
	fmt.Println(zimapi.Hint(100000005))
	fmt.Printf("%q\n", zimapi.Hint(0))
	// Output:
	// the signature is wrong: zim.server_secret does not belong to zim.app_id
	// ""
}

func ExampleSecret() {
	cfg := zimapi.Config{Endpoint: zimapi.DefaultEndpoint, AppID: 12345, ServerSecret: "9193cc662a4c0ec135ec71fb57194b38"}
	fmt.Printf("%v\n", cfg.ServerSecret)
	fmt.Printf("%+v\n", cfg)
	// Output:
	// [REDACTED]
	// {Endpoint:https://zim-api.zego.im/ AppID:12345 ServerSecret:[REDACTED] Timeout:0s MaxResponseBytes:0 Transport:<nil>}
}
