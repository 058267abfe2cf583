//go:build race

package resourcelock_test

// raceEnabled: the race detector is on, and allocation counts are not the
// program's.
const raceEnabled = true
