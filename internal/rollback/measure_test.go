package rollback_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/rollback"
	"github.com/blackwellio/blackwell/internal/sim"
	"github.com/blackwellio/blackwell/internal/store"
)

// measureTrials is how many bad releases each host gets.
const measureTrials = 5

// TestRollbackMeasures measures, on the sim, for each host: the time to
// recover by rollback (from the bad release going live, through the pass
// that confirms the drift, to the rollback verified), the rollback's
// completeness (the share of the snapshot's components that what runs
// matches afterwards, read back from the providers by the verification
// pass), and the flip-backs of the pinned stack over outages healed by
// auto-heal. docs/PERFORMANCE.md records its output:
//
//	go test ./internal/rollback -run TestRollbackMeasures -count=1 -v
func TestRollbackMeasures(t *testing.T) {
	t.Parallel()
	for _, flavor := range []sim.BuildHookFlavor{sim.FlavorNetlify, sim.FlavorVercel, sim.FlavorCloudflare} {
		t.Run(string(flavor), func(t *testing.T) {
			t.Parallel()
			var ttr, detect, roll []time.Duration
			matched, total, flips, outages := 0, 0, 0, 0
			for range measureTrials {
				m := measureOne(t, flavor)
				ttr, detect, roll = append(ttr, m.ttr), append(detect, m.detect), append(roll, m.rollback)
				matched, total = matched+m.matched, total+m.total
				flips, outages = flips+m.flips, outages+m.outages
			}
			require.Equal(t, total, matched, "completeness")
			require.Zero(t, flips, "flip-backs")
			t.Logf("MEASURE host=%s trials=%d ttr_median=%s ttr_max=%s detect_median=%s rollback_median=%s completeness=%d/%d flip_backs=%d/%d_outages",
				flavor, measureTrials, median(ttr), slices.Max(ttr), median(detect), median(roll), matched, total, flips, outages)
		})
	}
}

type measurement struct {
	ttr, detect, rollback time.Duration
	matched, total        int
	flips, outages        int
}

func measureOne(t *testing.T, flavor sim.BuildHookFlavor) measurement {
	t.Helper()
	w := newWorld(t, worldOpts{flavor: flavor})
	good := establish(t, w, healing())
	var m measurement
	fault := time.Now()
	badRelease(t, w)
	for {
		w.round(t)
		rec, err := w.store.GetState(context.Background(), "acme", "web")
		require.NoError(t, err)
		if rec.Status == store.StatusDriftDetected {
			break
		}
		require.Less(t, time.Since(fault), time.Minute, "the bad release is detected")
	}
	m.detect = time.Since(fault)
	start := time.Now()
	rb, err := w.svc.Start(context.Background(), rollback.Request{ClientID: "acme", StackID: "web", Target: good.Version, Hold: 2 * time.Hour, By: "ops"})
	require.NoError(t, err)
	require.Equal(t, store.RollbackVerified, rb.Status, rb.Error)
	m.rollback, m.ttr = time.Since(start), time.Since(fault)

	// What runs, as the verification pass read it back from the
	// providers (its snapshot), against the snapshot restored.
	snaps := w.snapshots(t)
	require.NotEmpty(t, snaps)
	ms := rollback.Compare(good.Components, snaps[0].Components)
	m.matched, m.total = rollback.Matched(ms), len(ms)
	require.Equal(t, m.total, m.matched, fmt.Sprint(ms))

	m.outages = 4
	m.flips = flipBacks(t, w, good.Components.Build.DeployID, m.outages)
	return m
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2].Round(time.Millisecond)
}
