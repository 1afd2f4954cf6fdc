package telemetry_test

import (
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/receiptd/receiptd/internal/config"
	"github.com/receiptd/receiptd/internal/telemetry"
	"github.com/receiptd/receiptd/receipt"
	"github.com/receiptd/receiptd/worker"
)

// rejectedCall is a failed call whose ZIM message and transport error name
// the reader and the group, as ZIM's messages sometimes do.
var rejectedCall = worker.CallEvent{
	Key:  receipt.Key{Action: receipt.GroupRead, UserID: "alice@example.com", ConvID: "team-42"},
	Seqs: 2, Records: 1, Attempt: 1, Next: worker.NextDeadLetter,
	Result: receipt.Result{Class: receipt.ClassDeadLetter, Code: 660400103, RequestID: "rq-1",
		Message: "user alice@example.com is not a member of group team-42",
		Err:     fmt.Errorf("answer about team-42")},
}

// logCall logs rejectedCall through an observer rendering IDs per mode with
// key and returns the line's fields, all rendered as text.
func logCall(t *testing.T, mode string, key []byte) (map[string]any, string) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	o := telemetry.NewWorkerObserver(zap.New(core), prometheus.NewRegistry(), telemetry.NewLogIDs(mode, key))
	o.OnCall(rejectedCall)
	entries := logs.All()
	if len(entries) != 1 {
		t.Fatalf("%d log lines, want 1", len(entries))
	}
	fields := entries[0].ContextMap()
	return fields, fmt.Sprint(fields)
}

var hashForm = regexp.MustCompile(`^h:[0-9a-f]{16}$`)

func TestLogUserIDs(t *testing.T) {
	key := telemetry.IDHashKey("0123456789abcdef0123456789abcdef")

	t.Run("plain", func(t *testing.T) {
		f, _ := logCall(t, config.LogUserIDsPlain, key)
		if f["user"] != "alice@example.com" || f["conversation"] != "team-42" || f["message"] != rejectedCall.Result.Message {
			t.Errorf("plain: user %v, conversation %v, message %v; want them as they are", f["user"], f["conversation"], f["message"])
		}
	})

	t.Run("hash", func(t *testing.T) {
		f, all := logCall(t, config.LogUserIDsHash, key)
		user, _ := f["user"].(string)
		conv, _ := f["conversation"].(string)
		if !hashForm.MatchString(user) || !hashForm.MatchString(conv) || user == conv {
			t.Errorf("hash: user %q, conversation %q; want two different h:<16 hex digits>", user, conv)
		}
		if strings.Contains(all, "alice") || strings.Contains(all, "team-42") {
			t.Errorf("hash: a plain ID is in the line: %s", all)
		}
		if want := "user " + user + " is not a member of group " + conv; f["message"] != want {
			t.Errorf("hash: message %q, want %q: the IDs in ZIM's message hashed like the fields", f["message"], want)
		}
		if k := hex.EncodeToString(key); strings.Contains(all, k[:16]) {
			t.Error("hash: the key is in the line")
		}
		// Another pod with the same secret: the same hashes, so one user's
		// lines group across pods and restarts.
		again, _ := logCall(t, config.LogUserIDsHash, telemetry.IDHashKey("0123456789abcdef0123456789abcdef"))
		if again["user"] != user || again["conversation"] != conv {
			t.Errorf("hash: same key gives %v/%v, then %v/%v", user, conv, again["user"], again["conversation"])
		}
		other, _ := logCall(t, config.LogUserIDsHash, telemetry.IDHashKey("another secret"))
		if other["user"] == user {
			t.Error("hash: a different key gives the same hash: it is not keyed")
		}
	})

	t.Run("omit", func(t *testing.T) {
		f, all := logCall(t, config.LogUserIDsOmit, key)
		if _, ok := f["user"]; ok {
			t.Error("omit: the line has a user field")
		}
		if _, ok := f["conversation"]; ok {
			t.Error("omit: the line has a conversation field")
		}
		if strings.Contains(all, "alice") || strings.Contains(all, "team-42") {
			t.Errorf("omit: a plain ID is in the line: %s", all)
		}
		if f["code"] != int64(660400103) || f["request_id"] != "rq-1" {
			t.Errorf("omit: the rest of the line is lost: %s", all)
		}
	})
}

// The key is derived from the secret one way: neither the secret nor
// anything that looks like it comes out.
func TestIDHashKeyHidesTheSecret(t *testing.T) {
	secret := "0123456789abcdef0123456789abcdef"
	key := telemetry.IDHashKey(secret)
	if len(key) != 32 || strings.Contains(string(key), secret) || strings.Contains(hex.EncodeToString(key), secret) {
		t.Errorf("IDHashKey(secret) = %x", key)
	}
}
