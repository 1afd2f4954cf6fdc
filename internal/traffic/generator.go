// Package traffic generates realistic, reproducible "message read" traffic
// for receiptd's demo, its throughput benchmark and end-to-end tests, and
// keeps the bookkeeping of what that traffic must produce (a [Tally]).
//
// The model follows how chat apps behave. Groups receive messages over
// time, popular groups far more often; each group has a growing message
// sequence number. Users, some far more active than others, are members of
// several groups and have a few one-to-one contacts. A user opening a
// conversation reads from their last read seq + 1 up to its current seq
// (at most the last 40 messages) and reports it, while scrolling, as
// events of 1..MaxSeqsPerEvent seqs; so per (type, user, conversation) the
// seqs of successive events increase and never overlap. Delivery receipts
// follow the same model with their own cursor. Now and then a client retry
// repeats a recent event byte for byte, an event names a group or user
// that ZIM rejects, or a record is malformed in one of several ways
// ([Flaw]).
//
// Records are keyed as docs/architecture.md recommends: group events by group_id,
// one-to-one events by the reader's user_id.
package traffic

import (
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"time"
)

// The event types of the input event (docs/architecture.md).
const (
	TypeGroupRead      = "group_read"
	TypeC2CRead        = "c2c_read"
	TypeGroupDelivered = "group_delivered"
	TypeC2CDelivered   = "c2c_delivered"
)

// Record is one Kafka record as a chat backend would produce it.
type Record struct {
	// Key and Value are the Kafka record's key and value. They share one
	// allocation and belong to the caller; the generator keeps no
	// reference to them.
	Key, Value []byte
	// Malformed is set when Value breaks an input rule; Flaw says which.
	Malformed bool
	Flaw      Flaw
	// Event is what Value encodes; zero when Malformed.
	Event Event
}

// Event is a valid input event.
type Event struct {
	Type    string // one of the Type constants
	UserID  string // the reader
	GroupID string // set for group types
	ConvID  string // set for c2c types: the peer's user id
	// Seqs are the event's conv_msg_seq values in the order sent: ascending
	// and consecutive.
	Seqs []uint64
	// ReadAt is read_at, whole milliseconds.
	ReadAt time.Time
}

// Action returns the ZIM action that sets e's receipts, such as
// "GroupReadReceipt", or "" for an unknown type.
func (e Event) Action() string {
	if a, ok := actionOf(e.Type); ok {
		return actions[a].zim
	}
	return ""
}

// Conv returns the conversation e is about: GroupID for group types,
// ConvID for c2c types.
func (e Event) Conv() string {
	if a, ok := actionOf(e.Type); ok && !a.isGroup() {
		return e.ConvID
	}
	return e.GroupID
}

// Generator produces records. Create it with [New].
//
// A Generator is not safe for concurrent use: give each goroutine its own,
// with its own seed.
type Generator struct {
	cfg     Config
	rng     *rand.Rand
	maxSeqs int

	// Cut points of one uniform draw per record: [0, malformedCut) is
	// malformed, then duplicate, then failing, then a fresh event.
	malformedCut, duplicateCut, failingCut float64

	population
	failingGroups, failingUsers []failing

	pools               [numActions][]session // conversations being read now, per action
	recent              [recentSize]sent      // recent valid events, for client retries
	nRecent, nextRecent int
}

// activeSessions is how many conversations per action are being read at
// once: their events interleave, as many clients' do.
const activeSessions = 32

// recentSize is how far back a client retry reaches, in events.
const recentSize = 64

// maxUnread is the most messages one opening of a conversation reads: a
// client reports the messages it shows, not a backlog of thousands.
const maxUnread = 40

// New returns a Generator for cfg, whose zero sizing fields take their
// defaults. It returns an error, listing every problem, if cfg is invalid.
func New(cfg Config) (*Generator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x7265636569707464)) // "receiptd"
	g := &Generator{
		cfg:          cfg,
		rng:          rng,
		maxSeqs:      cfg.MaxSeqsPerEvent,
		malformedCut: cfg.MalformedFraction,
		duplicateCut: cfg.MalformedFraction + cfg.DuplicateFraction,
		failingCut:   cfg.MalformedFraction + cfg.DuplicateFraction + cfg.FailingFraction,
	}
	g.population = newPopulation(rng, cfg.Users, cfg.Groups)
	g.failingGroups = newFailing(cfg.FailingGroups)
	g.failingUsers = newFailing(cfg.FailingUsers)
	return g, nil
}

