package secret_test

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/receiptd/receiptd/internal/secret"
)

// TestZapNeverLogsTheValue: receiptd logs through zap; whichever field
// constructor a log line uses, in JSON or console encoding, a Secret shows
// as [REDACTED] and an empty one as empty.
func TestZapNeverLogsTheValue(t *testing.T) {
	const value = "9193cc662a4c0ec135ec71fb57194b38"
	s := secret.Secret(value)
	type cfg struct {
		AppID        uint32
		ServerSecret secret.Secret
	}
	fields := []zap.Field{
		zap.Any("any", s),
		zap.Stringer("stringer", s),
		zap.Reflect("reflect", s),
		zap.Any("struct", cfg{AppID: 1, ServerSecret: s}),
		zap.Any("pointer", &cfg{AppID: 1, ServerSecret: s}),
		zap.Any("map", map[string]any{"kafka.sasl.password": s}),
	}
	for _, enc := range []zapcore.Encoder{
		zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()),
		zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig()),
	} {
		var buf bytes.Buffer
		log := zap.New(zapcore.NewCore(enc, zapcore.AddSync(&buf), zapcore.DebugLevel))
		log.Info("config", fields...)
		log.Info("empty", zap.Any("unset", secret.Secret("")))
		out := buf.String()
		if strings.Contains(out, value) {
			t.Errorf("zap output reveals the secret:\n%s", out)
		}
		if n := strings.Count(out, secret.Redacted); n != len(fields) {
			t.Errorf("zap output shows %d redactions for %d fields:\n%s", n, len(fields), out)
		}
	}
}
