//go:build race

package main

// raceSlowdown scales the wall-clock bounds some tests assert (failover
// within 15s, a bounded shutdown) under the race detector, which runs
// this package's servers several times slower; what they wait for is
// awaited with deadlines, which need no scaling. (race_off_test.go: 1.)
const raceSlowdown = 4
