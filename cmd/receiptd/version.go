package main

import (
	"context"
	"fmt"

	"github.com/receiptd/receiptd/internal/buildinfo"
)

func versionCmd(_ context.Context, args []string, s streams) int {
	fs := newFlags("version", "version", `
Print receiptd's version and VCS revision (set at build time: the Dockerfile's
VERSION and REVISION build arguments), its Go version, platform and Kafka
client's version. /metrics carries the same as receiptd_build_info.`, s)
	if code, ok := parse(fs, args, s); !ok {
		return code
	}
	fmt.Fprintf(s.out, "receiptd %s\n", buildinfo.Get())
	return exitOK
}
