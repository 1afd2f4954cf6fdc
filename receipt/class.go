package receipt

// Class is what receiptd does with the answer to one call. The ZIM client
// maps every answer (each ZIM code, HTTP status and transport failure) to
// exactly one Class; the worker acts on the Class alone.
type Class uint8

// The outcome classes.
const (
	// ClassSuccess: the receipts are set.
	ClassSuccess Class = iota
	// ClassRateLimited: too fast for the app or for ZIM as a whole; slow the
	// action down, pause, retry without an attempt cap.
	ClassRateLimited
	// ClassGroupRateLimited: too fast for one group; back off that group
	// alone, retry without an attempt cap. The action's rate and the other
	// groups are untouched.
	ClassGroupRateLimited
	// ClassTransient: the server or the network is in trouble (busy codes,
	// transport errors, timeouts, 5xx, unparsable bodies); back off and
	// retry without an attempt cap.
	ClassTransient
	// ClassResign: the signature expired on the way; retry at once with a
	// fresh one. Twice in a row means clock skew, which is systemic.
	ClassResign
	// ClassTooMany: more sequence numbers than the API takes in one call;
	// split the batch and retry the halves.
	ClassTooMany
	// ClassDeadLetter: the data is bad (an unknown user or group, a reader
	// who is not a member, invalid parameters); dead-letter the records.
	ClassDeadLetter
	// ClassSystemic: receiptd's own configuration is wrong (a bad
	// signature, an app not enabled, a wrong endpoint); pause everything,
	// report not ready, probe, never dead-letter.
	ClassSystemic
	// ClassUnknown: an answer nobody documented; bounded retries, then
	// dead-letter.
	ClassUnknown
)

// Classes lists every Class, in the order above. len(Classes) is a
// constant, for arrays indexed by Class.
var Classes = [...]Class{ClassSuccess, ClassRateLimited, ClassGroupRateLimited, ClassTransient,
	ClassResign, ClassTooMany, ClassDeadLetter, ClassSystemic, ClassUnknown}

var classNames = [...]string{
	ClassSuccess:          "success",
	ClassRateLimited:      "rate_limited",
	ClassGroupRateLimited: "group_rate_limited",
	ClassTransient:        "transient",
	ClassResign:           "resign",
	ClassTooMany:          "too_many",
	ClassDeadLetter:       "dead_letter",
	ClassSystemic:         "systemic",
	ClassUnknown:          "unknown",
}

// Known returns c, or ClassUnknown for a value outside the list: receiptd
// treats a class it does not know as an answer nobody documented.
func (c Class) Known() Class {
	if int(c) >= len(classNames) {
		return ClassUnknown
	}
	return c
}

// String returns the class's snake_case name, as logs and metrics show it;
// a value outside the list is "unknown" (see Known).
func (c Class) String() string { return classNames[c.Known()] }

// MarshalText returns [Class.String], so that classes read well in JSON.
func (c Class) MarshalText() ([]byte, error) { return []byte(c.String()), nil }
