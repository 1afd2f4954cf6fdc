package consumer

// The per-partition tracker of fetched records. Lock contract: t.mu guards
// every field of tracker below it (the queue of sources, the committed
// offset and what it listed, the epoch, the finished offsets); methods named
// ...Locked require it held, the others take it. logEnd and outstanding are
// atomics. A source's done flag is atomic, so its Done (the record's
// Completion) is safe from any goroutine and takes no lock at all.

import (
	"iter"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/receiptd/receiptd/worker"
)

// Completer tells the consumer that a record is done. Pass Completer{} to
// worker.New and deadletter.NewStage: its Done marks the record's offset
// done in the tracker of the partition it came from, so that the next
// commit may move past it. Done ignores records that did not come from a
// Consumer.
type Completer struct{}

// Done implements worker.Completer by completing rec. It takes no lock the
// Worker could wait for and never calls back into the Worker.
func (Completer) Done(rec *worker.Record) { rec.Complete() }

// Origin returns the topic, partition and offset of the source record rec
// was made from; ok is false if rec did not come from a Consumer.
func Origin(rec *worker.Record) (topic string, partition int, offset int64, ok bool) {
	s, ok := rec.Completion.(*source)
	if !ok || s == nil {
		return "", 0, 0, false
	}
	return s.t.topic, s.t.partition, s.offset, true
}

// SourceMessage returns the Kafka record rec was made from, with its topic,
// partition and offset; ok is false if rec did not come from a Consumer.
// Call it before rec is done: a done record holds no payload. It is the
// deadletter.SourceFunc of the records a Consumer hands over.
func SourceMessage(rec *worker.Record) (msg kafka.Message, ok bool) {
	s, ok := rec.Completion.(*source)
	if !ok || s == nil {
		return kafka.Message{}, false
	}
	return s.msg, true
}

// source is one fetched record: the worker.Record handed to the Stages
// (whose Completion it is) and the Kafka message it came from.
type source struct {
	rec    worker.Record
	msg    kafka.Message // cleared once done, so that a done record holds no payload
	offset int64
	t      *tracker
	done   atomic.Bool
	// fetched is when the record was registered: how long it has been
	// pending (PartitionProgress.OldestPending).
	fetched time.Time
}

// Done marks the record done in its partition's tracker, once: the next
// commit may move past it. It implements worker.Completion.
func (s *source) Done() {
	if s.done.Swap(true) {
		return
	}
	s.msg = kafka.Message{}
	s.t.outstanding.Add(-1)
}

// tracker follows the records of one partition fetched in one generation and
// computes the offset that may be committed: the lowest offset not done, or
// the offset after the last record fetched when all are done.
//
// The fetcher registers records in offset order; Done may arrive from any
// goroutine in any order; the generation's supervisor commits.
type tracker struct {
	topic       string
	partition   int
	logEnd      atomic.Int64 // the last stable offset, as last polled or fetched; -1 until known
	outstanding atomic.Int64 // registered and not done

	mu        sync.Mutex
	queue     []*source // registered records, in offset order, from head
	head      int
	next      int64 // offset after the last registered record; -1 while unknown
	committed int64 // last committed offset; -1 before the first commit
	// committedDone is how many done offsets above committed the last
	// commit listed in its metadata (donemeta.go).
	committedDone int
	epoch         int // bumped by rebase, so that a commit in flight cannot record a stale offset
	// finished holds offsets at or above next that an earlier generation of
	// this member finished (ascending): fetched again, they are done at once.
	finished []int64
}

// carry is the done work of one partition that a generation could not
// commit: the member keeps it for the next generation that assigns it the
// partition again, which commits it and does not redo it.
type carry struct {
	prefix int64   // every record below is done
	done   []int64 // offsets above prefix that are done, ascending
}

func newTracker(topic string, partition int, committed int64) *tracker {
	t := &tracker{topic: topic, partition: partition, next: -1, committed: -1}
	if committed >= 0 {
		t.next, t.committed = committed, committed
	}
	t.logEnd.Store(-1)
	return t
}

// register records a fetched message and returns its source, or nil when the
// offset is below one already registered (kafka-go never delivers that; the
// duplicate is dropped rather than breaking the offset order).
func (t *tracker) register(msg kafka.Message) *source {
	s := &source{msg: msg, offset: msg.Offset, t: t, fetched: time.Now()}
	s.rec.Completion = s
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.next >= 0 && msg.Offset < t.next {
		return nil
	}
	t.queue = append(t.queue, s)
	t.next = msg.Offset + 1
	t.outstanding.Add(1)
	return s
}

