package retry

import "errors"

// ErrUnknownBucket is returned by Wait for a bucket name the Budget was not
// built with.
var ErrUnknownBucket = errors.New("unknown rate bucket")
