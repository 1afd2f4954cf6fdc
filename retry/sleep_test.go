package retry_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/receiptd/receiptd/retry"
)

func TestSleep(t *testing.T) {
	for _, tt := range []struct {
		name      string
		give      time.Duration
		cancelAt  time.Duration // 0: never
		want      error
		wantSlept time.Duration
	}{
		{name: "waits d", give: 3 * time.Second, want: nil, wantSlept: 3 * time.Second},
		{name: "ends with ctx", give: time.Hour, cancelAt: 2 * time.Second, want: context.Canceled, wantSlept: 2 * time.Second},
		{name: "zero does not wait", give: 0, want: nil},
		{name: "negative does not wait", give: -time.Second, want: nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				if tt.cancelAt > 0 {
					time.AfterFunc(tt.cancelAt, cancel)
				}
				start := time.Now()
				err := retry.Sleep(ctx, tt.give)
				if !errors.Is(err, tt.want) {
					t.Fatalf("Sleep(%v) = %v, want %v", tt.give, err, tt.want)
				}
				if slept := time.Since(start); slept != tt.wantSlept {
					t.Fatalf("Sleep(%v) slept %v, want %v", tt.give, slept, tt.wantSlept)
				}
			})
		})
	}
}

func TestSleepAfterCtxEnded(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for _, d := range []time.Duration{0, time.Hour} {
		if err := retry.Sleep(ctx, d); !errors.Is(err, context.Canceled) {
			t.Fatalf("Sleep(%v) after cancel = %v, want context.Canceled", d, err)
		}
	}
}
