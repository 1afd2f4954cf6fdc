package traffic

import (
	"cmp"
	"iter"
	"slices"
)

// Tally is the expectation bookkeeping of a stream of records: what must
// reach ZIM, the fewest calls that can carry it, and what must reach the
// dead-letter topic. Feed it every record generated, duplicates and
// malformed ones included.
//
// A Tally judges records the way receiptd and the ZIM simulator do: a
// malformed record is dead-lettered as invalid_event; a valid event is
// rejected by ZIM (and dead-lettered as rejected) when it names a failing
// group, or a failing user as reader or c2c peer; every other event's
// receipts must be set.
//
// The zero Tally counts with no failing ids. A Tally is not safe for
// concurrent use.
type Tally struct {
	failingGroups, failingUsers map[string]bool

	records, malformed, rejected int
	keys                         map[receiptKey]*seqSet
}

// Receipt is one receipt that must be set: an (action, reader,
// conversation, seq), as the ZIM simulator records it.
type Receipt struct {
	Action string // ZIM action name, such as "GroupReadReceipt"
	UserID string // the reader
	ConvID string // group id, or the peer's user id
	Seq    uint64
}

// NewTally returns a Tally that expects cfg's failing groups and users to
// be rejected.
func NewTally(cfg Config) *Tally {
	t := &Tally{
		failingGroups: make(map[string]bool, len(cfg.FailingGroups)),
		failingUsers:  make(map[string]bool, len(cfg.FailingUsers)),
	}
	for _, id := range cfg.FailingGroups {
		t.failingGroups[id] = true
	}
	for _, id := range cfg.FailingUsers {
		t.failingUsers[id] = true
	}
	return t
}

// Add counts r. An event of unknown type counts as malformed.
func (t *Tally) Add(r Record) {
	t.records++
	a, ok := actionOf(r.Event.Type)
	switch {
	case r.Malformed || !ok:
		t.malformed++
	case t.rejects(a, r.Event):
		t.rejected++
	default:
		if t.keys == nil {
			t.keys = make(map[receiptKey]*seqSet)
		}
		k := receiptKey{action: a, user: r.Event.UserID, conv: r.Event.Conv()}
		s := t.keys[k]
		if s == nil {
			s = &seqSet{}
			t.keys[k] = s
		}
		s.add(r.Event.Seqs)
	}
}

// Records returns how many records were added.
func (t *Tally) Records() int { return t.records }

// Malformed returns how many records must be dead-lettered as
// invalid_event.
func (t *Tally) Malformed() int { return t.malformed }

// Rejected returns how many records must be dead-lettered as rejected:
// valid events that ZIM refuses, client retries of them included.
func (t *Tally) Rejected() int { return t.rejected }

// Receipts returns how many distinct (action, user, conversation, seq)
// must reach ZIM.
func (t *Tally) Receipts() int {
	n := 0
	for _, s := range t.keys {
		n += len(s.distinct())
	}
	return n
}

// IdealCalls returns the fewest API calls that can set every receipt when
// one call carries at most maxSeqs seqs of one (action, user,
// conversation): the sum over those keys of ceil(distinct seqs / maxSeqs).
// A maxSeqs below 1 counts as 1.
func (t *Tally) IdealCalls(maxSeqs int) int {
	maxSeqs = max(maxSeqs, 1)
	calls := 0
	for _, s := range t.keys {
		calls += (len(s.distinct()) + maxSeqs - 1) / maxSeqs
	}
	return calls
}

// Expected yields every receipt that must reach ZIM once, ordered by
// action, user, conversation and seq. Adding records while iterating is
// not allowed.
func (t *Tally) Expected() iter.Seq[Receipt] {
	return func(yield func(Receipt) bool) {
		keys := make([]receiptKey, 0, len(t.keys))
		for k := range t.keys {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b receiptKey) int {
			return cmp.Or(cmp.Compare(a.action, b.action), cmp.Compare(a.user, b.user), cmp.Compare(a.conv, b.conv))
		})
		for _, k := range keys {
			zim := actions[k.action].zim
			for _, seq := range t.keys[k].distinct() {
				if !yield(Receipt{Action: zim, UserID: k.user, ConvID: k.conv, Seq: seq}) {
					return
				}
			}
		}
	}
}

// rejects mirrors the ZIM simulator's failure rules.
func (t *Tally) rejects(a action, e Event) bool {
	if t.failingUsers[e.UserID] {
		return true
	}
	if a.isGroup() {
		return t.failingGroups[e.GroupID]
	}
	return t.failingUsers[e.ConvID]
}

type receiptKey struct {
	action     action
	user, conv string
}

// seqSet collects seqs, sorting and de-duplicating them only when asked:
// they mostly arrive in order, and a million records add a few million.
type seqSet struct {
	seqs  []uint64
	dirty bool
}

func (s *seqSet) add(seqs []uint64) {
	for _, v := range seqs {
		if n := len(s.seqs); n > 0 && v <= s.seqs[n-1] {
			s.dirty = true
		}
		s.seqs = append(s.seqs, v)
	}
}

func (s *seqSet) distinct() []uint64 {
	if s.dirty {
		slices.Sort(s.seqs)
		s.seqs = slices.Compact(s.seqs)
		s.dirty = false
	}
	return s.seqs
}
