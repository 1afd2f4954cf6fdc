package zimapi

import "maps"

// KnownCodes returns the table of codes with a known class.
func KnownCodes() map[int64]Class { return maps.Clone(codeClasses) }
