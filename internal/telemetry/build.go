package telemetry

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/receiptd/receiptd/internal/buildinfo"
)

// RegisterBuildInfo registers receiptd_build_info, always 1, whose labels
// name the build: a dashboard or an alert can tell which pods run which
// release.
func RegisterBuildInfo(reg prometheus.Registerer, info buildinfo.Info) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "receiptd_build_info",
		Help: "Always 1; the labels name the build: version, VCS revision, Go and kafka-go versions.",
		ConstLabels: prometheus.Labels{
			"version":          info.Version,
			"revision":         info.Revision,
			"go_version":       info.GoVersion,
			"kafka_go_version": info.KafkaGoVersion,
		},
	})
	g.Set(1)
	reg.MustRegister(g)
}
