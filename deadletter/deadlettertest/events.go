package deadlettertest

import (
	"slices"
	"sync"

	"github.com/receiptd/receiptd/deadletter"
)

// Events is a deadletter.Observer and a deadletter.StageObserver that keeps
// every event it is told, each kind in order. The zero value is ready.
type Events struct {
	writeFailed Log[deadletter.WriteFailed]
	limits      Log[deadletter.LimitLearned]
	truncated   Log[deadletter.Truncated]
	errs        Log[deadletter.ErrorEvent]
	pauses      Log[deadletter.PauseEvent]
}

// WriteFailed, LimitLearned and Truncated implement deadletter.Observer.
func (e *Events) WriteFailed(ev deadletter.WriteFailed)   { e.writeFailed.Add(ev) }
func (e *Events) LimitLearned(ev deadletter.LimitLearned) { e.limits.Add(ev) }
func (e *Events) Truncated(ev deadletter.Truncated)       { e.truncated.Add(ev) }

// OnDeadLetterError and OnDeadLetterPause implement
// deadletter.StageObserver.
func (e *Events) OnDeadLetterError(ev deadletter.ErrorEvent) { e.errs.Add(ev) }
func (e *Events) OnDeadLetterPause(ev deadletter.PauseEvent) { e.pauses.Add(ev) }

// WriteFailures, Limits, Truncations, Errors and Pauses return the events
// of their kind told so far, in order.
func (e *Events) WriteFailures() []deadletter.WriteFailed { return e.writeFailed.All() }
func (e *Events) Limits() []deadletter.LimitLearned       { return e.limits.All() }
func (e *Events) Truncations() []deadletter.Truncated     { return e.truncated.All() }
func (e *Events) Errors() []deadletter.ErrorEvent         { return e.errs.All() }
func (e *Events) Pauses() []deadletter.PauseEvent         { return e.pauses.All() }

// Log keeps events of one kind in the order they come, for the observers
// of tests. The zero value is empty and ready.
type Log[E any] struct {
	mu   sync.Mutex
	list []E
}

// Add appends ev.
func (l *Log[E]) Add(ev E) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.list = append(l.list, ev)
}

// All returns a copy of the events added so far.
func (l *Log[E]) All() []E {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.list)
}
