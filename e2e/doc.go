// Package e2e holds receiptd's end-to-end tests: the built receiptd binary
// and its ZIM simulator (receiptd zimfake) run as separate processes against
// a real Apache Kafka broker, and each test checks a delivery guarantee
// (docs/architecture.md) from the outside, the way an operator would see
// it: receipts that reached ZIM, records in the dead-letter topic,
// committed offsets, exit codes and log lines.
//
// The tests need a broker. Start one and point the tests at it:
//
//	scripts/kafka.sh start                     # prints the address last
//	export RECEIPTD_E2E_BROKERS=127.0.0.1:PORT
//	go test -race -count=1 -timeout 20m ./e2e/...
//	scripts/kafka.sh stop
//
// Without RECEIPTD_E2E_BROKERS every test is skipped, unless
// RECEIPTD_E2E_REQUIRED=1 (set by .ci/run), which makes them fail instead.
// RECEIPTD_E2E_KAFKA_VERSION names the broker's version in the figures each
// test logs; without it the tests ask scripts/kafka.sh status.
// RECEIPTD_E2E_SEED fixes the seed of the random choices (traffic, the
// moments of kill -9); every test logs the seed it used.
// TestPrometheusAlertsAndDashboard also runs a real Prometheus: prometheus on
// PATH (Debian's prometheus package) or RECEIPTD_E2E_PROMETHEUS; without one
// it is skipped, or fails when RECEIPTD_E2E_REQUIRED=1.
//
// Every test creates its own topics and consumer group, so the tests do not
// depend on each other or on what the broker held before. The broker-fault
// tests (a broker paused, restarted, or out of reach at start) start a
// broker of their own with scripts/kafka.sh, which needs what the suite's
// broker needs (Java, and the jars it resolved), and stop it when they end.
package e2e
