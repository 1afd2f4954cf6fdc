// Package zimapi is receiptd's only contact with ZEGOCLOUD ZIM: signing, the
// four receipt actions, and the classification of every answer into an
// outcome class the worker can act on without knowing any ZIM code.
//
// A [Client] signs each request with SignatureVersion 2.0 (a fresh nonce,
// timestamp and signature on every call, retries included), POSTs the JSON
// body of one receipt action, and turns whatever happens into an [Outcome]:
// a decoded ZIM answer classified by [Classify], or a transport failure
// (network error, timeout, non-2xx status, oversized or unparsable body)
// classified as [ClassTransient].
//
// The ServerSecret travels as a [Secret], which redacts itself in every
// formatting and marshalling path; it never appears in an error, a log line
// or the output of fmt on any value of this package.
package zimapi
