package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func versionCmd(_ context.Context, args []string, s streams) int {
	fs := newFlags("version", "version", "Print receiptd's version, its Go version and its Kafka client's version.", s)
	if code, ok := parse(fs, args, s); !ok {
		return code
	}
	fmt.Fprintf(s.out, "receiptd %s\n", versionString())
	return exitOK
}

// versionString describes this build: version, VCS revision when known,
// Go version and kafka-go version.
func versionString() string {
	v := version
	kafkaGo := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
		for _, d := range bi.Deps {
			if d.Path == "github.com/segmentio/kafka-go" {
				kafkaGo = d.Version
			}
		}
	}
	return fmt.Sprintf("%s %s %s/%s kafka-go %s", v, runtime.Version(), runtime.GOOS, runtime.GOARCH, kafkaGo)
}
