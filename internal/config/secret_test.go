package config_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/receiptd/receiptd/internal/config"
	"github.com/receiptd/receiptd/internal/secret"
)

func TestSecretSources(t *testing.T) {
	appID := map[string]string{"RECEIPTD_ZIM_APP_ID": "1"}
	tests := []struct {
		name         string
		yaml         string // %s is replaced by the temp dir
		files        map[string]string
		env          map[string]string
		wantSecret   string
		wantPassword string
	}{
		{
			name:       "server secret from env",
			env:        map[string]string{"RECEIPTD_ZIM_SERVER_SECRET": "from-env"},
			wantSecret: "from-env",
		},
		{
			name:       "server secret from yaml",
			yaml:       "zim:\n  server_secret: from-yaml\n",
			wantSecret: "from-yaml",
		},
		{
			name:       "server secret from file, newline trimmed",
			yaml:       "zim:\n  server_secret_file: %s/zim\n",
			files:      map[string]string{"zim": "from-file\n"},
			wantSecret: "from-file",
		},
		{
			name:       "server secret file from env, CRLF trimmed",
			env:        map[string]string{"RECEIPTD_ZIM_SERVER_SECRET_FILE": "%s/zim"},
			files:      map[string]string{"zim": "from-file\r\n"},
			wantSecret: "from-file",
		},
		{
			name:         "sasl password from file",
			yaml:         "kafka:\n  sasl:\n    mechanism: PLAIN\n    username: u\n    password_file: %s/pw\n",
			files:        map[string]string{"pw": "hunter2-pw\n"},
			env:          map[string]string{"RECEIPTD_ZIM_SERVER_SECRET": "s"},
			wantSecret:   "s",
			wantPassword: "hunter2-pw",
		},
		{
			name:         "sasl password from env",
			yaml:         "kafka:\n  sasl:\n    mechanism: SCRAM-SHA-256\n    username: u\n",
			env:          map[string]string{"RECEIPTD_ZIM_SERVER_SECRET": "s", "RECEIPTD_KAFKA_SASL_PASSWORD": "pw-env"},
			wantSecret:   "s",
			wantPassword: "pw-env",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				writeFileIn(t, dir, name, content)
			}
			e := map[string]string{}
			for k, v := range tt.env {
				e[k] = strings.ReplaceAll(v, "%s", dir)
			}
			path := ""
			if tt.yaml != "" {
				path = writeFile(t, "c.yaml", strings.ReplaceAll(tt.yaml, "%s", dir))
			}
			c := mustLoad(t, path, env(appID, e))
			if got := c.ZIM.ServerSecret.Value(); got != tt.wantSecret {
				t.Errorf("server secret = %q, want %q", got, tt.wantSecret)
			}
			if got := c.Kafka.SASL.Password.Value(); got != tt.wantPassword {
				t.Errorf("sasl password = %q, want %q", got, tt.wantPassword)
			}
		})
	}
}

