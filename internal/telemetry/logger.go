// Package telemetry is how receiptd reports on itself: zap JSON logs (one
// line per non-success outcome, lifecycle lines, a periodic summary),
// Prometheus metrics, and the /metrics, /healthz and /readyz endpoints. It
// implements the observer interfaces of the worker and the consumer, which
// stay free of zap and Prometheus.
package telemetry

import (
	"fmt"
	"io"
	"os"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// NewLogger returns a JSON logger at level (debug, info, warn or error),
// writing to stderr, with ISO 8601 times. Sampling is off: at 3 a.m. every
// failed call matters, and the API's rate limit bounds their number.
func NewLogger(level string) (*zap.Logger, error) {
	return NewLoggerTo(os.Stderr, level)
}

// NewLoggerTo is NewLogger writing to w.
func NewLoggerTo(w io.Writer, level string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = "time"
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	enc.EncodeDuration = zapcore.StringDurationEncoder
	core := zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.Lock(zapcore.AddSync(w)), lvl)
	return zap.New(core, zap.AddCaller(), zap.AddStacktrace(zapcore.ErrorLevel), zap.ErrorOutput(zapcore.Lock(os.Stderr))), nil
}

// KafkaLoggers adapts l for kafka-go's Logger (chatty: debug) and
// ErrorLogger (error). Convert them with kafka.LoggerFunc.
func KafkaLoggers(l *zap.Logger) (info, errs func(string, ...any)) {
	l = l.Named("kafka-go").WithOptions(zap.AddCallerSkip(1))
	info = func(format string, args ...any) {
		if ce := l.Check(zap.DebugLevel, ""); ce != nil {
			ce.Message = strings.TrimSpace(fmt.Sprintf(format, args...))
			ce.Write()
		}
	}
	errs = func(format string, args ...any) {
		l.Error(strings.TrimSpace(fmt.Sprintf(format, args...)))
	}
	return info, errs
}
