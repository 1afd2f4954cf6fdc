package worker

// New's optional collaborators. An Option only sets a field of the Worker
// New is building, before any goroutine sees it.

// An Option sets an optional collaborator of the Worker New returns.
type Option interface {
	apply(*Worker)
}

type optionFunc func(*Worker)

func (f optionFunc) apply(w *Worker) { f(w) }

// WithPacer makes every request wait for p's grant. Without it, or with a
// nil p, the Worker sends as fast as its callers can: for tests and
// benchmarks only.
func WithPacer(p Pacer) Option {
	return optionFunc(func(w *Worker) { w.pacer = p })
}

// WithObserver tells obs what the Worker does. Without it, or with a nil
// obs, nothing is told (NopObserver).
func WithObserver(obs Observer) Option {
	return optionFunc(func(w *Worker) {
		if obs != nil {
			w.obs = obs
		}
	})
}
