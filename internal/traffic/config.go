package traffic

import (
	"errors"
	"fmt"
	"math"
	"unicode"
	"unicode/utf8"
)

// Config shapes the traffic of a [Generator]. Start from [DefaultConfig]:
// a zero fraction means none of that kind, so the zero Config yields only
// group read receipts.
type Config struct {
	// Seed makes the traffic reproducible: the same Config and the same
	// sequence of Next calls give the same records.
	Seed int64

	// Users and Groups size the population: users "user-1".."user-N",
	// groups "group-1".."group-M". Zero means 10,000 users and 1,000 groups.
	// Users must be at least 2 so that one-to-one chats have a peer.
	Users, Groups int

	// C2CFraction is the share of events about one-to-one chats (c2c_*
	// types); the rest are about groups.
	C2CFraction float64
	// DeliveryFraction is the share of events that are delivery receipts
	// (*_delivered types); the rest are read receipts. It is independent
	// of C2CFraction.
	DeliveryFraction float64

	// DuplicateFraction is the share of records that repeat a recent valid
	// record byte for byte, as a client retry does.
	DuplicateFraction float64
	// MalformedFraction is the share of records that break an input rule
	// (not JSON, a missing id, a bad conv_msg_seq, ...); receiptd
	// dead-letters them as invalid_event.
	MalformedFraction float64
	// FailingFraction is the share of records that are valid but name one
	// of FailingGroups or FailingUsers, which ZIM rejects; receiptd
	// dead-letters them as rejected. It needs at least one failing id.
	FailingFraction float64

	// MaxSeqsPerEvent bounds the seqs of one event: a user scrolling
	// through unread messages reports them in chunks of 1..MaxSeqsPerEvent.
	// Zero means 5; at most 1000 (receiptd's default events limit).
	MaxSeqsPerEvent int

	// FailingGroups are group ids the ZIM simulator rejects with 660400103
	// (zimfake.Config.FailGroups). They appear in group events.
	FailingGroups []string
	// FailingUsers are user ids the ZIM simulator rejects
	// (zimfake.Config.FailUsers): 660400104 for c2c actions, 660400103 for
	// group actions. They appear as the peer (conv_id) of c2c events.
	FailingUsers []string
}

// Defaults of the sizing fields.
const (
	DefaultUsers           = 10000
	DefaultGroups          = 1000
	DefaultMaxSeqsPerEvent = 5
)

// maxSeqsPerEventLimit is receiptd's default events.max_seqs_per_event:
// events with more seqs are invalid, so valid traffic stays below it.
const maxSeqsPerEventLimit = 1000

// maxIDLength is receiptd's default events.max_id_length, in bytes.
const maxIDLength = 128

// DefaultConfig returns the mix of a busy chat app: 30% one-to-one, 20%
// delivery receipts, 1% client retries, 0.1% malformed records and 0.1%
// records about a disbanded group or a deactivated user. The ZIM
// simulator must reject FailingGroups and FailingUsers for the rejected
// records to reach the dead-letter topic.
func DefaultConfig() Config {
	return Config{
		Seed:              1,
		Users:             DefaultUsers,
		Groups:            DefaultGroups,
		C2CFraction:       0.3,
		DeliveryFraction:  0.2,
		DuplicateFraction: 0.01,
		MalformedFraction: 0.001,
		FailingFraction:   0.001,
		MaxSeqsPerEvent:   DefaultMaxSeqsPerEvent,
		FailingGroups:     []string{"group-disbanded"},
		FailingUsers:      []string{"user-deactivated"},
	}
}

func (c Config) withDefaults() Config {
	if c.Users == 0 {
		c.Users = DefaultUsers
	}
	if c.Groups == 0 {
		c.Groups = DefaultGroups
	}
	if c.MaxSeqsPerEvent == 0 {
		c.MaxSeqsPerEvent = DefaultMaxSeqsPerEvent
	}
	return c
}

// Validate reports every problem of c at once, or nil. Zero sizing fields
// are valid: they take their defaults.
func (c Config) Validate() error {
	var problems []error
	add := func(format string, args ...any) {
		problems = append(problems, fmt.Errorf(format, args...))
	}
	if c.Users == 1 || c.Users < 0 || c.Users > math.MaxInt32 {
		add("users %d: want at least 2", c.Users)
	}
	if c.Groups < 0 || c.Groups > math.MaxInt32 {
		add("groups %d: want at least 1", c.Groups)
	}
	if c.MaxSeqsPerEvent < 0 || c.MaxSeqsPerEvent > maxSeqsPerEventLimit {
		add("max seqs per event %d: want 1 to %d", c.MaxSeqsPerEvent, maxSeqsPerEventLimit)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{
		{"c2c fraction", c.C2CFraction},
		{"delivery fraction", c.DeliveryFraction},
		{"duplicate fraction", c.DuplicateFraction},
		{"malformed fraction", c.MalformedFraction},
		{"failing fraction", c.FailingFraction},
	} {
		if !(f.v >= 0 && f.v <= 1) {
			add("%s %v: want a number from 0 to 1", f.name, f.v)
		}
	}
	if sum := c.DuplicateFraction + c.MalformedFraction + c.FailingFraction; sum > 1 {
		add("duplicate, malformed and failing fractions add up to %v: want at most 1", sum)
	}
	if c.FailingFraction > 0 && len(c.FailingGroups) == 0 && len(c.FailingUsers) == 0 {
		add("failing fraction %v: set failing groups or failing users", c.FailingFraction)
	}
	for _, id := range c.FailingGroups {
		if err := checkID(id); err != nil {
			add("failing group %q: %w", id, err)
		}
	}
	for _, id := range c.FailingUsers {
		if err := checkID(id); err != nil {
			add("failing user %q: %w", id, err)
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("invalid traffic config: %w", errors.Join(problems...))
}

// checkID reports why id would make an event invalid: failing ids must
// yield valid events, which ZIM then rejects.
func checkID(id string) error {
	switch {
	case id == "":
		return errors.New("empty")
	case len(id) > maxIDLength:
		return fmt.Errorf("%d bytes, longer than %d", len(id), maxIDLength)
	case !utf8.ValidString(id):
		return errors.New("invalid UTF-8")
	}
	for _, r := range id {
		if unicode.IsControl(r) {
			return fmt.Errorf("control character %U", r)
		}
	}
	return nil
}
