//go:build race

package groupcomm

// raceEnabled: the race detector adds allocations, so allocation bounds
// are not asserted under it.
const raceEnabled = true
