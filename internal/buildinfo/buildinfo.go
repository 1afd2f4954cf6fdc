// Package buildinfo names this build of receiptd: the version and VCS
// revision it was built from, its Go version and its Kafka client's version.
// `receiptd version`, the start-up log line and the receiptd_build_info
// metric all read it, so they always agree.
//
// Release builds set the version and the revision at link time (the
// Dockerfile's VERSION and REVISION build arguments do):
//
//	go build -ldflags "-X github.com/receiptd/receiptd/internal/buildinfo.version=v1.2.3 \
//	  -X github.com/receiptd/receiptd/internal/buildinfo.revision=$(git rev-parse HEAD)" ./cmd/receiptd
//
// Without them the version is "dev" and the revision is the one the Go
// toolchain stamped from the git checkout, if any.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set at link time with -X; see the package documentation.
var (
	version  = "dev"
	revision = ""
)

const kafkaGoModule = "github.com/segmentio/kafka-go"

// Info describes one build.
type Info struct {
	Version        string // the release, such as v1.2.3; "dev" when not set at link time
	Revision       string // the VCS commit; "" when unknown
	GoVersion      string // such as go1.26.0
	KafkaGoVersion string // the segmentio/kafka-go module version; "unknown" when not recorded
	Platform       string // GOOS/GOARCH
}

// Get returns this binary's build information.
func Get() Info {
	info := Info{
		Version:        version,
		Revision:       revision,
		GoVersion:      runtime.Version(),
		KafkaGoVersion: "unknown",
		Platform:       runtime.GOOS + "/" + runtime.GOARCH,
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return info
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && info.Revision == "" {
			info.Revision = s.Value
		}
	}
	for _, d := range bi.Deps {
		if d.Path == kafkaGoModule {
			info.KafkaGoVersion = d.Version
			if d.Replace != nil {
				info.KafkaGoVersion = d.Replace.Version
			}
		}
	}
	return info
}

// String is the one-line form `receiptd version` prints, such as
// "v1.2.3 (0123456789ab) go1.26.0 linux/amd64 kafka-go v0.4.51".
func (i Info) String() string {
	v := i.Version
	if i.Revision != "" {
		v += " (" + shortRevision(i.Revision) + ")"
	}
	return fmt.Sprintf("%s %s %s kafka-go %s", v, i.GoVersion, i.Platform, i.KafkaGoVersion)
}

// shortRevision abbreviates a commit hash the way git does by default.
func shortRevision(r string) string {
	const n = 12
	if len(r) > n {
		return r[:n]
	}
	return r
}
