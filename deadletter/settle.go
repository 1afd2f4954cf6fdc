package deadletter

// The writing loop of a Stage: take the queued letters, write them, retry
// what fails, split what the topic refuses, pause on a letter refused even
// alone.
//
// Lock and goroutine contract: one goroutine, Run's, runs everything in
// this file, so a settler's backoff is its own. It takes s.mu
// only in the small helpers at the bottom, never across a write, a sleep
// or an Observer call.

import (
	"context"
	"errors"

	"github.com/cenkalti/backoff/v4"

	"github.com/receiptd/receiptd/retry"
)

// Run writes letters until ctx ends, then returns nil. A record is done
// only after a write that carried its letter returned nil; a failed write
// is retried, never dropped.
func (s *Stage) Run(ctx context.Context) error {
	st := settler{s: s, bo: s.cfg.Backoff.New()}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
		}
		for {
			ls := s.take()
			if len(ls) == 0 {
				break
			}
			if !st.write(ctx, ls) {
				return nil
			}
		}
	}
}

// settler writes letters for Run.
type settler struct {
	s  *Stage
	bo backoff.BackOff
}

// write writes ls until each one is durable or abandoned by Drain, and
// returns false if ctx ended first.
//
// A transient error retries the same letters with backoff. A write the
// topic refuses (ErrRefused) is split: each of its letters is written
// alone, so that one letter cannot hold back the others. Once the others
// are written, the letters refused even alone pause the Stage: each is
// written again with backoff, the letters queued behind them wait, and
// Pause says why, until the topic takes them or a drain hands their records
// back.
func (st *settler) write(ctx context.Context, ls []*letter) bool {
	refused, ok := st.settle(ctx, ls)
	if !ok || len(refused) == 0 {
		return ok
	}
	st.s.pause(refused[0].err, len(refused))
	written := false
	for i, r := range refused {
		// After a letter was written, try the next one at once.
		if written, ok = st.probe(ctx, r, i == 0 || !written); !ok {
			return false
		}
	}
	st.s.resume(written)
	return true
}

// refusal is a letter the topic refused even alone.
type refusal struct {
	l   *letter
	err error
}

// settle writes ls, retrying transient errors and splitting refused
// writes, and returns the letters refused alone, unwritten.
func (st *settler) settle(ctx context.Context, ls []*letter) ([]refusal, bool) {
	s := st.s
	for attempt := 1; ; attempt++ {
		err := s.w.DeadLetter(ctx, letters(ls))
		if err == nil {
			st.bo.Reset()
			s.written(ls)
			return nil, true
		}
		if ctx.Err() != nil {
			return nil, false
		}
		s.countError()
		refused := errors.Is(err, ErrRefused)
		if refused && len(ls) == 1 {
			return []refusal{{ls[0], err}}, true // probe reports it
		}
		if refused {
			s.obs.OnDeadLetterError(ErrorEvent{Err: err, Letters: len(ls), Attempt: attempt, Next: NextSplit})
			var out []refusal
			for _, l := range ls {
				if len(s.stillLive([]*letter{l})) == 0 {
					continue
				}
				r, ok := st.settle(ctx, []*letter{l})
				if !ok {
					return nil, false
				}
				out = append(out, r...)
			}
			return out, true
		}
		d := st.bo.NextBackOff()
		s.obs.OnDeadLetterError(ErrorEvent{Err: err, Letters: len(ls), Attempt: attempt, Next: NextRetry, RetryIn: d})
		if retry.Sleep(ctx, d) != nil {
			return nil, false
		}
		if ls = s.stillLive(ls); len(ls) == 0 {
			return nil, true
		}
	}
}

// probe writes r's letter again until the topic takes it (written) or Drain
// abandons it, backing off before each attempt (but the first, unless wait
// is set). It returns ok false if ctx ended first.
func (st *settler) probe(ctx context.Context, r refusal, wait bool) (written, ok bool) {
	s := st.s
	for attempt := 1; ; attempt++ {
		if wait {
			d := st.bo.NextBackOff()
			s.obs.OnDeadLetterError(ErrorEvent{Err: r.err, Letters: 1, Attempt: attempt, Next: NextPause, RetryIn: d})
			if retry.Sleep(ctx, d) != nil {
				return false, false
			}
		}
		wait = true
		if len(s.stillLive([]*letter{r.l})) == 0 {
			return false, true
		}
		err := s.w.DeadLetter(ctx, letters([]*letter{r.l}))
		if err == nil {
			st.bo.Reset()
			s.written([]*letter{r.l})
			return true, true
		}
		if ctx.Err() != nil {
			return false, false
		}
		s.countError()
		s.pause(err, 1)
		r.err = err
	}
}

func (s *Stage) countError() {
	s.mu.Lock()
	s.counted.WriteErrors++
	s.mu.Unlock()
}

// written completes the live letters of a successful write.
func (s *Stage) written(ls []*letter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range ls {
		if !l.abandoned {
			s.counted.DeadLettered[l.Failure.Class]++
			s.forget(l)
			s.done.Done(l.Record)
		}
	}
}

// pause pauses writes for err, refused letters waiting besides the queued
// ones, telling the observer when the pause begins.
func (s *Stage) pause(err error, refused int) {
	s.mu.Lock()
	began := s.paused == nil
	s.paused = err
	waiting := refused + len(s.queue)
	s.mu.Unlock()
	if began {
		s.obs.OnDeadLetterPause(PauseEvent{Paused: true, Err: err, Letters: waiting})
	}
}

// resume ends the pause; written says whether the last refused letter was
// written or abandoned.
func (s *Stage) resume(written bool) {
	s.mu.Lock()
	err := s.paused
	s.paused = nil
	s.mu.Unlock()
	if err != nil {
		s.obs.OnDeadLetterPause(PauseEvent{Paused: false, Err: err, Written: written})
	}
}

// take removes up to maxLettersPerWrite live letters from the queue.
func (s *Stage) take() []*letter {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*letter
	n := 0
	for ; n < len(s.queue) && len(out) < maxLettersPerWrite; n++ {
		if l := s.queue[n]; !l.abandoned {
			out = append(out, l)
		}
	}
	s.queue = s.queue[n:]
	if len(s.queue) == 0 {
		s.queue = nil
	}
	return out
}

// stillLive drops the letters Drain abandoned while a write was retried.
func (s *Stage) stillLive(ls []*letter) []*letter {
	s.mu.Lock()
	defer s.mu.Unlock()
	live := ls[:0]
	for _, l := range ls {
		if !l.abandoned {
			live = append(live, l)
		}
	}
	return live
}

func letters(ls []*letter) []Letter {
	out := make([]Letter, len(ls))
	for i, l := range ls {
		out[i] = l.Letter
	}
	return out
}
