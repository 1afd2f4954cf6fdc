package retry

// Sleep is the one context-aware wait of the module. It starts no
// goroutine and holds no lock; its timer is stopped before it returns.

import (
	"context"
	"time"
)

// Sleep waits for d or until ctx ends, whichever comes first, and returns
// ctx's error if ctx ended first. A d of zero or less does not wait, and
// returns ctx's error if ctx has ended.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	return sleep(ctx, d, nil)
}

// sleep waits for d (forever when d < 0), for wake, or for ctx. A nil wake
// never fires.
func sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) error {
	var timeout <-chan time.Time
	if d >= 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timeout:
	case <-wake:
	}
	return nil
}
