//go:build race

package engine_test

// raceOn: the race detector is on, and everything runs several times
// slower; the load tests scale down.
const raceOn = true
