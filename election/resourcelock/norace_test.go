//go:build !race

package resourcelock_test

// raceEnabled: the race detector is off.
const raceEnabled = false
