package telemetry

// hints tell an operator what to check for ZIM return codes whose cause is
// usually on receiptd's side or in its data. Codes not listed have no hint.
var hints = map[int64]string{
	1:         "ZIM reports it is busy; receiptd backs off and retries; a key busy alone for worker.isolated_failure_max_age is dead-lettered (exhausted)",
	7:         "ZIM's system-wide rate limit; receiptd halves its rate and pauses",
	100000004: "the signature expired: the host clock is probably off by minutes; check NTP",
	100000005: "the signature is wrong: zim.server_secret does not belong to zim.app_id",
	660300005: "the AppID's rate limit: another client may share this AppID, or ZEGO lowered the limit; lower zim.rate_limit_rps",
	660300006: "this group's rate limit: receiptd backs off this group alone; other groups and the action's rate are untouched",
	660400102: "more than 10 seqs in one call; lower worker.max_seqs_per_call",
	660400103: "the group does not exist or the reader is not a member; see the DLQ records",
	660400104: "the user or the peer is not registered; see the DLQ records",
	660000002: "ZIM rejected a parameter; see the DLQ records",
}

// Hint returns advice for code, or "".
func Hint(code int64) string { return hints[code] }
