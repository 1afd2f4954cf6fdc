package consumer

// DecodeDone lets the external tests read the done offsets a commit's
// metadata lists.
var DecodeDone = decodeDone
