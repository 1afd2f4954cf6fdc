package config

// The checks Validate is made of: the checker that collects broken rules with
// their keys, and the value checks (addresses, topic names, the endpoint,
// readable files). Plain functions; a checker belongs to one Validate call.

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// checker collects broken rules.
type checker struct{ ps []problem }

func (ck *checker) addf(keys []string, format string, args ...any) {
	ck.ps = append(ck.ps, problem{keys: keys, text: fmt.Sprintf(format, args...)})
}

func (ck *checker) positive(key string, d time.Duration) {
	if d <= 0 {
		ck.addf([]string{key}, "%s (%s) must be greater than 0", key, formatDuration(d))
	}
}

func (ck *checker) atLeast(key string, d, least time.Duration) {
	if d < least {
		ck.addf([]string{key}, "%s (%s) must be at least %s", key, formatDuration(d), formatDuration(least))
	}
}

func (ck *checker) intBetween(key string, n, lo, hi int) {
	if n < lo || n > hi {
		ck.addf([]string{key}, "%s (%d) must be between %d and %d", key, n, lo, hi)
	}
}

func (ck *checker) intAtLeast(key string, n, least int) {
	if n < least {
		ck.addf([]string{key}, "%s (%d) must be at least %d", key, n, least)
	}
}

func (ck *checker) oneOf(key, value string, allowed ...string) {
	for _, a := range allowed {
		if value == a {
			return
		}
	}
	ck.addf([]string{key}, "%s (%q) must be one of %s", key, value, strings.Join(allowed, ", "))
}

// notBelow reports hi < lo for two related durations, skipping the comparison when
// lo is itself invalid and already reported.
func (ck *checker) notBelow(hiKey string, hi time.Duration, loKey string, lo time.Duration) {
	if lo > 0 && hi < lo {
		ck.addf([]string{hiKey, loKey}, "%s (%s) must be at least %s (%s)", hiKey, formatDuration(hi), loKey, formatDuration(lo))
	}
}

// envOf names the environment variable of a key.
func envOf(key string) string { return envName(key) }

// checkHostPort accepts host:port with a numeric port; the host may be empty only
// for a listen address.
func checkHostPort(addr string, listen bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("must be host:port")
	}
	if host == "" && !listen {
		return errors.New("has no host; must be host:port")
	}
	lowest := uint64(1)
	if listen {
		lowest = 0
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n < lowest {
		return fmt.Errorf("has port %q; must be a number from %d to 65535", port, lowest)
	}
	return nil
}

// checkTopic applies Kafka's rules for topic names.
func checkTopic(name string) error {
	switch {
	case name == "":
		return errors.New("is required")
	case len(name) > 249:
		return errors.New("is longer than Kafka's 249 characters")
	case name == "." || name == "..":
		return errors.New("is not a legal Kafka topic name")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return errors.New("may hold only letters, digits, '.', '_' and '-'")
		}
	}
	return nil
}

// checkEndpoint requires an absolute https URL, or http to a loopback host (a local
// simulator). It never quotes a user name or password found in the URL.
func checkEndpoint(raw string) error {
	if raw == "" {
		return errors.New("is required, such as \"https://zim-api.zego.im/\"")
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("is not a valid URL: %v", err)
	}
	if u.User != nil {
		return errors.New("must not hold a user name or password; ZIM requests are signed with zim.server_secret")
	}
	if u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("(%q) must be an absolute URL, such as \"https://zim-api.zego.im/\"", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("(%q) must not have a query or fragment; receiptd builds the query string itself", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("(%q) must use https; http is allowed only to 127.0.0.1, localhost or ::1", raw)
	}
	return fmt.Errorf("(%q) must use https", raw)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkReadable opens path to prove the process can read it.
func checkReadable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.IsDir() {
		return fmt.Errorf("%s is a directory, not a file", path)
	}
	return nil
}
