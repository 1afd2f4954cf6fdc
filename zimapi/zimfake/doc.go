// Package zimfake simulates the ZEGOCLOUD ZIM server API's four receipt
// actions for tests, the demo, benchmarks and `receiptd zimfake`. It behaves
// as docs/zim-api.md documents ZIM (signature, timestamp window, rate limit, the
// 10-seq cap, the documented codes), injects failures by rule, and records
// every receipt it accepts so that a test can assert exactly what reached
// "ZIM".
//
// A [Server] is an http.Handler. [Server.Handler] serves the API on "/" and
// an admin API on "/_zimfake/" for out-of-process use:
//
//	GET  /_zimfake/stats            Stats as JSON
//	GET  /_zimfake/receipts         distinct receipts as JSON lines
//	GET  /_zimfake/receipts?each=true  every acceptance with its time
//	POST /_zimfake/outage?on=true   full outage on (false: off)
//	POST /_zimfake/rps?value=20     change the rate limit
//	POST /_zimfake/group-limit?group=G&rps=2[&for=30s]  a group's own limit
//	                                (rps=0: at its limit, every call
//	                                refused; rps=off lifts it)
//	POST /_zimfake/busy?group=G[&for=60s]  a group answered busy (no for:
//	                                for good; for=off ends it)
//	POST /_zimfake/reset            forget everything recorded
//
// # Order of checks
//
// Each API request goes through these checks in order, like an API gateway
// in front of the service; the first that fails decides the answer:
//
//  1. Outage switched on: HTTP 503 with a plain-text body (no ZIM Code).
//  2. Method other than POST: HTTP 405.
//  3. Content-Type other than application/json: Code 2 (input parameter
//     error). ZEGO documents no code for this; 2 is its generic one, and it
//     classifies as systemic, which is right for a client that sends the
//     wrong media type.
//  4. Action missing: 100000006; not one of the four receipt actions:
//     100000007 (unsupported Action).
//  5. AppId missing or not a uint32: 100000001; unknown AppId: 100000010
//     (no ServerSecret for this AppId).
//  6. SignatureVersion missing: 100000013; not "2.0": 100000014.
//  7. SignatureNonce missing: 100000008. Signature missing: 100000009.
//  8. Timestamp missing: 100000002; not an integer: 100000003; more than
//     TimestampWindow away from the server clock, either way: 100000004.
//  9. Signature not the lower-case hex MD5 of AppId, SignatureNonce, the
//     app's secret and Timestamp (as received): 100000005.
//  10. Rate limit of the (AppId, action) bucket, or of the AppId with
//     SharedBucket: 660300005.
//  11. Body unreadable: 100000012. Body over 1 MiB, not a JSON object,
//     FromUserId, GroupId (group actions) or ConvId (c2c actions) missing or
//     empty, ConvMsgSeq not a non-empty array of integers >= 1: 660000002.
//  12. More than MaxSeqs sequence numbers: 660400102.
//  13. A group action on a group with a limit of its own (GroupRPS,
//     SetGroupLimit) beyond that limit: 660300006.
//  14. Failure rules: a group action on a group in FailGroups or from a
//     user in FailUsers: 660400103; a c2c action whose ConvId or FromUserId
//     is in FailUsers: 660400104.
//  15. A group action on a busy group (BusyGroups, SetBusy): Code 1.
//  16. Random failures: with probability TransientRate Code 1; with
//     probability DropRate the connection is closed without an answer.
//  17. Accepted: every (action, user, conversation, seq) is recorded and
//     the answer is Code 0 with ReadTime or DeliveredTime (Unix ms).
//
// Every request that reaches check 10 counts toward the rate-limit window;
// with CountRejected (the default) rejected ones count too. The delay drawn
// from Latency is slept after the decision and before the answer (or the
// drop), so a client that times out during the delay has still had its
// receipts accepted, as when ZIM's answer is lost on the way back. Every
// ZIM answer carries a unique RequestId.
package zimfake
