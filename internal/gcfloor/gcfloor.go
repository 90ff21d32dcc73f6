// Package gcfloor keeps Go's garbage collector from running more often
// than a small live heap warrants.
//
// The collector starts a cycle when the heap has grown by GOGC percent of
// what the last cycle found live (and never below 4 MiB times GOGC/100).
// blackwell's live heap is small, a few MiB on a single node, while a
// webhook flood allocates over 100 MiB a second in short-lived request and
// driver buffers: with GOGC=100 that is 30 and more cycles a second, and
// the collector's fixed costs (stack scans, assists) took about a fifth
// of the server's CPU per delivery (docs/PERFORMANCE.md). Raising GOGC for
// good would multiply the peaks too: applying a configuration of 100,000
// stacks holds gigabytes live for a moment.
//
// A floor does both: after every cycle, GOGC is set so that the next
// cycle starts at about max(floor, live*(1+base/100)), base being the
// GOGC the process started with. Small heaps are collected every floor
// bytes or so; heaps above floor/2 see the base GOGC unchanged.
// GOMEMLIMIT, when set, still bounds the whole: the runtime collects
// harder near the limit whatever GOGC says.
//
// Go has no knob for this (heapMinimum is 4 MiB scaled by GOGC); the
// usual alternative, a never-touched "ballast" allocation, would show in
// every heap metric as live memory. The live heap is read from
// runtime/metrics, which does not stop the world, once per cycle from a
// cleanup (runtime.AddCleanup) on an object that each cycle frees.
package gcfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// liveMetric is the heap the last cycle marked live.
const liveMetric = "/gc/heap/live:bytes"

// heapMinimum is the runtime's smallest heap goal at GOGC=100; it scales
// with GOGC.
const heapMinimum = 4 << 20

// percent is the GOGC that puts the next cycle at about max(floor,
// live*(1+base/100)) for a live heap of live bytes: base when that is
// already past the floor (or live is unknown, 0), more otherwise, but not
// so much that the runtime's heap minimum (4 MiB*GOGC/100) overshoots the
// floor.
func percent(live, floor uint64, base int) int {
	if live == 0 || base < 0 || live+live*uint64(base)/100 >= floor {
		return base
	}
	p := (floor - live) * 100 / live
	p = min(p, floor*100/heapMinimum)
	return max(int(min(p, uint64(1<<30))), base)
}

// Tuner adjusts GOGC after every cycle while it runs.
type Tuner struct {
	floor uint64
	base  int

	mu      sync.Mutex // serialises adjustments and Stop
	stopped bool
	sample  []metrics.Sample
	percent int // GOGC as last set
	// armed: a sentinel's cleanup is yet to run (one armed before Stop
	// runs after it and changes nothing; tests wait for it).
	armed bool
}

// sentinel is freed by every cycle; its cleanup runs the adjustment. It
// holds a pointer so that the tiny allocator does not share its block
// with other objects, which could keep it alive.
type sentinel struct{ _ *byte }

// Start sets GOGC for the current live heap and after every cycle from now
// on, until Stop. With floor 0, or with the collector off (GOGC=off), it
// does nothing.
func Start(floor uint64) *Tuner {
	base := debug.SetGCPercent(100)
	debug.SetGCPercent(base)
	t := &Tuner{floor: floor, base: base, percent: base, sample: []metrics.Sample{{Name: liveMetric}}}
	if floor == 0 || base < 0 {
		t.stopped = true
		return t
	}
	t.mu.Lock()
	t.adjust()
	t.arm()
	t.mu.Unlock()
	return t
}

// arm has the next cycle call cycle. t.mu is held.
func (t *Tuner) arm() {
	t.armed = true
	runtime.AddCleanup(new(sentinel), (*Tuner).cycle, t)
}

// cycle runs after a cycle freed the sentinel: adjust, and arm again.
func (t *Tuner) cycle() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.armed = false
	if t.stopped {
		return
	}
	t.adjust()
	t.arm()
}

// adjust sets GOGC for the live heap the last cycle found. t.mu is held.
func (t *Tuner) adjust() {
	metrics.Read(t.sample)
	var live uint64
	if t.sample[0].Value.Kind() == metrics.KindUint64 {
		live = t.sample[0].Value.Uint64()
	}
	if p := percent(live, t.floor, t.base); p != t.percent {
		debug.SetGCPercent(p)
		t.percent = p
	}
}

// GCPercent is the GOGC the tuner last set (the base GOGC when stopped).
func (t *Tuner) GCPercent() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.percent
}

// Stop ends the adjustments and restores the GOGC the process started
// with.
func (t *Tuner) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	t.stopped = true
	debug.SetGCPercent(t.base)
	t.percent = t.base
}
