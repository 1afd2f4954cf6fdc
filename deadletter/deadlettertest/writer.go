// Package deadlettertest provides fakes for the tests of the dead-letter
// stage and of the worker that feeds it: a deadletter.LetterWriter, and
// observers that keep the events they are told.
//
// Lock and goroutine contract: a Writer's fields are guarded by its mutex,
// and each kind of an Events' by its own; every method is safe for
// concurrent use. DeadLetter waits for a blocked write's channel, or for
// ctx, without the mutex.
package deadlettertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/receiptd/receiptd/deadletter"
)

// The errors a Writer fails with.
var (
	ErrBrokerDown = errors.New("dlq broker down") // transient
	ErrTooLarge   = fmt.Errorf("message too large even when cut: %w", deadletter.ErrRefused)
)

// Writer keeps the letters it is given. The zero value writes everything
// at once.
type Writer struct {
	mu       sync.Mutex
	failures int           // the next writes that fail with ErrBrokerDown
	block    chan struct{} // when set, writes wait for it to close
	refuse   func(deadletter.Letter) bool
	sizes    []int // letters per write, failed writes included
	letters  []deadletter.Letter
}

// DeadLetter implements deadletter.LetterWriter.
func (d *Writer) DeadLetter(ctx context.Context, ls []deadletter.Letter) error {
	d.mu.Lock()
	block := d.block
	d.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sizes = append(d.sizes, len(ls))
	if d.failures > 0 {
		d.failures--
		return ErrBrokerDown
	}
	for _, l := range ls {
		if d.refuse != nil && d.refuse(l) {
			return ErrTooLarge
		}
	}
	d.letters = append(d.letters, ls...)
	return nil
}

// FailNext makes the next n writes fail with ErrBrokerDown.
func (d *Writer) FailNext(n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failures = n
}

// SetBlock makes the writes that begin from now on wait until ch is closed;
// nil stops blocking the later ones.
func (d *Writer) SetBlock(ch chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.block = ch
}

// SetRefuse names the letters the topic refuses: a write that holds one
// fails with ErrTooLarge and writes nothing. nil refuses none.
func (d *Writer) SetRefuse(f func(deadletter.Letter) bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.refuse = f
}

// Letters returns the letters written, in order.
func (d *Writer) Letters() []deadletter.Letter {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.letters)
}

// Sizes returns the number of letters of every write, in order.
func (d *Writer) Sizes() []int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.sizes)
}
