//go:build !receiptd_prod

package main

// devCommands are the developer build's own commands. They link an
// in-process Kafka cluster (kfake), the traffic generator and the benchmark
// harness, none of which a production worker needs; the production build
// (-tags receiptd_prod, the container image) leaves them out.
func devCommands() []command {
	return []command{
		{"demo", "run the whole pipeline on this machine: in-process Kafka, ZIM simulator, synthetic traffic", demoCmd},
		{"bench", "measure throughput, API efficiency, latency, scale-out and memory", benchCmd},
	}
}
