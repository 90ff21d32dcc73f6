// Package poll waits for a condition that nothing announces: it checks
// the condition again and again, at growing intervals, until it holds or a
// deadline passes. Tests use Until where the code under test offers no
// signal (a hook, a channel) to wait on; the benchmarks in bench/ use Wait.
package poll

import (
	"fmt"
	"testing"
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
	deadline := time.Now().Add(within)
	interval := firstInterval
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
		interval = min(2*interval, maxInterval)
	}
}

// Until is Wait for tests: it fails t at once (t.Fatal) when cond does not
// hold within the time given. Like t.Fatal it must be called from the
// test's goroutine.
func Until(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	if err := Wait(within, what, cond); err != nil {
		t.Fatal(err)
	}
}
