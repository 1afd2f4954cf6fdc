package zimapi_test

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/receiptd/receiptd/zimapi"
)

// FuzzDecodeResponse checks the decoder's contract on arbitrary bodies: it
// never panics, accepts only valid JSON, agrees with encoding/json on the
// Code of any object with one integer "Code" key, and what it decodes
// survives a round trip.
func FuzzDecodeResponse(f *testing.F) {
	for _, seed := range []string{
		`{"Code":0,"Message":"success","RequestId":"abc","ReadTime":1764150000123}`,
		`{"Code":660300005,"Message":"rate limit","RequestId":"r"}`,
		`{"Code":0,"DeliveredTime":1}`,
		`{"Code":6.6e8}`,
		`{"Code":-1,"Extra":{"nested":[1,2,{"x":null}]}}`,
		`{"Code":null}`,
		`{"Code":"0"}`,
		`{"code":1}`,
		`{}`,
		`[]`,
		``,
		`{"Code":0}{"Code":1}`,
		`{"Code":99999999999999999999}`,
		`{"Code":0,"RequestId":12,"Message":["a"]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := zimapi.DecodeResponse(body)
		if err != nil {
			return
		}
		if !json.Valid(body) {
			t.Fatalf("decoded invalid JSON %q as %+v", body, got)
		}
		if want, ok := referenceCode(body); ok && got.Code != want {
			t.Fatalf("Code = %d, encoding/json says %d, body %q", got.Code, want, body)
		}
		// A decoded answer re-encoded as ZIM would send it decodes the same.
		again, err := json.Marshal(map[string]any{
			"Code": got.Code, "Message": got.Message, "RequestId": got.RequestID,
		})
		if err != nil {
			t.Fatal(err)
		}
		round, err := zimapi.DecodeResponse(again)
		if err != nil || round != got {
			t.Fatalf("round trip of %+v gave %+v, %v", got, round, err)
		}
	})
}

// referenceCode returns the Code of a JSON object whose only key matching
// "code" case-insensitively is "Code" with an integer literal value.
func referenceCode(body []byte) (int64, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return 0, false
	}
	raw, ok := m["Code"]
	if !ok {
		return 0, false
	}
	for k := range m {
		if k != "Code" && strings.EqualFold(k, "Code") {
			return 0, false
		}
	}
	if bytes.Count(body, []byte(`"Code"`)) != 1 { // duplicate keys: last wins, escapes differ
		return 0, false
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	return n, err == nil
}
