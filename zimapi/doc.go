// Package zimapi is receiptd's only contact with ZEGOCLOUD ZIM: signing, the
// four receipt actions, and the classification of every answer into the
// outcome class the worker acts on without knowing any ZIM code.
//
// A [Client] signs each request with SignatureVersion 2.0 (a fresh nonce,
// timestamp and signature on every call, retries included), POSTs the JSON
// body of one receipt action, and turns whatever happens into a
// receipt.Result: a decoded ZIM answer classified by [Classify], or a
// failure that produced none (a network error, a timeout, a non-2xx status,
// an oversized or unparsable body), classified as receipt.ClassTransient or,
// for a status that retrying cannot heal, by [ClassifyStatus]. [Codes] is
// the one table of ZIM's return codes: each code's class and, where it
// helps, what an operator should check ([Hint]).
//
// The ServerSecret travels as a secret.Secret, which redacts itself in every
// formatting and marshalling path; it never appears in an error, a log line
// or the output of fmt on any value of this package.
package zimapi