// Next returns the next record. now becomes the event's read_at; a time
// before 1970 gives read_at 0, since a negative read_at is invalid.
func (g *Generator) Next(now time.Time) Record {
	ms := max(now.UnixMilli(), 0)
	x := g.rng.Float64()
	switch {
	case x < g.malformedCut:
		return g.malformed(ms)
	case x < g.duplicateCut && g.nRecent > 0:
		return g.recent[g.rng.IntN(g.nRecent)].record()
	case x >= g.duplicateCut && x < g.failingCut:
		return g.remember(g.failing(ms))
	}
	return g.remember(g.fresh(ms))
}

// fresh continues one of the conversations being read.
func (g *Generator) fresh(ms int64) sent {
	a := g.pickAction()
	// Background chatter: popular groups receive messages more often.
	g.groups[g.pickGroup()].seq++

	pool := &g.pools[a]
	if len(*pool) < activeSessions {
		if s, ok := g.open(a); ok {
			*pool = append(*pool, s)
		}
	}
	// open fails only when the conversations it drew are being read,
	// which means the pool is not empty.
	i := g.rng.IntN(len(*pool))
	s := &(*pool)[i]
	n := g.chunk(s.last - s.next + 1)
	c, conv := g.conversation(a, s)
	ev := sent{action: a, user: &g.users[s.user].id, conv: conv, first: s.next, n: n, readAtMs: ms}
	s.next += uint64(n)
	if s.next > s.last {
		c.busy[a.delivery()] = false
		(*pool)[i] = (*pool)[len(*pool)-1]
		*pool = (*pool)[:len(*pool)-1]
	}
	ev.scalar = n == 1 && g.rng.IntN(2) == 0
	return ev
}

// open starts reading a conversation for action a: a user opens it and
// reads what arrived since their cursor. It reports false when every
// conversation it drew is already being read for a.
func (g *Generator) open(a action) (session, bool) {
	d := a.delivery()
	for range 4 {
		u := g.pickUser()
		usr := &g.users[u]
		var c *cursor
		var slot int
		var seq *uint64
		if a.isGroup() {
			slot = g.rng.IntN(len(usr.groups))
			c = &usr.groups[slot].cursor
			seq = &g.groups[usr.groups[slot].group].seq
		} else {
			slot = g.rng.IntN(len(usr.contacts))
			c = &usr.contacts[slot].cursor
			seq = &g.chats[usr.contacts[slot].chat]
		}
		if c.busy[d] {
			continue
		}
		if *seq <= c.seq[d] {
			*seq += 1 + uint64(g.rng.IntN(3)) // the messages that made the user look
		}
		first := c.seq[d] + 1
		if *seq-c.seq[d] > maxUnread {
			first = *seq - maxUnread + 1
		}
		c.seq[d] = *seq
		c.busy[d] = true
		return session{user: int32(u), slot: int32(slot), next: first, last: *seq}, true
	}
	return session{}, false
}

// conversation returns the reader's cursor and the conversation's id of
// session s of action a.
func (g *Generator) conversation(a action, s *session) (*cursor, *ident) {
	usr := &g.users[s.user]
	if a.isGroup() {
		m := &usr.groups[s.slot]
		return &m.cursor, &g.groups[m.group].id
	}
	c := &usr.contacts[s.slot]
	return &c.cursor, &g.users[c.peer].id
}

// failing returns an event naming a failing group or a failing peer.
func (g *Generator) failing(ms int64) sent {
	a := g.pickAction()
	if a.isGroup() && len(g.failingGroups) == 0 || !a.isGroup() && len(g.failingUsers) == 0 {
		a = a.otherKind()
	}
	list := g.failingUsers
	if a.isGroup() {
		list = g.failingGroups
	}
	f := &list[g.rng.IntN(len(list))]
	n := g.chunk(uint64(g.maxSeqs))
	ev := sent{action: a, user: &g.users[g.pickUser()].id, conv: &f.id, first: f.seq + 1, n: n, readAtMs: ms}
	f.seq += uint64(n)
	ev.scalar = n == 1 && g.rng.IntN(2) == 0
	return ev
}

// chunk draws how many seqs one event carries, at most remaining.
func (g *Generator) chunk(remaining uint64) uint32 {
	n := uint64(1 + g.rng.IntN(g.maxSeqs))
	return uint32(min(n, remaining))
}

