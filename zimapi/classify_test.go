package zimapi_test

import (
	"math"
	"strings"
	"testing"

	"github.com/receiptd/receiptd/receipt"
	"github.com/receiptd/receiptd/zimapi"
)

// codeTable is docs/zim-api.md's "Return codes" table, row by row, written out
// independently of the package's own table.
var codeTable = []struct {
	class receipt.Class
	codes []int64
}{
	{receipt.ClassSuccess, []int64{0}},
	{receipt.ClassRateLimited, []int64{660300005, 7}},
	{receipt.ClassGroupRateLimited, []int64{660300006}},
	{receipt.ClassTransient, []int64{1, 105001, 100000015, 660000001, 660000003}},
	{receipt.ClassResign, []int64{100000004}},
	{receipt.ClassTooMany, []int64{660400102}},
	{receipt.ClassDeadLetter, []int64{660400103, 660400104, 660000002, 660000022, 660500002,
		660600001, 660600009, 660600024, 660700012, 660700015}},
	{receipt.ClassSystemic, []int64{100000005, 3, 2,
		100000000, 100000001, 100000002, 100000003,
		100000006, 100000007, 100000008, 100000009, 100000010, 100000011, 100000012, 100000013, 100000014,
		100000016, 100000017, 660000028}},
	{receipt.ClassUnknown, []int64{-1, 4, 5, 6, 8, 105002, 99999999, 100000018, 660000004,
		660300007, 660400101, 660400105, math.MaxInt64, math.MinInt64}},
}

func TestClassifyEveryDocumentedCode(t *testing.T) {
	for _, row := range codeTable {
		for _, code := range row.codes {
			if got := zimapi.Classify(code); got != row.class {
				t.Errorf("Classify(%d) = %s, want %s", code, got, row.class)
			}
		}
	}
}

// TestCodesTable: the exported table agrees with Classify, lists each code
// once, and carries the operator's hint for the codes whose cause is usually
// on receiptd's side or in its data.
func TestCodesTable(t *testing.T) {
	seen := map[int64]bool{}
	for _, c := range zimapi.Codes() {
		if seen[c.Code] {
			t.Errorf("code %d is listed twice", c.Code)
		}
		seen[c.Code] = true
		if got := zimapi.Classify(c.Code); got != c.Class {
			t.Errorf("Classify(%d) = %s, the table says %s", c.Code, got, c.Class)
		}
		if got := zimapi.Hint(c.Code); got != c.Hint {
			t.Errorf("Hint(%d) = %q, the table says %q", c.Code, got, c.Hint)
		}
	}
	for _, row := range codeTable {
		for _, code := range row.codes {
			if seen[code] != (row.class != receipt.ClassUnknown) {
				t.Errorf("code %d (%s): listed in Codes() = %v", code, row.class, seen[code])
			}
		}
	}
	hinted := map[int64]string{ // a word each hint must contain
		1: "busy", 7: "system-wide", 100000004: "clock", 100000005: "server_secret",
		660300005: "rate_limit_rps", 660300006: "group", 660400102: "max_seqs_per_call",
		660400103: "DLQ", 660400104: "DLQ", 660000002: "DLQ",
	}
	for code, word := range hinted {
		if h := zimapi.Hint(code); !strings.Contains(h, word) {
			t.Errorf("Hint(%d) = %q, want advice mentioning %q", code, h, word)
		}
	}
	for _, code := range []int64{0, 3, 105001, 123456} {
		if h := zimapi.Hint(code); h != "" {
			t.Errorf("Hint(%d) = %q, want none", code, h)
		}
	}
}

// TestClassifyStatus: answers that are not 2xx are classified by their
// status: configuration problems (wrong endpoint, refused credentials, a
// proxy refusing) are systemic, 429 is a rate limit, and server trouble is
// transient.
func TestClassifyStatus(t *testing.T) {
	tests := []struct {
		give int
		want receipt.Class
	}{
		{301, receipt.ClassSystemic}, // the endpoint moved; receiptd never follows a redirect
		{302, receipt.ClassSystemic},
		{308, receipt.ClassSystemic},
		{400, receipt.ClassTransient},
		{401, receipt.ClassSystemic},
		{403, receipt.ClassSystemic},
		{404, receipt.ClassSystemic},
		{405, receipt.ClassSystemic},
		{407, receipt.ClassSystemic},
		{408, receipt.ClassTransient},
		{409, receipt.ClassTransient},
		{429, receipt.ClassRateLimited},
		{500, receipt.ClassTransient},
		{502, receipt.ClassTransient},
		{503, receipt.ClassTransient},
		{504, receipt.ClassTransient},
		{599, receipt.ClassTransient},
		{100, receipt.ClassTransient},
	}
	for _, tt := range tests {
		if got := zimapi.ClassifyStatus(tt.give); got != tt.want {
			t.Errorf("ClassifyStatus(%d) = %s, want %s", tt.give, got, tt.want)
		}
	}
}
