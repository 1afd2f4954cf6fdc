package config

import "strings"

// ProblemsError is returned by [Load] and [Config.Validate]. It lists every problem
// found, each one naming the key, file line or environment variable at fault and what
// would fix it. No problem ever contains a secret's value.
type ProblemsError struct {
	Problems []string
}

// Error returns the problems, one per line.
func (e *ProblemsError) Error() string {
	return strings.Join(e.Problems, "\n")
}

// problem is one finding, tagged with the keys it concerns so that Load can drop a
// validation finding about a key whose value could not even be read.
type problem struct {
	keys []string
	text string
}

// problemsError returns nil for no problems, otherwise a *ProblemsError. A nil
// *ProblemsError must never be returned as a non-nil error.
func problemsError(ps []problem) error {
	if len(ps) == 0 {
		return nil
	}
	texts := make([]string, len(ps))
	for i, p := range ps {
		texts[i] = p.text
	}
	return &ProblemsError{Problems: texts}
}
