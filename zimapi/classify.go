package zimapi

import "strconv"

// Class says what the worker should do with an outcome; it is the only thing
// the worker needs to know about a ZIM answer.
type Class uint8

// Outcome classes, from zim-api.md.
const (
	// ClassSuccess: ZIM set the receipts (Code 0).
	ClassSuccess Class = iota
	// ClassRateLimited: too fast for the AppId or the system as a whole
	// (660300005, 7, HTTP 429); slow the action's rate down, back off,
	// retry without an attempt cap.
	ClassRateLimited
	// ClassGroupRateLimited: too fast for one group (660300006); back off
	// that group alone, retry without an attempt cap. The action's rate and
	// other groups are untouched.
	ClassGroupRateLimited
	// ClassTransient: the server or the network is in trouble (busy codes,
	// transport errors, timeouts, non-2xx, unparsable bodies); back off and
	// retry, never dead-letter.
	ClassTransient
	// ClassResign: the signature expired on the way; retry at once with a
	// new signature. Persisting means clock skew, which is systemic.
	ClassResign
	// ClassTooMany: more sequence numbers than ZIM accepts in one call;
	// split the batch and retry the halves.
	ClassTooMany
	// ClassDeadLetter: this batch's data is bad (unknown user or group, not
	// a member, invalid parameters); write its events to the DLQ.
	ClassDeadLetter
	// ClassSystemic: receiptd's own configuration is wrong (bad signature,
	// app not enabled, malformed common parameters); pause everything,
	// report not-ready, never dead-letter.
	ClassSystemic
	// ClassUnknown: a code not in the table; bounded retries, then DLQ.
	ClassUnknown
)

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

// String returns the class's snake_case name, as used in logs and metrics.
func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return "class(" + strconv.Itoa(int(c)) + ")"
}

// MarshalText returns [Class.String], so classes read well in JSON logs.
func (c Class) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// Codes with a known class. This is the one table of zim-api.md's "Return
// codes" section; every code not listed here is ClassUnknown.
var codeClasses = map[int64]Class{
	0: ClassSuccess,

	660300005: ClassRateLimited,      // AppID-level rate limit
	660300006: ClassGroupRateLimited, // group-level rate limit
	7:         ClassRateLimited,      // system QPS exceeded

	1:         ClassTransient, // server busy
	105001:    ClassTransient, // DB request failed
	100000015: ClassTransient, // API gateway internal error
	660000001: ClassTransient,
	660000003: ClassTransient,

	100000004: ClassResign, // signature expired

	660400102: ClassTooMany, // more than 10 ConvMsgSeq

	660400103: ClassDeadLetter, // group receipt failed: unknown group or user, not a member
	660400104: ClassDeadLetter, // c2c receipt failed: unknown user or peer
	660000002: ClassDeadLetter, // invalid parameters in the body
	660000022: ClassDeadLetter,
	660500002: ClassDeadLetter,
	660600001: ClassDeadLetter,
	660600009: ClassDeadLetter,
	660600024: ClassDeadLetter,
	660700012: ClassDeadLetter,
	660700015: ClassDeadLetter,

	100000005: ClassSystemic, // signature error: wrong ServerSecret or AppId
	3:         ClassSystemic, // authentication failed
	2:         ClassSystemic, // input parameter error in the common parameters
	100000000: ClassSystemic, // wrong Host header
	100000001: ClassSystemic, // AppId format
	100000002: ClassSystemic, // Timestamp empty
	100000003: ClassSystemic, // Timestamp format
	100000006: ClassSystemic, // Action empty
	100000007: ClassSystemic, // unsupported Action
	100000008: ClassSystemic, // SignatureNonce empty
	100000009: ClassSystemic, // Signature empty
	100000010: ClassSystemic, // no ServerSecret for this AppId
	100000011: ClassSystemic, // no app configuration
	100000012: ClassSystemic, // HTTP body unreadable
	100000013: ClassSystemic, // SignatureVersion empty
	100000014: ClassSystemic, // unsupported SignatureVersion
	100000016: ClassSystemic, // no production environment configured
	100000017: ClassSystemic, // service not enabled for the app
	660000028: ClassSystemic,
}

// Classify maps a ZIM Code to its class. It is the single place where codes
// are interpreted; unlisted codes are ClassUnknown.
func Classify(code int64) Class {
	if c, ok := codeClasses[code]; ok {
		return c
	}
	return ClassUnknown
}

// ClassifyStatus maps the HTTP status of an answer that is not 2xx. ZIM
// answers its own errors with 200 and a Code, so another status comes from
// something in the way: a redirect, a refused credential or a missing path
// (a wrong zim.endpoint or a proxy refusing) never heals by retrying and is
// systemic; 429 is a rate limit; the rest (5xx above all) is transient.
func ClassifyStatus(status int) Class {
	switch {
	case status >= 300 && status < 400,
		status == 401, status == 403, status == 404, status == 405, status == 407:
		return ClassSystemic
	case status == 429:
		return ClassRateLimited
	default:
		return ClassTransient
	}
}