func TestSecretSourceProblems(t *testing.T) {
	dir := t.TempDir()
	empty := writeFileIn(t, dir, "empty", "\n")
	secretFile := writeFileIn(t, dir, "secret", "file-secret")
	big := writeFileIn(t, dir, "big", strings.Repeat("x", 64<<10+1))
	missing := filepath.Join(dir, "missing")
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		want []string
	}{
		{
			name: "secret file missing",
			env:  map[string]string{"RECEIPTD_ZIM_SERVER_SECRET_FILE": missing},
			want: []string{"zim.server_secret_file: open " + missing + ": no such file or directory"},
		},
		{
			name: "secret file empty",
			env:  map[string]string{"RECEIPTD_ZIM_SERVER_SECRET_FILE": empty},
			want: []string{"zim.server_secret_file: " + empty + " is empty"},
		},
		{
			name: "secret file too big",
			env:  map[string]string{"RECEIPTD_ZIM_SERVER_SECRET_FILE": big},
			want: []string{"zim.server_secret_file: " + big + " is larger than 65536 bytes; is it the right file?"},
		},
		{
			name: "secret in env and file in yaml",
			yaml: "zim:\n  server_secret_file: " + secretFile + "\n",
			env:  map[string]string{"RECEIPTD_ZIM_SERVER_SECRET": "env-secret"},
			want: []string{"zim.server_secret (set by RECEIPTD_ZIM_SERVER_SECRET) and zim.server_secret_file (set by c.yaml:2) are both set; set only one"},
		},
		{
			name: "password and password file both in yaml",
			yaml: "kafka:\n  sasl:\n    mechanism: plain\n    username: u\n    password: yaml-pw\n    password_file: " + secretFile + "\n",
			env:  map[string]string{"RECEIPTD_ZIM_SERVER_SECRET": "s"},
			want: []string{"kafka.sasl.password (set by c.yaml:5) and kafka.sasl.password_file (set by c.yaml:6) are both set; set only one"},
		},
		{
			name: "no secret at all",
			want: []string{"zim.server_secret is required: the ServerSecret of the app in the ZEGOCLOUD console; set RECEIPTD_ZIM_SERVER_SECRET, or zim.server_secret_file (RECEIPTD_ZIM_SERVER_SECRET_FILE)"},
		},
		{
			name: "sasl without password",
			env:  map[string]string{"RECEIPTD_ZIM_SERVER_SECRET": "s", "RECEIPTD_KAFKA_SASL_MECHANISM": "scram-sha-512", "RECEIPTD_KAFKA_SASL_USERNAME": "u"},
			want: []string{"kafka.sasl.password is required with kafka.sasl.mechanism SCRAM-SHA-512: set RECEIPTD_KAFKA_SASL_PASSWORD, or kafka.sasl.password_file (RECEIPTD_KAFKA_SASL_PASSWORD_FILE)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, err := loadYAML(t, tt.yaml, env(map[string]string{"RECEIPTD_ZIM_APP_ID": "1"}, tt.env))
			wantProblems(t, err, path, tt.want)
			for _, secret := range []string{"env-secret", "yaml-pw", "file-secret"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error reveals secret %q: %v", secret, err)
				}
			}
		})
	}
}

func TestSecretFormatting(t *testing.T) {
	const value = "hunter2-credential"
	s := secret.Secret(value)
	c := valid()
	c.ZIM.ServerSecret = s
	c.Kafka.SASL.Password = s
	outputs := map[string]string{
		"%v":         fmt.Sprintf("%v", s),
		"%s":         fmt.Sprintf("%s", s),
		"%q":         fmt.Sprintf("%q", s),
		"%x":         fmt.Sprintf("%x", s),
		"%X":         fmt.Sprintf("%X", s),
		"%d":         fmt.Sprintf("%d", s),
		"%#v":        fmt.Sprintf("%#v", s),
		"%10.3s":     fmt.Sprintf("%10.3s", s),
		"String":     s.String(),
		"config%v":   fmt.Sprintf("%v", c),
		"config%+v":  fmt.Sprintf("%+v", c),
		"config%#v":  fmt.Sprintf("%#v", c),
		"pointer%+v": fmt.Sprintf("%+v", &c),
		"error%v":    fmt.Errorf("wrapped: %v", c.ZIM).Error(),
	}
	j, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	outputs["json"] = string(j)
	y, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	outputs["yaml"] = string(y)
	text, err := s.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	outputs["text"] = string(text)
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("cfg", "secret", s, "zim", c.ZIM)
	outputs["slog"] = logged.String()
	for name, out := range outputs {
		if strings.Contains(out, value) || strings.Contains(out, fmt.Sprintf("%x", value)) {
			t.Errorf("%s reveals the secret: %s", name, out)
		}
	}
	for _, name := range []string{"%v", "%s", "String", "text"} {
		if outputs[name] != "[REDACTED]" {
			t.Errorf("%s = %q, want [REDACTED]", name, outputs[name])
		}
	}
	if want := `secret.Secret("[REDACTED]")`; outputs["%#v"] != want {
		t.Errorf("%%#v = %q, want %q", outputs["%#v"], want)
	}
	if !strings.Contains(outputs["json"], `"ServerSecret":"[REDACTED]"`) {
		t.Errorf("json does not show the secret as redacted: %s", outputs["json"])
	}
	if !strings.Contains(outputs["yaml"], "server_secret: '[REDACTED]'") {
		t.Errorf("yaml does not show the secret as redacted: %s", outputs["yaml"])
	}
	if s.Value() != value {
		t.Errorf("Value() = %q, want the credential", s.Value())
	}
	// An empty secret prints as empty, so an operator can tell "unset" from "set".
	if got := fmt.Sprintf("%v|%s", secret.Secret(""), secret.Secret("")); got != "|" {
		t.Errorf("empty secret prints %q, want empty", got)
	}
}

