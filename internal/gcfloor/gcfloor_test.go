package gcfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/blackwellio/blackwell/internal/poll"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		name        string
		live, floor uint64
		base, want  int
	}{
		{"unknown live heap", 0, 64 * mib, 100, 100},
		{"collector off", 3 * mib, 64 * mib, -1, -1},
		{"heap past half the floor", 40 * mib, 64 * mib, 100, 100},
		{"heap at half the floor", 32 * mib, 64 * mib, 100, 100},
		{"small heap: next cycle at the floor", 16 * mib, 64 * mib, 100, 300},
		{"tiny heap: bounded by the runtime's minimum", 1 * mib, 64 * mib, 100, 1600},
		{"a larger base GOGC is kept", 16 * mib, 64 * mib, 400, 400},
		{"a larger base GOGC still gets the floor", 4 * mib, 64 * mib, 200, 1500},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := percent(c.live, c.floor, c.base); got != c.want {
				t.Errorf("percent(%d MiB, %d MiB, %d) = %d, want %d", c.live/mib, c.floor/mib, c.base, got, c.want)
			}
			if p := percent(c.live, c.floor, c.base); c.live > 0 && c.base >= 0 {
				// The next cycle starts at the floor or later, never
				// earlier than base would have it.
				if p < c.base {
					t.Errorf("percent %d below base %d", p, c.base)
				}
			}
		})
	}
}

// TestTunerFollowsTheLiveHeap: a running tuner raises GOGC for this test
// binary's small heap after a cycle, lowers it back when the live heap
// grows past half the floor, and Stop restores the starting GOGC. Not
// parallel: GOGC is the process's.
func TestTunerFollowsTheLiveHeap(t *testing.T) {
	base := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(base) })
	const floor = 256 << 20
	tu := Start(floor)
	defer tu.Stop()

	runtime.GC()
	waitPercent(t, tu, func(p int) bool { return p > 100 }, "raised for a small heap")
	if got := gogc(); got != tu.GCPercent() {
		t.Fatalf("runtime GOGC %d, tuner says %d", got, tu.GCPercent())
	}

	hold := make([][]byte, 0, 200)
	for range 200 { // 200 MiB live: past half the floor
		b := make([]byte, 1<<20)
		b[0] = 1
		hold = append(hold, b)
	}
	runtime.GC()
	waitPercent(t, tu, func(p int) bool { return p == 100 }, "back to base for a large heap")
	runtime.KeepAlive(hold)

	tu.Stop()
	if got := gogc(); got != 100 {
		t.Fatalf("after Stop GOGC = %d, want 100", got)
	}
	// The cleanup armed before Stop runs after the next cycle; it must
	// not set GOGC again.
	poll.Until(t, 10*time.Second, "the cleanup armed before Stop", func() bool {
		runtime.GC()
		return !tu.isArmed()
	})
	if got := gogc(); got != 100 {
		t.Fatalf("a cycle after Stop set GOGC to %d", got)
	}
}

func TestStartWithoutFloorDoesNothing(t *testing.T) {
	base := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(base) })
	tu := Start(0)
	runtime.GC()
	if got := gogc(); got != 100 || tu.GCPercent() != 100 {
		t.Fatalf("GOGC %d (tuner %d), want 100", got, tu.GCPercent())
	}
	tu.Stop()
}

// waitPercent runs cycles until the tuner's GOGC satisfies ok.
func waitPercent(t *testing.T, tu *Tuner, ok func(int) bool, what string) {
	t.Helper()
	poll.Until(t, 10*time.Second, what, func() bool {
		if ok(tu.GCPercent()) {
			return true
		}
		runtime.GC()
		return false
	})
}

// isArmed: a cleanup of the tuner is yet to run.
func (t *Tuner) isArmed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.armed
}

// gogc is the runtime's GOGC now.
func gogc() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}
