package bench

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain runs the tests, or, when the test binary is started as a
// child by a test (childEnv set), behaves as that child instead.
func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(runTestChild(mode))
	}
	goleak.VerifyTestMain(m)
}
