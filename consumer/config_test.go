package consumer_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/receiptd/receiptd/consumer"
)

func TestConfigValidateListsEveryProblem(t *testing.T) {
	cfg := consumer.Config{
		Brokers:               []string{""},
		Topic:                 "t",
		DLQTopic:              "t",
		StartOffset:           "middle",
		CommitInterval:        -time.Second,
		HeartbeatInterval:     40 * time.Second,
		RebalanceDrainTimeout: time.Minute,
		FetchMaxBytes:         -1,
		Limits:                consumer.Limits{MaxIDLength: -1},
	}
	err := cfg.Validate()
	var ce *consumer.ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("Validate = %v, want a *ConfigError", err)
	}
	want := []string{
		"brokers[0]: empty",
		`dlq_topic: must differ from topic "t"`,
		"group_id: empty",
		`start_offset: "middle" is not earliest or latest`,
		"commit_interval: -1s is negative",
		"heartbeat_interval: 40s must be below session_timeout 30s",
		"rebalance_drain_timeout: 1m0s must be below rebalance_timeout 30s",
		"fetch_max_bytes: -1 is negative",
		"max_id_length: -1 is negative",
	}
	if strings.Join(ce.Problems, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(ce.Problems, "\n"), strings.Join(want, "\n"))
	}
	if !strings.HasPrefix(err.Error(), "invalid consumer configuration: brokers[0]: empty; dlq_topic") {
		t.Errorf("error message %q", err)
	}
	if _, err := consumer.New(cfg, newFakeStages(newLedger(), 1), nil); !errors.As(err, &ce) {
		t.Errorf("New with a bad config = %v, want the *ConfigError", err)
	}
}

func TestDefaultConfig(t *testing.T) {
	cfg := consumer.DefaultConfig()
	if cfg.StartOffset != consumer.StartEarliest || cfg.CommitInterval != time.Second || cfg.RebalanceTimeout != 30*time.Second ||
		cfg.DrainTimeout != 25*time.Second || cfg.Limits.MaxIDLength != 128 || cfg.Limits.MaxSeqsPerEvent != 1000 || cfg.ClientID != "receiptd" {
		t.Errorf("DefaultConfig = %+v", cfg)
	}
	cfg.Brokers, cfg.Topic, cfg.DLQTopic, cfg.GroupID = []string{"127.0.0.1:9092"}, "a", "b", "g"
	if err := cfg.Validate(); err != nil {
		t.Errorf("DefaultConfig with brokers, topics and group: %v", err)
	}
}

// Both drains run after the generation has ended, when kafka-go sends no
// heartbeat: each must end before the session expires.
func TestDrainsMustEndWithinTheSession(t *testing.T) {
	tests := []struct {
		name             string
		drain, rebalance time.Duration
		want             []string
	}{
		{"both within", 5 * time.Second, 4 * time.Second, nil},
		{"shutdown drain too long", 6 * time.Second, 4 * time.Second,
			[]string{"drain_timeout: 6s plus heartbeat_interval 1s must be below session_timeout 7s"}},
		{"rebalance drain too long", 5 * time.Second, 6 * time.Second,
			[]string{"rebalance_drain_timeout: 6s plus heartbeat_interval 1s must be below session_timeout 7s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := consumer.DefaultConfig()
			cfg.Brokers, cfg.Topic, cfg.DLQTopic, cfg.GroupID = []string{"127.0.0.1:9092"}, "a", "b", "g"
			cfg.SessionTimeout, cfg.HeartbeatInterval = 7*time.Second, time.Second
			cfg.DrainTimeout, cfg.RebalanceDrainTimeout = tt.drain, tt.rebalance
			var got []string
			var ce *consumer.ConfigError
			if err := cfg.Validate(); errors.As(err, &ce) {
				got = ce.Problems
			} else if err != nil {
				t.Fatalf("Validate = %v, want a *ConfigError", err)
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("problems %q, want %q", got, tt.want)
			}
		})
	}
}

