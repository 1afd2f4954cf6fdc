//go:build race

package bench

// raceEnabled: the race detector multiplies a process's memory, so tests
// of memory figures loosen their upper bounds.
const raceEnabled = true
