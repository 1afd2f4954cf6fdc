package traffic

import (
	"math"
	"math/rand/v2"
	"strconv"
)

// population is the generator's chat world: users, groups, one-to-one
// chats, and who belongs where.
type population struct {
	users  []user
	groups []group
	chats  []uint64 // current message seq of each one-to-one chat

	// Popularity: a few users and groups account for much of the traffic.
	userRank, groupRank popularity
}

type user struct {
	id       ident
	groups   []membership
	contacts []contact
}

type group struct {
	id  ident
	seq uint64 // seq of the group's latest message
}

// cursor is one reader's state in one conversation, per receipt kind
// (indexed by action.delivery).
type cursor struct {
	seq  [2]uint64 // last seq reported
	busy [2]bool   // a session is reporting seqs after seq
}

type membership struct {
	cursor
	group int32
}

type contact struct {
	cursor
	peer int32
	chat int32 // index into population.chats, shared with the peer
}

// Population shape. The offsets flatten the head of the Zipf law: with the
// defaults the most active user sends about 1.5% of the events and the top
// 1% of users about a third, instead of one user dominating.
const (
	maxGroupsPerUser   = 6
	maxContactsPerUser = 5
	rankExponent       = 1.1
	userRankOffset     = 10
	groupRankOffset    = 5
	maxInitialGroupSeq = 100000
	maxInitialChatSeq  = 5000
	maxInitialUnread   = 20
)

func newPopulation(rng *rand.Rand, nUsers, nGroups int) population {
	p := population{
		users:  make([]user, nUsers),
		groups: make([]group, nGroups),
	}
	p.userRank = newPopularity(rng, nUsers, userRankOffset)
	p.groupRank = newPopularity(rng, nGroups, groupRankOffset)
	// Groups and chats have a history: their seqs start well above 1, and
	// members have read most of it.
	for i := range p.groups {
		p.groups[i].id = newIdent("group-" + strconv.Itoa(i+1))
		p.groups[i].seq = 1 + rng.Uint64N(maxInitialGroupSeq)
	}
	for i := range p.users {
		p.users[i].id = newIdent("user-" + strconv.Itoa(i+1))
	}

	// Popular groups get many members; each user is in 1..maxGroupsPerUser.
	for i := range p.users {
		u := &p.users[i]
		for range 1 + rng.IntN(maxGroupsPerUser) {
			gi := int32(p.pickGroup())
			if !memberOf(u.groups, gi) {
				u.groups = append(u.groups, membership{cursor: newCursor(rng, p.groups[gi].seq), group: gi})
			}
		}
	}

	// Contacts are symmetric and share the chat's seq; popular users get
	// many contacts.
	pairs := make(map[[2]int32]struct{})
	link := func(a, b int32) {
		pair := [2]int32{min(a, b), max(a, b)}
		if a == b {
			return
		}
		if _, ok := pairs[pair]; ok {
			return
		}
		pairs[pair] = struct{}{}
		chat := int32(len(p.chats))
		seq := 1 + rng.Uint64N(maxInitialChatSeq)
		p.chats = append(p.chats, seq)
		p.users[a].contacts = append(p.users[a].contacts, contact{cursor: newCursor(rng, seq), peer: b, chat: chat})
		p.users[b].contacts = append(p.users[b].contacts, contact{cursor: newCursor(rng, seq), peer: a, chat: chat})
	}
	for i := range p.users {
		for range 1 + rng.IntN(maxContactsPerUser) {
			link(int32(i), int32(p.pickUser()))
		}
		if len(p.users[i].contacts) == 0 { // drew only itself
			link(int32(i), int32((i+1)%nUsers))
		}
	}
	return p
}

// newCursor returns a reader's state in a conversation whose latest seq is
// seq: a few messages unread, fewer undelivered.
func newCursor(rng *rand.Rand, seq uint64) cursor {
	unread := min(seq, rng.Uint64N(maxInitialUnread))
	undelivered := min(unread, rng.Uint64N(maxInitialUnread/4))
	return cursor{seq: [2]uint64{seq - unread, seq - undelivered}}
}

func memberOf(ms []membership, g int32) bool {
	for _, m := range ms {
		if m.group == g {
			return true
		}
	}
	return false
}

func (p *population) pickUser() int  { return p.userRank.draw() }
func (p *population) pickGroup() int { return p.groupRank.draw() }

// popularity draws indexes 0..n-1 with a Zipf-like law: P(k) is
// proportional to (offset+k)^-rankExponent. It uses Walker's alias method,
// a draw in constant time, several times cheaper than rand.Zipf's
// rejection sampling with its Exp and Log calls.
type popularity struct {
	rng   *rand.Rand
	prob  []float64 // chance of keeping the index drawn uniformly
	alias []int32   // the index taken otherwise
}

func newPopularity(rng *rand.Rand, n int, offset float64) popularity {
	p := popularity{rng: rng, prob: make([]float64, n), alias: make([]int32, n)}
	total := 0.0
	for k := range p.prob {
		p.prob[k] = math.Pow(offset+float64(k), -rankExponent)
		total += p.prob[k]
	}
	// Scale weights to a mean of 1, then pair each index below 1 with one
	// above, which donates the difference.
	var small, large []int32
	for k := range p.prob {
		p.prob[k] *= float64(n) / total
		if p.prob[k] < 1 {
			small = append(small, int32(k))
		} else {
			large = append(large, int32(k))
		}
	}
	for len(small) > 0 && len(large) > 0 {
		s, l := small[len(small)-1], large[len(large)-1]
		small = small[:len(small)-1]
		p.alias[s] = l
		p.prob[l] -= 1 - p.prob[s]
		if p.prob[l] < 1 {
			large = large[:len(large)-1]
			small = append(small, l)
		}
	}
	// What is left is 1 up to rounding.
	for _, k := range append(small, large...) {
		p.prob[k] = 1
	}
	return p
}

func (p popularity) draw() int {
	i := p.rng.IntN(len(p.prob))
	if p.rng.Float64() < p.prob[i] {
		return i
	}
	return int(p.alias[i])
}
