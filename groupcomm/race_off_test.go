//go:build !race

package groupcomm

const raceEnabled = false