func TestRedacted(t *testing.T) {
	c := valid()
	c.Kafka.SASL = config.SASLConfig{Mechanism: "PLAIN", Username: "svc", Password: "kafka-pw-123", PasswordFile: "/run/secrets/pw"}
	c.ZIM.Endpoint = "https://user:endpoint-pw-123@zim-api.zego.im/"
	c.Shutdown.DrainTimeout = 2 * time.Hour
	r := c.Redacted()
	want := map[string]any{
		"zim.server_secret":           "[REDACTED]",
		"kafka.sasl.password":         "[REDACTED]",
		"kafka.sasl.password_file":    "/run/secrets/pw",
		"kafka.sasl.username":         "svc",
		"zim.app_id":                  uint32(1234567),
		"kafka.brokers":               []string{"127.0.0.1:9092"},
		"worker.systemic_backoff_max": "5m",
		"worker.linger":               "200ms",
		"kafka.tls.enabled":           false,
		"kafka.fetch_max_bytes":       1048576,
		"http.listen":                 ":8080",
	}
	for k, v := range want {
		if got, ok := r[k]; !ok || fmt.Sprint(got) != fmt.Sprint(v) || fmt.Sprintf("%T", got) != fmt.Sprintf("%T", v) {
			t.Errorf("Redacted()[%q] = %#v, want %#v", k, got, v)
		}
	}
	if len(r) != len(config.EnvVars()) {
		t.Errorf("Redacted() has %d keys, want one per key (%d)", len(r), len(config.EnvVars()))
	}
	out := fmt.Sprint(r)
	for _, secret := range []string{testSecret, "kafka-pw-123", "endpoint-pw-123"} {
		if strings.Contains(out, secret) {
			t.Errorf("Redacted() reveals %q: %s", secret, out)
		}
	}
	// Changing the returned list must not change the configuration.
	r["kafka.brokers"].([]string)[0] = "x:1"
	if c.Kafka.Brokers[0] != "127.0.0.1:9092" {
		t.Errorf("Redacted() shares kafka.brokers with the config")
	}

	empty := config.Default().Redacted()
	if empty["zim.server_secret"] != "" {
		t.Errorf("unset secret redacts to %q, want empty", empty["zim.server_secret"])
	}
}

// Whatever the operator gets wrong, no problem message repeats a secret.
func TestProblemsNeverRevealSecrets(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef"
	tests := []struct {
		name string
		yaml string
		env  map[string]string
	}{
		{"unclosed quote after secret", "zim:\n  server_secret: \"" + secret + "\n  app_id: 1\n", nil},
		{"secret followed by bad indentation", "zim:\n  server_secret: " + secret + "\n   app_id: 1\n", nil},
		{"secret line without colon", "zim:\n  app_id: 1\n  server_secret " + secret + "\n", nil},
		{"secret with a colon inside", "zim:\n  server_secret: ab: " + secret + "\n", nil},
		{"secret in a list", "zim:\n  server_secret: [" + secret + "\n", nil},
		{"secret as a list", "zim:\n  server_secret: [" + secret + "]\n", nil},
		{"secret in tab-indented yaml", "zim:\n\tserver_secret: " + secret + "\n", nil},
		{"secret pasted as app id", "zim:\n  app_id: " + secret + "\n", nil},
		{"secret pasted as duration in env", "", map[string]string{"RECEIPTD_ZIM_REQUEST_TIMEOUT": secret}},
		{"secret pasted into an enum", "kafka:\n  start_offset: " + secret + "\n", map[string]string{"RECEIPTD_ZIM_SERVER_SECRET": secret}},
		{"secret pasted into the endpoint", "zim:\n  endpoint: " + secret + "\n", map[string]string{"RECEIPTD_ZIM_SERVER_SECRET": secret}},
		{"secret in endpoint user info", "zim:\n  endpoint: https://u:" + secret + "@zim-api.zego.im/\n", nil},
		{"secret with both sources", "zim:\n  server_secret: " + secret + "\n  server_secret_file: /nonexistent\n", nil},
		{"sasl password without mechanism", "kafka:\n  sasl:\n    password: " + secret + "\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.yaml != "" {
				path = writeFile(t, "c.yaml", tt.yaml)
			}
			_, err := config.Load(path, env(tt.env))
			if err == nil {
				t.Fatal("Load succeeded; the case must contain a mistake")
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), secret[:12]) {
				t.Errorf("error reveals the secret:\n%v", err)
			}
		})
	}
}
