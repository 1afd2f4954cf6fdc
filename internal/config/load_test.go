package config_test

import (
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/receiptd/receiptd/internal/config"
)

func TestLoadDefaults(t *testing.T) {
	got := mustLoad(t, "", env(required))
	if want := valid(); !reflect.DeepEqual(got, want) {
		t.Errorf("Load with no file:\n got %+v\nwant %+v", got, want)
	}
	if err := valid().Validate(); err != nil {
		t.Errorf("Default plus app id and secret does not validate: %v", err)
	}
	// Default hands out a fresh list each time: callers may not share it by accident.
	a := config.Default()
	a.Kafka.Brokers[0] = "changed:1"
	if b := config.Default(); b.Kafka.Brokers[0] != "127.0.0.1:9092" {
		t.Errorf("Default shares its brokers slice between calls")
	}
}

func TestLoadYAMLOverrides(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want func(*config.Config)
	}{
		{"empty file", "", func(*config.Config) {}},
		{"comments only", "# nothing\n", func(*config.Config) {}},
		{"empty section keeps defaults", "kafka:\n", func(*config.Config) {}},
		{"string", "kafka:\n  topic: reads\n", func(c *config.Config) { c.Kafka.Topic = "reads" }},
		{"string given as number", "http:\n  listen: 127.0.0.1:9090\n", func(c *config.Config) { c.HTTP.Listen = "127.0.0.1:9090" }},
		{"empty string", "http:\n  listen: \"\"\n", func(c *config.Config) { c.HTTP.Listen = "" }},
		{"int", "kafka:\n  fetch_max_bytes: 2048\n", func(c *config.Config) { c.Kafka.FetchMaxBytes = 2048 }},
		{"int with digit groups", "worker:\n  max_pending_records: 100_000\n", func(c *config.Config) { c.Worker.MaxPendingRecords = 100000 }},
		{"bool", "zim:\n  rate_limit_shared: true\n", func(c *config.Config) { c.ZIM.RateLimitShared = true }},
		{"duration", "worker:\n  linger: 1m30s\n", func(c *config.Config) { c.Worker.Linger = 90 * time.Second }},
		{"zero duration", "log:\n  summary_interval: 0s\n", func(c *config.Config) { c.Log.SummaryInterval = 0 }},
		{"list", "kafka:\n  brokers:\n    - k1:9092\n    - k2:9093\n", func(c *config.Config) { c.Kafka.Brokers = []string{"k1:9092", "k2:9093"} }},
		{"flow list", "kafka:\n  brokers: [k1:9092]\n", func(c *config.Config) { c.Kafka.Brokers = []string{"k1:9092"} }},
		{"nested section", "kafka:\n  tls:\n    server_name: kafka.internal\n    enabled: true\n", func(c *config.Config) {
			c.Kafka.TLS.Enabled = true
			c.Kafka.TLS.ServerName = "kafka.internal"
		}},
		{"enums are normalised", "log:\n  level: WARN\nkafka:\n  start_offset: Latest\n  sasl:\n    mechanism: scram-sha-512\n    username: u\n    password: p\nzim:\n  rate_share: FULL\n", func(c *config.Config) {
			c.Log.Level = "warn"
			c.Kafka.StartOffset = "latest"
			c.Kafka.SASL = config.SASLConfig{Mechanism: "SCRAM-SHA-512", Username: "u", Password: "p"}
			c.ZIM.RateShare = "full"
		}},
		{"anchors and aliases", "kafka:\n  session_timeout: &d 45s\n  rebalance_timeout: *d\n", func(c *config.Config) {
			c.Kafka.SessionTimeout = 45 * time.Second
			c.Kafka.RebalanceTimeout = 45 * time.Second
		}},
		{"loopback http endpoint", "zim:\n  endpoint: http://127.0.0.1:8081/\n", func(c *config.Config) { c.ZIM.Endpoint = "http://127.0.0.1:8081/" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustLoad(t, writeFile(t, "c.yaml", tt.yaml), env(required))
			want := valid()
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// zim.app_id is a uint32: the whole range loads, one past it is a problem.
func TestLoadYAMLAppID(t *testing.T) {
	secretOnly := env(map[string]string{"RECEIPTD_ZIM_SERVER_SECRET": testSecret})
	got := mustLoad(t, writeFile(t, "c.yaml", "zim:\n  app_id: 4294967295\n"), secretOnly)
	if got.ZIM.AppID != 4294967295 {
		t.Errorf("zim.app_id = %d, want 4294967295", got.ZIM.AppID)
	}
	path := writeFile(t, "c.yaml", "zim:\n  app_id: 4294967296\n")
	_, err := config.Load(path, secretOnly)
	want := []string{path + ":2: zim.app_id must be a whole number from 0 to 4294967295"}
	if got := problemsOf(t, err); !slices.Equal(got, want) {
		t.Errorf("problems:\n got %q\nwant %q", got, want)
	}
}

func TestLoadEnvOverrides(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want func(*config.Config)
	}{
		{"string", map[string]string{"RECEIPTD_KAFKA_GROUP_ID": "g2"}, func(c *config.Config) { c.Kafka.GroupID = "g2" }},
		{"nested string", map[string]string{"RECEIPTD_KAFKA_TLS_SERVER_NAME": "k", "RECEIPTD_KAFKA_TLS_ENABLED": "true"}, func(c *config.Config) {
			c.Kafka.TLS.ServerName = "k"
			c.Kafka.TLS.Enabled = true
		}},
		{"empty string disables", map[string]string{"RECEIPTD_HTTP_LISTEN": ""}, func(c *config.Config) { c.HTTP.Listen = "" }},
		{"int", map[string]string{"RECEIPTD_WORKER_MAX_IN_FLIGHT": "16"}, func(c *config.Config) { c.Worker.MaxInFlight = 16 }},
		{"bool", map[string]string{"RECEIPTD_KAFKA_AUTO_CREATE_TOPICS": "true"}, func(c *config.Config) { c.Kafka.AutoCreateTopics = true }},
		{"duration", map[string]string{"RECEIPTD_SHUTDOWN_DRAIN_TIMEOUT": "15s"}, func(c *config.Config) { c.Shutdown.DrainTimeout = 15 * time.Second }},
		{"list", map[string]string{"RECEIPTD_KAFKA_BROKERS": "k1:9092, k2:9092,,"}, func(c *config.Config) { c.Kafka.Brokers = []string{"k1:9092", "k2:9092"} }},
		{"uint32", map[string]string{"RECEIPTD_ZIM_APP_ID": "4294967295"}, func(c *config.Config) { c.ZIM.AppID = 4294967295 }},
		{"enum normalised", map[string]string{"RECEIPTD_LOG_LEVEL": " Debug "}, func(c *config.Config) { c.Log.Level = "debug" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustLoad(t, "", env(required, tt.env))
			want := valid()
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestEnvOverridesFile(t *testing.T) {
	path := writeFile(t, "c.yaml", "kafka:\n  topic: from-file\n  group_id: file-group\n")
	got := mustLoad(t, path, env(required, map[string]string{"RECEIPTD_KAFKA_TOPIC": "from-env"}))
	if got.Kafka.Topic != "from-env" {
		t.Errorf("kafka.topic = %q, want the environment's from-env", got.Kafka.Topic)
	}
	if got.Kafka.GroupID != "file-group" {
		t.Errorf("kafka.group_id = %q, want the file's file-group", got.Kafka.GroupID)
	}
}

func TestLoadBadValues(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		want []string
	}{
		{"env duration", "", map[string]string{"RECEIPTD_WORKER_LINGER": "abc"},
			[]string{"RECEIPTD_WORKER_LINGER: worker.linger must be a duration such as 250ms, 30s or 5m"}},
		{"env duration without unit", "", map[string]string{"RECEIPTD_KAFKA_DIAL_TIMEOUT": "10"},
			[]string{"RECEIPTD_KAFKA_DIAL_TIMEOUT: kafka.dial_timeout must be a duration such as 250ms, 30s or 5m"}},
		{"env int", "", map[string]string{"RECEIPTD_WORKER_MAX_IN_FLIGHT": "eight"},
			[]string{"RECEIPTD_WORKER_MAX_IN_FLIGHT: worker.max_in_flight must be a whole number"}},
		{"env bool", "", map[string]string{"RECEIPTD_KAFKA_TLS_ENABLED": "yes please"},
			[]string{"RECEIPTD_KAFKA_TLS_ENABLED: kafka.tls.enabled must be true or false"}},
		{"env uint32 too big", "", map[string]string{"RECEIPTD_ZIM_APP_ID": "4294967296"},
			[]string{"RECEIPTD_ZIM_APP_ID: zim.app_id must be a whole number from 0 to 4294967295"}},
		{"env uint32 negative", "", map[string]string{"RECEIPTD_ZIM_APP_ID": "-1"},
			[]string{"RECEIPTD_ZIM_APP_ID: zim.app_id must be a whole number from 0 to 4294967295"}},
		{"env empty list", "", map[string]string{"RECEIPTD_KAFKA_BROKERS": " , "},
			[]string{"kafka.brokers is empty; list at least one broker as host:port (RECEIPTD_KAFKA_BROKERS is comma-separated)"}},
		{"yaml duration", "worker:\n  backoff_max: soon\n", nil,
			[]string{"c.yaml:2: worker.backoff_max must be a duration such as 250ms, 30s or 5m"}},
		{"yaml list given a string", "kafka:\n  brokers: k1:9092,k2:9092\n", nil,
			[]string{`c.yaml:2: kafka.brokers must be a list such as ["a", "b"], not a single value`}},
		{"yaml list item not a string", "kafka:\n  brokers:\n    - [k1]\n", nil,
			[]string{"c.yaml:3: kafka.brokers item 1 must be a string, not a list"}},
		{"yaml section given a value", "kafka:\n  tls: true\n", nil,
			[]string{"c.yaml:2: kafka.tls must be a mapping of keys, not a single value"}},
		{"yaml value given a mapping", "zim:\n  app_id:\n    id: 5\n", nil,
			[]string{"c.yaml:3: zim.app_id must be a single value, not a mapping"}},
		{"yaml key twice", "kafka:\n  topic: a\n  topic: b\n", nil,
			[]string{"c.yaml:3: kafka.topic is set twice (first at line 2); keep one"}},
		{"yaml top level not a mapping", "- a\n- b\n", nil,
			[]string{"c.yaml:1: the file must be a mapping of sections (log:, kafka:, ...), not a list"}},
		{"yaml syntax", "kafka:\n  topic: a\n   group_id: b\n", nil,
			[]string{"c.yaml:3: not valid YAML: mapping values are not allowed in this context"}},
		{"two documents", "kafka:\n  topic: a\n---\nlog:\n  level: info\n", nil,
			[]string{"c.yaml:3: a second YAML document starts here; put every key in one document"}},
		{"yaml tab indentation", "kafka:\n\ttopic: reads\n", nil,
			[]string{"c.yaml:2: not valid YAML: found character that cannot start any token (indent with spaces: YAML does not allow tabs)"}},
		{"unknown keys", `kafka:
  topc: reads
  tls:
    enabled: true
    ca_fle: /etc/ca.pem
zim:
  appid: 5
colour: blue
`, nil,
			[]string{
				"c.yaml:2: unknown key kafka.topc (did you mean topic?)",
				"c.yaml:5: unknown key kafka.tls.ca_fle (did you mean ca_file?)",
				"c.yaml:7: unknown key zim.appid (did you mean app_id?)",
				"c.yaml:8: unknown key colour",
			}},
		{"unknown keys in two sections", "log:\n  levle: debug\nworker:\n  lingr: 1s\n", nil,
			[]string{
				"c.yaml:2: unknown key log.levle (did you mean level?)",
				"c.yaml:4: unknown key worker.lingr (did you mean linger?)",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, err := loadYAML(t, tt.yaml, env(required, tt.env))
			wantProblems(t, err, path, tt.want)
		})
	}
}

// A section that is not a mapping is one problem; its keys, never read, are not
// reported again as missing.
func TestLoadBrokenSectionIsOneProblem(t *testing.T) {
	path, err := loadYAML(t, "zim: 5\n", env())
	wantProblems(t, err, path, []string{"c.yaml:1: zim must be a mapping of keys, not a single value"})
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent.yaml")
	_, err := config.Load(path, env(required))
	got := problemsOf(t, err)
	want := []string{"config file: open " + path + ": no such file or directory"}
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n got %q\nwant %q", got, want)
	}
}

// Three independent mistakes, from the file and the environment, are three problems:
// no fewer (the first does not hide the rest), no more (a value that cannot be read is
// not reported again by validation).
func TestThreeMistakesThreeProblems(t *testing.T) {
	path := writeFile(t, "c.yaml", `kafka:
  heartbeat_interval: 40s
worker:
  linger: abc
`)
	_, err := config.Load(path, env(required, map[string]string{"RECEIPTD_ZIM_APP_ID": "x"}))
	got := problemsOf(t, err)
	want := []string{
		path + ":4: worker.linger must be a duration such as 250ms, 30s or 5m",
		"RECEIPTD_ZIM_APP_ID: zim.app_id must be a whole number from 0 to 4294967295",
		"kafka.heartbeat_interval (40s) must be less than kafka.session_timeout (30s)",
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n got %q\nwant %q", got, want)
	}
	if e := err.Error(); e != strings.Join(want, "\n") {
		t.Errorf("Error() = %q, want the problems one per line", e)
	}
}
