package worker

// The memory bound: one slot per record held, by the Worker or by the
// dead-letter stage it hands records to.
//
// Lock and goroutine contract: a Slots is a buffered channel, safe for
// concurrent use without a lock. Acquire may block; Release never does.

import "context"

// Slots bounds the records held by the Worker and the DeadLetterer
// together: Submit takes a slot, and a record gives it back when it is done
// or drained. A record the Worker hands to its DeadLetterer keeps its slot,
// which the DeadLetterer releases.
type Slots struct {
	ch chan struct{}
}

// NewSlots returns n slots.
func NewSlots(n int) *Slots { return &Slots{ch: make(chan struct{}, n)} }

// Acquire takes a slot, blocking while none is free, and returns ctx's
// error if ctx ends first.
func (s *Slots) Acquire(ctx context.Context) error {
	select {
	case s.ch <- struct{}{}:
		return nil
	default:
	}
	select {
	case s.ch <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Release gives back a slot Acquire took.
func (s *Slots) Release() { <-s.ch }

// Cap returns the number of slots.
func (s *Slots) Cap() int { return cap(s.ch) }
