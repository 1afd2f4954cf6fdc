package zimapi_test

import (
	"regexp"
	"testing"

	"github.com/receiptd/receiptd/internal/secret"
	"github.com/receiptd/receiptd/zimapi"
)

func TestSign(t *testing.T) {
	tests := []struct {
		name      string
		appID     uint32
		nonce     string
		secret    secret.Secret
		timestamp int64
		want      string
	}{
		{
			// Published by ZEGO in "Accessing Server APIs".
			name: "ZEGO vector", appID: 12345, nonce: "4fd24687296dd9f3",
			secret: "9193cc662a4c0ec135ec71fb57194b38", timestamp: 1615186943,
			want: "43e5cfcca828314675f91b001390566a",
		},
		{
			// md5("4294967295" + "0000000000000000" + "s" + "0"), by md5sum(1).
			name: "largest AppId, zero timestamp", appID: 4294967295, nonce: "0000000000000000",
			secret: "s", timestamp: 0,
			want: "ef0a22e57ee127f5559632f3b467f90a",
		},
		{
			// md5("1" + "abcdef0123456789" + "sec-ret-" + "9223372036854775807"), by md5sum(1).
			name: "largest timestamp", appID: 1, nonce: "abcdef0123456789",
			secret: "sec-ret-", timestamp: 9223372036854775807,
			want: "145776205249f3b5b1a4022848378a67",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := zimapi.Sign(tt.appID, tt.nonce, tt.secret, tt.timestamp); got != tt.want {
				t.Errorf("Sign = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestNewNonceIsFreshHex(t *testing.T) {
	hex16 := regexp.MustCompile(`^[0-9a-f]{16}$`)
	seen := make(map[string]bool)
	for range 10000 {
		n := zimapi.NewNonce()
		if !hex16.MatchString(n) {
			t.Fatalf("nonce %q is not 16 lower-case hex characters", n)
		}
		if seen[n] {
			t.Fatalf("nonce %q repeated", n)
		}
		seen[n] = true
	}
}
