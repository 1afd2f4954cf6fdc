package config_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/receiptd/receiptd/internal/config"
)

// shippedConfig is the documented config.yaml at the repository root.
const shippedConfig = "../../config.yaml"

// The shipped file loads as is except for the two values only an operator can supply,
// and says exactly that.
func TestShippedConfigNeedsOnlyAppIDAndSecret(t *testing.T) {
	_, err := config.Load(shippedConfig, env())
	want := []string{
		"zim.app_id is required: the AppID of the app in the ZEGOCLOUD console (or set RECEIPTD_ZIM_APP_ID)",
		"zim.server_secret is required: the ServerSecret of the app in the ZEGOCLOUD console; set RECEIPTD_ZIM_SERVER_SECRET, or zim.server_secret_file (RECEIPTD_ZIM_SERVER_SECRET_FILE)",
	}
	if got := problemsOf(t, err); !slices.Equal(got, want) {
		t.Errorf("problems:\n got %q\nwant %q", got, want)
	}

	got := mustLoad(t, shippedConfig, env(required))
	if w := valid(); !reflect.DeepEqual(got, w) {
		t.Errorf("config.yaml with app id and secret from env:\n got %+v\nwant %+v", got, w)
	}
}

func TestEnvVars(t *testing.T) {
	vars := config.EnvVars()
	byName := map[string]string{}
	byKey := map[string]config.EnvVar{}
	for _, v := range vars {
		if other, dup := byName[v.Name]; dup {
			t.Errorf("%s and %s both map to %s", other, v.Key, v.Name)
		}
		byName[v.Name] = v.Key
		byKey[v.Key] = v
		if want := "RECEIPTD_" + strings.ToUpper(strings.ReplaceAll(v.Key, ".", "_")); v.Name != want {
			t.Errorf("%s maps to %s, want %s", v.Key, v.Name, want)
		}
	}
	// Every key of the configuration has a variable.
	if len(byKey) != len(config.Default().Redacted()) {
		t.Errorf("%d variables for %d keys", len(byKey), len(config.Default().Redacted()))
	}
	for k := range config.Default().Redacted() {
		if _, ok := byKey[k]; !ok {
			t.Errorf("key %s has no environment variable", k)
		}
	}
	tests := []config.EnvVar{
		{Name: "RECEIPTD_KAFKA_SASL_PASSWORD", Key: "kafka.sasl.password", Default: ""},
		{Name: "RECEIPTD_ZIM_SERVER_SECRET", Key: "zim.server_secret", Default: ""},
		{Name: "RECEIPTD_ZIM_SERVER_SECRET_FILE", Key: "zim.server_secret_file", Default: ""},
		{Name: "RECEIPTD_KAFKA_BROKERS", Key: "kafka.brokers", Default: "127.0.0.1:9092"},
		{Name: "RECEIPTD_WORKER_SYSTEMIC_BACKOFF_MAX", Key: "worker.systemic_backoff_max", Default: "5m"},
		{Name: "RECEIPTD_WORKER_LINGER", Key: "worker.linger", Default: "200ms"},
		{Name: "RECEIPTD_ZIM_APP_ID", Key: "zim.app_id", Default: "0"},
		{Name: "RECEIPTD_KAFKA_TLS_INSECURE_SKIP_VERIFY", Key: "kafka.tls.insecure_skip_verify", Default: "false"},
		{Name: "RECEIPTD_HTTP_LISTEN", Key: "http.listen", Default: ":8080"},
	}
	for _, want := range tests {
		if got := byKey[want.Key]; got != want {
			t.Errorf("EnvVars()[%s] = %+v, want %+v", want.Key, got, want)
		}
	}
	// Every default, set through its own variable, loads back to the default.
	lookup := map[string]string{}
	for _, v := range vars {
		lookup[v.Name] = v.Default
	}
	got := mustLoad(t, "", env(lookup, required))
	if w := valid(); !reflect.DeepEqual(got, w) {
		t.Errorf("defaults through env:\n got %+v\nwant %+v", got, w)
	}
}
