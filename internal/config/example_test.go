package config_test

import (
	"errors"
	"fmt"

	"github.com/receiptd/receiptd/internal/config"
)

func ExampleLoad() {
	env := map[string]string{
		"RECEIPTD_ZIM_APP_ID":    "1234567",
		"RECEIPTD_WORKER_LINGER": "soon",
	}
	lookup := func(name string) (string, bool) { v, ok := env[name]; return v, ok }

	_, err := config.Load("", lookup)
	var pe *config.ProblemsError
	if errors.As(err, &pe) {
		for _, p := range pe.Problems {
			fmt.Println(p)
		}
	}
	// Output:
	// RECEIPTD_WORKER_LINGER: worker.linger must be a duration such as 250ms, 30s or 5m
	// zim.server_secret is required: the ServerSecret of the app in the ZEGOCLOUD console; set RECEIPTD_ZIM_SERVER_SECRET, or zim.server_secret_file (RECEIPTD_ZIM_SERVER_SECRET_FILE)
}