// setStart sets the offset consumption starts from when the partition had no
// committed offset, so that the start is committed even before any record
// arrives. It has no effect once a record is registered.
func (t *tracker) setStart(offset int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.queue) == 0 && t.next < 0 {
		t.next = offset
	}
}

// rebase restarts the partition at offset after an offset reset: it forgets
// what was committed so that the reset position is committed even if it is
// lower, and the offsets an earlier generation finished, which may now name
// other records. The caller ensures nothing is outstanding.
func (t *tracker) rebase(offset int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	clear(t.queue)
	t.queue, t.head = t.queue[:0], 0
	t.next, t.committed, t.committedDone = offset, -1, 0
	t.finished = nil
	t.epoch++
	t.logEnd.Store(-1)
}

// carryOver applies what an earlier generation of this member finished on
// the partition, before any record is registered: consumption starts at
// c.prefix if that is ahead of the group's committed offset (so that the
// first commit commits it), and the offsets of c.done are not handed to the
// pipeline again. It returns where consumption starts and how many records
// it will not hand over.
func (t *tracker) carryOver(c carry) (start int64, skipped int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c.prefix > t.next && len(t.queue) == 0 {
		t.next = c.prefix
	}
	i := 0
	for i < len(c.done) && c.done[i] < t.next {
		i++
	}
	t.finished = c.done[i:]
	return t.next, len(t.finished)
}

// finishedBefore reports whether an earlier generation finished the record
// at offset; the fetcher asks for every record it registers, in order.
func (t *tracker) finishedBefore(offset int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for len(t.finished) > 0 && t.finished[0] < offset {
		t.finished = t.finished[1:] // deleted by retention or compaction meanwhile
	}
	if len(t.finished) > 0 && t.finished[0] == offset {
		t.finished = t.finished[1:]
		return true
	}
	return false
}

// leftover returns the done work that is not committed: the commit point,
// and the offsets above it that are done, here or in an earlier generation
// without being fetched again. ok is false when nothing of it is left.
func (t *tracker) leftover() (c carry, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	point, known := t.commitPointLocked()
	if !known {
		return carry{}, false
	}
	c.prefix, c.done = point, slices.Collect(t.doneAboveLocked())
	return c, point > t.committed || len(c.done) > 0
}

// doneAboveLocked yields, in ascending order, the done offsets above the
// commit point, which commitPointLocked must have just computed: done here,
// or in an earlier generation and not fetched again (those lie above every
// registered offset).
func (t *tracker) doneAboveLocked() iter.Seq[int64] {
	return func(yield func(int64) bool) {
		for _, s := range t.queue[t.head:] {
			if s.done.Load() && !yield(s.offset) {
				return
			}
		}
		for _, off := range t.finished {
			if !yield(off) {
				return
			}
		}
	}
}

// doneAboveCountLocked counts what doneAboveLocked yields without reading
// every record: what is registered above the commit point and not
// outstanding is done. A Done running meanwhile may be counted or not.
func (t *tracker) doneAboveCountLocked() int {
	return max(len(t.queue)-t.head-int(t.outstanding.Load()), 0) + len(t.finished)
}

// commitPoint returns the offset below which every registered record is
// done, and false when nothing is known yet. It releases done records.
func (t *tracker) commitPoint() (int64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	off, ok := t.commitPointLocked()
	return off, ok
}

func (t *tracker) commitPointLocked() (int64, bool) {
	for t.head < len(t.queue) && t.queue[t.head].done.Load() {
		t.queue[t.head] = nil
		t.head++
	}
	// Reuse the queue's space once the live part is small.
	if t.head > 0 && t.head >= len(t.queue)/2 {
		n := copy(t.queue, t.queue[t.head:])
		clear(t.queue[n:])
		t.queue, t.head = t.queue[:n], 0
	}
	if t.head < len(t.queue) {
		return t.queue[t.head].offset, true
	}
	if t.next >= 0 {
		return t.next, true
	}
	return 0, false
}

// toCommit returns the offset to commit and its metadata, which lists the
// done offsets above it (donemeta.go), and how many those are, if the offset
// is above the last commit or, at the same offset, the done offsets above it
// changed.
func (t *tracker) toCommit() (offset int64, meta string, done, epoch int, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	off, known := t.commitPointLocked()
	if !known || off < t.committed {
		return 0, "", 0, 0, false
	}
	done = t.doneAboveCountLocked()
	if off == t.committed && done == t.committedDone {
		return 0, "", 0, 0, false
	}
	return off, encodeDone(off, t.doneAboveLocked()), done, t.epoch, true
}

// committedAt records a successful commit of offset, with done done offsets
// above it, made at epoch.
func (t *tracker) committedAt(offset int64, done, epoch int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if epoch == t.epoch && offset >= t.committed {
		t.committed, t.committedDone = offset, done
	}
}