// The SASL password reaches neither the printed configuration nor errors.
func TestSASLCredentialsAreNeverPrinted(t *testing.T) {
	const password = "hunter2-secret"
	m, err := consumer.NewSASLMechanism(consumer.SASLScramSHA512, "user", password)
	if err != nil {
		t.Fatal(err)
	}
	cfg := consumer.Config{Brokers: []string{"x:1"}, Topic: "a", DLQTopic: "b", GroupID: "g", SASL: m}
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), cfg.String()} {
		if strings.Contains(s, password) || !strings.Contains(s, "SCRAM-SHA-512") {
			t.Errorf("printed config %q: want the mechanism and no password", s)
		}
	}
	bad := "pass\u0007word" // SASLprep prohibits control characters
	_, err = consumer.NewSASLMechanism(consumer.SASLScramSHA256, "user", bad)
	if err == nil || strings.Contains(err.Error(), bad) {
		t.Errorf("NewSASLMechanism with a prohibited password = %v, want an error without the password", err)
	}
	if _, err := consumer.NewSASLMechanism("GSSAPI", "u", "p"); err == nil {
		t.Error("NewSASLMechanism accepted GSSAPI")
	}
}

// TLS and each SASL mechanism carry the group, the fetchers and the
// dead-letter writer.
func TestTLSAndSASL(t *testing.T) {
	serverTLS, clientTLS := selfSignedTLS(t)
	for _, mech := range []string{consumer.SASLPlain, consumer.SASLScramSHA256, consumer.SASLScramSHA512} {
		t.Run(mech, func(t *testing.T) {
			const user, password = "receiptd", "s3cret-pw"
			addrs := newCluster(t, 2, kfake.TLS(serverTLS), kfake.EnableSASL(), kfake.Superuser(mech, user, password)).ListenAddrs()
			m, err := consumer.NewSASLMechanism(mech, user, password)
			if err != nil {
				t.Fatal(err)
			}
			cfg := testConfig(addrs, "secure")
			cfg.TLS, cfg.SASL = clientTLS, m

			// Produce through the dead-letter writer's own transport: a
			// plaintext producer could not reach this cluster.
			want := produceSecure(t, cfg, 2, 20)
			l := newLedger()
			stages := newFakeStages(l, 1)
			stages.dlq = newDLQWriter(t, cfg, nil)
			obs, r := startOnFake(t, cfg, stages)
			obs.stopAllCommitted(t, 30*time.Second, want, r)
			if stages.dlqFails != 0 {
				t.Errorf("%d dead-letter writes failed over TLS and SASL", stages.dlqFails)
			}
		})
	}
}

// produceSecure writes n records per partition, record 3 of each invalid,
// with a kafka-go writer using the consumer's TLS and SASL settings.
func produceSecure(t *testing.T, cfg consumer.Config, partitions, n int) produced {
	t.Helper()
	tr := cfg.Transport()
	defer tr.CloseIdleConnections()
	w := &kafka.Writer{Addr: kafka.TCP(cfg.Brokers...), Topic: cfg.Topic, Balancer: partitionFromKey{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond, Transport: tr}
	defer w.Close()
	out := produced{perPartition: map[int]int64{}, invalid: map[int]map[int64]string{}}
	var msgs []kafka.Message
	for p := range partitions {
		out.perPartition[p] = int64(n)
		out.invalid[p] = map[int64]string{}
		for i := range n {
			v := fmt.Sprintf(`{"user_id":"u","group_id":"g","conv_msg_seq":[%d]}`, seqID(p, int64(i)))
			if i == 3 {
				v = "{}"
				out.invalid[p][int64(i)] = v
			}
			msgs = append(msgs, kafka.Message{Key: []byte{byte(p)}, Value: []byte(v)})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce over TLS and SASL: %v", err)
	}
	return out
}

// partitionFromKey sends a message to the partition its one-byte key names.
type partitionFromKey struct{}

func (partitionFromKey) Balance(m kafka.Message, partitions ...int) int { return int(m.Key[0]) }

func selfSignedTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kfake"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}
	client = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return server, client
}
