// Package receipt is receiptd's vocabulary, defined once: the receipt
// [Action]s, the [Key] a call is about (an action, a reader, a
// conversation), the [Request] of one API call and its [Result], and the
// outcome [Class] the ZIM client gives every answer and the worker acts on.
//
// The package imports nothing of receiptd and nothing beyond the standard
// library, so that the consumer, the worker, the rate budget and the ZIM
// client all speak it without translating.
package receipt
