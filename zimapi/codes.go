package zimapi

import (
	"slices"

	"github.com/receiptd/receiptd/receipt"
)

// Code is one row of the table of ZIM's return codes: what receiptd does
// with an answer carrying it, and, where its cause is usually on
// receiptd's side or in its data, what an operator should check.
type Code struct {
	Code  int64
	Class receipt.Class
	Hint  string // "" when there is nothing to check beyond the code itself
}

// codeTable is the one table of ZIM's return codes, grouped by class. Every
// code not listed is receipt.ClassUnknown, without a hint.
var codeTable = [...]Code{
	{Code: 0, Class: receipt.ClassSuccess},

	{Code: 660300005, Class: receipt.ClassRateLimited, // the AppID's rate limit
		Hint: "the AppID's rate limit: another client may share this AppID, or ZEGO lowered the limit; lower zim.rate_limit_rps"},
	{Code: 660300006, Class: receipt.ClassGroupRateLimited, // a group's rate limit
		Hint: "this group's rate limit: receiptd backs off this group alone; other groups and the action's rate are untouched"},
	{Code: 7, Class: receipt.ClassRateLimited, // system QPS exceeded
		Hint: "ZIM's system-wide rate limit; receiptd halves its rate and pauses"},

	{Code: 1, Class: receipt.ClassTransient, // server busy
		Hint: "ZIM reports it is busy; receiptd backs off and retries; a key busy alone for worker.isolated_failure_max_age is dead-lettered (exhausted)"},
	{Code: 105001, Class: receipt.ClassTransient},    // DB request failed
	{Code: 100000015, Class: receipt.ClassTransient}, // API gateway internal error
	{Code: 660000001, Class: receipt.ClassTransient},
	{Code: 660000003, Class: receipt.ClassTransient},

	{Code: 100000004, Class: receipt.ClassResign, // signature expired
		Hint: "the signature expired: the host clock is probably off by minutes; check NTP"},

	{Code: 660400102, Class: receipt.ClassTooMany, // more than 10 ConvMsgSeq
		Hint: "more than 10 seqs in one call; lower worker.max_seqs_per_call"},

	{Code: 660400103, Class: receipt.ClassDeadLetter, // group receipt failed: unknown group or user, not a member
		Hint: "the group does not exist or the reader is not a member; see the DLQ records"},
	{Code: 660400104, Class: receipt.ClassDeadLetter, // c2c receipt failed: unknown user or peer
		Hint: "the user or the peer is not registered; see the DLQ records"},
	{Code: 660000002, Class: receipt.ClassDeadLetter, // invalid parameters in the body
		Hint: "ZIM rejected a parameter; see the DLQ records"},
	{Code: 660000022, Class: receipt.ClassDeadLetter},
	{Code: 660500002, Class: receipt.ClassDeadLetter},
	{Code: 660600001, Class: receipt.ClassDeadLetter},
	{Code: 660600009, Class: receipt.ClassDeadLetter},
	{Code: 660600024, Class: receipt.ClassDeadLetter},
	{Code: 660700012, Class: receipt.ClassDeadLetter},
	{Code: 660700015, Class: receipt.ClassDeadLetter},

	{Code: 100000005, Class: receipt.ClassSystemic, // signature error: wrong ServerSecret or AppId
		Hint: "the signature is wrong: zim.server_secret does not belong to zim.app_id"},
	{Code: 3, Class: receipt.ClassSystemic},         // authentication failed
	{Code: 2, Class: receipt.ClassSystemic},         // input parameter error in the common parameters
	{Code: 100000000, Class: receipt.ClassSystemic}, // wrong Host header
	{Code: 100000001, Class: receipt.ClassSystemic}, // AppId format
	{Code: 100000002, Class: receipt.ClassSystemic}, // Timestamp empty
	{Code: 100000003, Class: receipt.ClassSystemic}, // Timestamp format
	{Code: 100000006, Class: receipt.ClassSystemic}, // Action empty
	{Code: 100000007, Class: receipt.ClassSystemic}, // unsupported Action
	{Code: 100000008, Class: receipt.ClassSystemic}, // SignatureNonce empty
	{Code: 100000009, Class: receipt.ClassSystemic}, // Signature empty
	{Code: 100000010, Class: receipt.ClassSystemic}, // no ServerSecret for this AppId
	{Code: 100000011, Class: receipt.ClassSystemic}, // no app configuration
	{Code: 100000012, Class: receipt.ClassSystemic}, // HTTP body unreadable
	{Code: 100000013, Class: receipt.ClassSystemic}, // SignatureVersion empty
	{Code: 100000014, Class: receipt.ClassSystemic}, // unsupported SignatureVersion
	{Code: 100000016, Class: receipt.ClassSystemic}, // no production environment configured
	{Code: 100000017, Class: receipt.ClassSystemic}, // service not enabled for the app
	{Code: 660000028, Class: receipt.ClassSystemic},
}

// codes indexes codeTable by code.
var codes = func() map[int64]Code {
	m := make(map[int64]Code, len(codeTable))
	for _, c := range codeTable {
		m[c.Code] = c
	}
	return m
}()

// Classify maps a ZIM return code to its class. It is the one place where
// codes are interpreted; an unlisted code is receipt.ClassUnknown.
func Classify(code int64) receipt.Class {
	if c, ok := codes[code]; ok {
		return c.Class
	}
	return receipt.ClassUnknown
}

// Hint returns what an operator should check after an answer with code, or
// "" when the table has no advice for it.
func Hint(code int64) string { return codes[code].Hint }

// Codes returns a copy of the table of return codes, grouped by class.
func Codes() []Code { return slices.Clone(codeTable[:]) }

// ClassifyStatus maps the HTTP status of an answer that is not 2xx. ZIM
// answers its own errors with 200 and a Code, so another status comes from
// something in the way: a redirect, a refused credential or a missing path
// (a wrong zim.endpoint or a proxy refusing) never heals by retrying and is
// systemic; 429 is a rate limit; the rest (5xx above all) is transient.
func ClassifyStatus(status int) receipt.Class {
	switch {
	case status >= 300 && status < 400,
		status == 401, status == 403, status == 404, status == 405, status == 407:
		return receipt.ClassSystemic
	case status == 429:
		return receipt.ClassRateLimited
	default:
		return receipt.ClassTransient
	}
}
