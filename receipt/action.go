package receipt

// Action is one of the four ZIM receipt actions. Its String is the ZIM
// action name, sent as the Action query parameter; its EventType is the
// input event's "type" that asks for it.
type Action uint8

// The receipt actions. All four take a reader, a conversation and up to 10
// message sequence numbers.
const (
	GroupRead      Action = iota + 1 // GroupReadReceipt, event type group_read
	C2CRead                          // C2cReadReceipt, event type c2c_read
	GroupDelivered                   // GroupDeliveryReceipt, event type group_delivered
	C2CDelivered                     // C2cDeliveryReceipt, event type c2c_delivered
)

// Actions lists every valid Action, in the order above. len(Actions) is a
// constant, for arrays indexed by Action.
var Actions = [...]Action{GroupRead, C2CRead, GroupDelivered, C2CDelivered}

var actionNames = [...]struct{ zim, event string }{
	GroupRead:      {"GroupReadReceipt", "group_read"},
	C2CRead:        {"C2cReadReceipt", "c2c_read"},
	GroupDelivered: {"GroupDeliveryReceipt", "group_delivered"},
	C2CDelivered:   {"C2cDeliveryReceipt", "c2c_delivered"},
}

// String returns the ZIM action name, such as "GroupReadReceipt", or "" for
// an invalid Action.
func (a Action) String() string {
	if !a.Valid() {
		return ""
	}
	return actionNames[a].zim
}

// EventType returns the input event's "type" for a, such as "group_read",
// or "" for an invalid Action.
func (a Action) EventType() string {
	if !a.Valid() {
		return ""
	}
	return actionNames[a].event
}

// Valid reports whether a is one of the four receipt actions.
func (a Action) Valid() bool { return a >= GroupRead && a <= C2CDelivered }

// IsGroup reports whether a addresses a group (its request carries
// GroupId) rather than a one-to-one conversation (ConvId, the peer's user
// id).
func (a Action) IsGroup() bool { return a == GroupRead || a == GroupDelivered }

// ActionOfEventType returns the Action an input event's "type" asks for;
// ok is false for a type that names none.
func ActionOfEventType(eventType string) (a Action, ok bool) {
	for _, a := range Actions {
		if actionNames[a].event == eventType {
			return a, true
		}
	}
	return 0, false
}

// Key identifies what one API request is about: one action, one reader,
// one conversation. Batches, holds and dead letters are keyed by it.
type Key struct {
	Action Action
	UserID string // the reader, sent as FromUserId
	ConvID string // the group id for group actions, the peer's user id for c2c actions
}
