// Package httpcall holds the one HTTP round trip that the tests of several
// packages make to a server they started: send a request without a body,
// and look at the status and the body of the answer.
package httpcall

import (
	"io"
	"net/http"
	"testing"
)

// Do sends a method request to url with c and returns the answer's status
// and body. A request that cannot be sent, or an answer whose body cannot
// be read, fails the test; any status is returned for the test to judge.
// Call it from the test's goroutine.
func Do(t testing.TB, c *http.Client, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read the body: %v", method, url, err)
	}
	return resp.StatusCode, string(b)
}