func (g *Generator) pickAction() action {
	var a action
	if g.rng.Float64() < g.cfg.C2CFraction {
		a = c2cRead
	}
	if g.rng.Float64() < g.cfg.DeliveryFraction {
		a += groupDelivered
	}
	return a
}

// remember keeps ev for client retries and returns its record.
func (g *Generator) remember(ev sent) Record {
	g.recent[g.nextRecent] = ev
	g.nextRecent = (g.nextRecent + 1) % recentSize
	g.nRecent = min(g.nRecent+1, recentSize)
	return ev.record()
}

// action is an event type, in the order of actions.
type action uint8

const (
	groupRead action = iota
	c2cRead
	groupDelivered
	c2cDelivered
	numActions
)

var actions = [numActions]struct{ typ, zim, convField string }{
	groupRead:      {TypeGroupRead, "GroupReadReceipt", "group_id"},
	c2cRead:        {TypeC2CRead, "C2cReadReceipt", "conv_id"},
	groupDelivered: {TypeGroupDelivered, "GroupDeliveryReceipt", "group_id"},
	c2cDelivered:   {TypeC2CDelivered, "C2cDeliveryReceipt", "conv_id"},
}

func actionOf(typ string) (action, bool) {
	for a, info := range actions {
		if info.typ == typ {
			return action(a), true
		}
	}
	return 0, false
}

func (a action) isGroup() bool { return a == groupRead || a == groupDelivered }

// delivery indexes a cursor: 0 for read receipts, 1 for delivery receipts.
func (a action) delivery() int { return int(a / groupDelivered) }

// otherKind swaps group and c2c, keeping read or delivery.
func (a action) otherKind() action { return a ^ 1 }

// ident is an id with its JSON string form, encoded once.
type ident struct {
	raw, quoted string
}

func newIdent(raw string) ident {
	q, _ := json.Marshal(raw) // a string always marshals
	return ident{raw: raw, quoted: string(q)}
}

// failing is a failing id with the last seq used for it.
type failing struct {
	id  ident
	seq uint64
}

func newFailing(ids []string) []failing {
	out := make([]failing, len(ids))
	for i, id := range ids {
		out[i].id = newIdent(id)
	}
	return out
}

// session is a conversation being read: seqs next..last are still to be
// reported.
type session struct {
	user, slot int32 // slot indexes the user's groups or contacts
	next, last uint64
}

// sent describes a valid event compactly enough to keep for retries.
type sent struct {
	action     action
	scalar     bool // conv_msg_seq as one integer instead of an array
	n          uint32
	first      uint64
	readAtMs   int64
	user, conv *ident
}

// record encodes ev the way encoding/json encodes the event struct a chat
// backend would marshal, with two allocations: the bytes and the seqs.
func (ev *sent) record() Record {
	info := actions[ev.action]
	key := ev.user.raw
	if ev.action.isGroup() {
		key = ev.conv.raw
	}
	size := len(`{"type":"","user_id":,"":,"conv_msg_seq":[],"read_at":}`) +
		len(info.typ) + len(info.convField) + len(ev.user.quoted) + len(ev.conv.quoted) +
		int(ev.n)*17 + 20 + len(key) // 16 digits and a comma per seq; 20 for an int64
	b := make([]byte, 0, size)
	b = append(b, `{"type":"`...)
	b = append(b, info.typ...)
	b = append(b, `","user_id":`...)
	b = append(b, ev.user.quoted...)
	b = append(b, `,"`...)
	b = append(b, info.convField...)
	b = append(b, `":`...)
	b = append(b, ev.conv.quoted...)
	b = append(b, `,"conv_msg_seq":`...)
	seqs := make([]uint64, ev.n)
	for i := range seqs {
		seqs[i] = ev.first + uint64(i)
	}
	if ev.scalar {
		b = strconv.AppendUint(b, ev.first, 10)
	} else {
		b = append(b, '[')
		for i, s := range seqs {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendUint(b, s, 10)
		}
		b = append(b, ']')
	}
	b = append(b, `,"read_at":`...)
	b = strconv.AppendInt(b, ev.readAtMs, 10)
	b = append(b, '}')
	n := len(b)
	b = append(b, key...)

	e := Event{Type: info.typ, UserID: ev.user.raw, Seqs: seqs, ReadAt: time.UnixMilli(ev.readAtMs)}
	if ev.action.isGroup() {
		e.GroupID = ev.conv.raw
	} else {
		e.ConvID = ev.conv.raw
	}
	return Record{Key: b[n:], Value: b[:n:n], Event: e}
}
