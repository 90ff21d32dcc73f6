// Package poll waits for a condition that nothing announces: it checks
// the condition again and again, at growing intervals, until it holds or a
// deadline passes. Tests use Until where the code under test offers no
// signal (a hook, a channel) to wait on; the benchmarks in bench/ use Wait
// and WaitEvery.
package poll

import (
	"fmt"
	"time"
)

// The interval between two checks starts at firstInterval and doubles up
// to maxInterval: a condition that holds soon is seen soon, and one that
// takes seconds (a pass on a schedule, a server's start) is not checked
// hundreds of times a second.
const (
	firstInterval = time.Millisecond
	maxInterval   = 50 * time.Millisecond
)

// Wait calls cond until it returns true, and returns nil then; when within
// passes first it returns an error naming what was awaited. cond is called
// at least once, and once more at the deadline.
func Wait(within time.Duration, what string, cond func() bool) error {
	return wait(within, what, cond, func(last time.Duration) time.Duration {
		return min(2*last, maxInterval)
	})
}

// WaitEvery is Wait at a steady pace: cond is called every interval. A
// caller whose checks load what it measures (a benchmark reading the
// store) keeps that load known and constant with it.
func WaitEvery(interval, within time.Duration, what string, cond func() bool) error {
	return wait(within, what, cond, func(time.Duration) time.Duration { return interval })
}

// wait calls cond until it holds or within has passed, pausing between
// two calls for next(the pause before).
func wait(within time.Duration, what string, cond func() bool, next func(time.Duration) time.Duration) error {
	deadline := time.Now().Add(within)
	interval := next(firstInterval / 2)
	for {
		if cond() {
			return nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("%s: not within %s", what, within)
		}
		t := time.NewTimer(min(interval, left))
		<-t.C
		interval = next(interval)
	}
}

// TB is the part of testing.TB that Until uses. (Naming it here keeps the
// testing package out of the programs that use Wait: the demo's fakes in
// internal/sim, the benchmarks.)
type TB interface {
	Helper()
	Fatal(args ...any)
}

// Until is Wait for tests: it fails t at once (t.Fatal) when cond does not
// hold within the time given. Like t.Fatal it must be called from the
// test's goroutine.
func Until(t TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	if err := Wait(within, what, cond); err != nil {
		t.Fatal(err)
	}
}
