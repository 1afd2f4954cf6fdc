package zimapi_test

import (
	"math"
	"testing"

	"github.com/receiptd/receiptd/zimapi"
)

// codeTable is zim-api.md's "Return codes" table, row by row, written out
// independently of the package's own table.
var codeTable = []struct {
	class zimapi.Class
	codes []int64
}{
	{zimapi.ClassSuccess, []int64{0}},
	{zimapi.ClassRateLimited, []int64{660300005, 7}},
	{zimapi.ClassGroupRateLimited, []int64{660300006}},
	{zimapi.ClassTransient, []int64{1, 105001, 100000015, 660000001, 660000003}},
	{zimapi.ClassResign, []int64{100000004}},
	{zimapi.ClassTooMany, []int64{660400102}},
	{zimapi.ClassDeadLetter, []int64{660400103, 660400104, 660000002, 660000022, 660500002,
		660600001, 660600009, 660600024, 660700012, 660700015}},
	{zimapi.ClassSystemic, []int64{100000005, 3, 2,
		100000000, 100000001, 100000002, 100000003,
		100000006, 100000007, 100000008, 100000009, 100000010, 100000011, 100000012, 100000013, 100000014,
		100000016, 100000017, 660000028}},
	{zimapi.ClassUnknown, []int64{-1, 4, 5, 6, 8, 105002, 99999999, 100000018, 660000004,
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

func TestClassString(t *testing.T) {
	tests := []struct {
		give zimapi.Class
		want string
	}{
		{zimapi.ClassSuccess, "success"},
		{zimapi.ClassRateLimited, "rate_limited"},
		{zimapi.ClassGroupRateLimited, "group_rate_limited"},
		{zimapi.ClassTransient, "transient"},
		{zimapi.ClassResign, "resign"},
		{zimapi.ClassTooMany, "too_many"},
		{zimapi.ClassDeadLetter, "dead_letter"},
		{zimapi.ClassSystemic, "systemic"},
		{zimapi.ClassUnknown, "unknown"},
		{zimapi.Class(200), "class(200)"},
	}
	for _, tt := range tests {
		if got := tt.give.String(); got != tt.want {
			t.Errorf("Class(%d).String() = %q, want %q", tt.give, got, tt.want)
		}
		if b, _ := tt.give.MarshalText(); string(b) != tt.want {
			t.Errorf("Class(%d).MarshalText() = %q, want %q", tt.give, b, tt.want)
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
		want zimapi.Class
	}{
		{301, zimapi.ClassSystemic}, // the endpoint moved; receiptd never follows a redirect
		{302, zimapi.ClassSystemic},
		{308, zimapi.ClassSystemic},
		{400, zimapi.ClassTransient},
		{401, zimapi.ClassSystemic},
		{403, zimapi.ClassSystemic},
		{404, zimapi.ClassSystemic},
		{405, zimapi.ClassSystemic},
		{407, zimapi.ClassSystemic},
		{408, zimapi.ClassTransient},
		{409, zimapi.ClassTransient},
		{429, zimapi.ClassRateLimited},
		{500, zimapi.ClassTransient},
		{502, zimapi.ClassTransient},
		{503, zimapi.ClassTransient},
		{504, zimapi.ClassTransient},
		{599, zimapi.ClassTransient},
		{100, zimapi.ClassTransient},
	}
	for _, tt := range tests {
		if got := zimapi.ClassifyStatus(tt.give); got != tt.want {
			t.Errorf("ClassifyStatus(%d) = %s, want %s", tt.give, got, tt.want)
		}
	}
}
