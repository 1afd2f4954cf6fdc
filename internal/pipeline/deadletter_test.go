package pipeline_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/receiptd/receiptd/internal/sandbox"
	"github.com/receiptd/receiptd/internal/traffic"
	"github.com/receiptd/receiptd/zimapi/zimfake"
)

// setDLQLimit sets the sandbox dead-letter topic's max.message.bytes.
func setDLQLimit(t *testing.T, box *sandbox.Sandbox, n int) {
	t.Helper()
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	cl := &kafka.Client{Addr: kafka.TCP(box.Brokers...), Transport: tr, Timeout: 10 * time.Second}
	resp, err := cl.AlterConfigs(context.Background(), &kafka.AlterConfigsRequest{Resources: []kafka.AlterConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: "message-read-dlq",
		Configs: []kafka.AlterConfigRequestConfig{{Name: "max.message.bytes", Value: strconv.Itoa(n)}},
	}}})
	if err == nil {
		for _, e := range resp.Errors {
			if e != nil {
				err = e
			}
		}
	}
	if err != nil {
		t.Fatalf("set max.message.bytes of the dead-letter topic: %v", err)
	}
}

// A dead-letter topic that refuses even a letter cut to receiptd's headers
// pauses dead-letter writes loudly: /readyz says why, the gauge is 1, the
// error is logged; valid records keep flowing. Once the topic takes letters
// again, writes resume by themselves and every record is done.
func TestPipelineDeadLetterPauseIsLoudAndClears(t *testing.T) {
	zcfg := zimfake.DefaultConfig()
	zcfg.RPS = 0
	h := start(t, zcfg, nil)
	waitFor(t, "/readyz", 30*time.Second, func() bool { code, _ := h.get(t, "/readyz"); return code == http.StatusOK })
	setDLQLimit(t, h.box, 200) // smaller than receiptd's headers alone

	tcfg := traffic.DefaultConfig()
	tcfg.Users, tcfg.Groups = 50, 10
	tcfg.MalformedFraction, tcfg.FailingFraction = 0.1, 0
	tally := produce(t, h.box, tcfg, 500)
	malformed := uint64(tally.Malformed())
	if malformed == 0 {
		t.Fatal("the traffic holds no malformed record")
	}
	waitFor(t, "the dead-letter pause", 30*time.Second, func() bool {
		code, body := h.get(t, "/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "dead-letter writes paused")
	})
	waitFor(t, "every valid record", 30*time.Second, func() bool {
		return h.p.RecordsDone() == 500-malformed
	})
	if _, metrics := h.get(t, "/metrics"); !strings.Contains(metrics, "receiptd_dead_letter_paused 1") {
		t.Error("/metrics lacks receiptd_dead_letter_paused 1 during the pause")
	}
	if h.logs.FilterMessageSnippet("dead-letter writes paused").Len() != 1 {
		t.Errorf("%d pause lines logged, want 1", h.logs.FilterMessageSnippet("dead-letter writes paused").Len())
	}

	setDLQLimit(t, h.box, 1048588)
	waitFor(t, "every record", time.Minute, func() bool { return h.p.RecordsDone() == 500 })
	waitFor(t, "/readyz", 10*time.Second, func() bool { code, _ := h.get(t, "/readyz"); return code == http.StatusOK })
	if _, metrics := h.get(t, "/metrics"); !strings.Contains(metrics, "receiptd_dead_letter_paused 0") {
		t.Error("/metrics lacks receiptd_dead_letter_paused 0 after the pause")
	}
	if h.logs.FilterMessageSnippet("dead-letter writes resumed").Len() == 0 {
		t.Error("the end of the pause was not logged")
	}
	if n, _ := h.box.Count(context.Background(), "message-read-dlq"); n < int64(malformed) {
		t.Errorf("the dead-letter topic holds %d records, want the %d malformed ones", n, malformed)
	}
}
