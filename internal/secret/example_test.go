package secret_test

import (
	"fmt"

	"github.com/receiptd/receiptd/internal/secret"
)

func ExampleSecret() {
	s := secret.Secret("9193cc662a4c0ec135ec71fb57194b38")
	fmt.Println(s, len(s.Value()))
	fmt.Printf("%q %+v\n", secret.Secret(""), struct{ Password secret.Secret }{s})
	// Output:
	// [REDACTED] 32
	// "" {Password:[REDACTED]}
}
