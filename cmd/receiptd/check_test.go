package main

import (
	"context"
	"strings"
	"testing"

	"github.com/receiptd/receiptd/internal/sandbox"
	"github.com/receiptd/receiptd/zimapi/zimfake"
)

func TestCheck(t *testing.T) {
	box, err := sandbox.Start(context.Background(), sandbox.Config{ZIM: zimfake.DefaultConfig()})
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	t.Setenv("RECEIPTD_KAFKA_BROKERS", strings.Join(box.Brokers, ","))
	t.Setenv("RECEIPTD_ZIM_ENDPOINT", box.ZIMURL)
	t.Setenv("RECEIPTD_ZIM_APP_ID", "1234567")

	t.Run("everything reachable", func(t *testing.T) {
		t.Setenv("RECEIPTD_ZIM_SERVER_SECRET", sandbox.Secret)
		code, out, errOut := runCLI(t, "check")
		if code != exitOK {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
		for _, want := range []string{"ok config", "ok kafka brokers", "ok source topic message-read has 8 partition(s)",
			"ok dlq topic", "ok dlq limit dead letters up to 1048588 bytes, from the topic's max.message.bytes", "ok group", "ok zim dns", "ok zim credentials signature accepted", "all checks passed"} {
			if !strings.Contains(squeeze(out), want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		if got := box.ZIM.Stats().AcceptedReceipts; got != 0 {
			t.Errorf("the probe set %d receipts", got)
		}
	})
	t.Run("wrong secret and missing topic", func(t *testing.T) {
		t.Setenv("RECEIPTD_ZIM_SERVER_SECRET", "ffffffffffffffffffffffffffffffff")
		t.Setenv("RECEIPTD_KAFKA_DLQ_TOPIC", "no-such-topic")
		code, out, _ := runCLI(t, "check")
		if code != exitFailure {
			t.Fatalf("exit %d, want 1\n%s", code, out)
		}
		for _, want := range []string{"FAIL dlq topic", "no-such-topic", "FAIL zim credentials", "100000005", "some checks failed"} {
			if !strings.Contains(squeeze(out), want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "ffffffff") {
			t.Error("the secret appears in the output")
		}
	})
}
