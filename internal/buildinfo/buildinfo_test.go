package buildinfo

import (
	"runtime"
	"testing"
)

func TestGetUsesTheLinkTimeValues(t *testing.T) {
	defer func(v, r string) { version, revision = v, r }(version, revision)
	version, revision = "v1.2.3", "0123456789abcdef0123456789abcdef01234567"

	info := Get()
	if info.Version != "v1.2.3" || info.Revision != revision || info.GoVersion != runtime.Version() {
		t.Errorf("Get() = %+v", info)
	}
	// This test binary does not link kafka-go; cmd/receiptd's tests check
	// that the binary names its version.
	want := "v1.2.3 (0123456789ab) " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + " kafka-go " + info.KafkaGoVersion
	if got := info.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestStringWithoutRevision(t *testing.T) {
	info := Info{Version: "dev", GoVersion: "go1.26.0", Platform: "linux/arm64", KafkaGoVersion: "unknown"}
	if got, want := info.String(), "dev go1.26.0 linux/arm64 kafka-go unknown"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
