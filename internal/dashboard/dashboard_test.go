package dashboard

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/store"
)

var now = time.Date(2026, 12, 8, 10, 7, 30, 0, time.UTC)

func TestNewWindow(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		span    time.Duration
		step    time.Duration
		buckets int
	}{
		{"an hour in minutes", time.Hour, 5 * time.Minute, 12},
		{"half an hour", 30 * time.Minute, time.Minute, 30},
		{"a day", 24 * time.Hour, 30 * time.Minute, 48},
		{"a week", 7 * 24 * time.Hour, 6 * time.Hour, 28},
		{"thirty days", 30 * 24 * time.Hour, 24 * time.Hour, 30},
		{"longer than the maximum is clamped", 365 * 24 * time.Hour, 24 * time.Hour, 31},
		{"zero is a minute", 0, time.Minute, 1},
		{"negative is a minute", -time.Hour, time.Minute, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := NewWindow(now, tc.span)
			require.Equal(t, tc.step, w.Step)
			require.Equal(t, tc.buckets, w.Buckets())
			require.True(t, w.Until.After(now), "the window holds now")
			require.Equal(t, w.Until, w.Until.Truncate(w.Step), "aligned to the step")
			require.NoError(t, w.Query("").Check())
		})
	}
}

func hist(counts map[int]int) (h [len(store.DurationBounds) + 1]int) {
	for i, n := range counts {
		h[i] = n
	}
	return h
}

func TestQuantile(t *testing.T) {
	t.Parallel()
	last := len(store.DurationBounds)
	for _, tc := range []struct {
		name    string
		q       float64
		h       [len(store.DurationBounds) + 1]int
		want    float64
		above   bool
		noValue bool
	}{
		{"empty", 0.5, hist(nil), 0, false, true},
		{"one pass in the first bucket", 0.5, hist(map[int]int{0: 1}), 0.025, false, false},
		{"one pass, p99", 0.99, hist(map[int]int{0: 1}), 0.0495, false, false},
		{"median in the middle bucket", 0.5, hist(map[int]int{0: 1, 4: 2, 8: 1}), 0.75, false, false},
		{"p99 above every bound", 0.99, hist(map[int]int{0: 50, last: 50}), 60, true, false},
		{"p50 below the open bucket", 0.5, hist(map[int]int{2: 50, last: 50}), 0.25, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, above, ok := Quantile(tc.q, tc.h)
			require.Equal(t, !tc.noValue, ok)
			require.InDelta(t, tc.want, got, 1e-9)
			require.Equal(t, tc.above, above)
		})
	}
}

func TestSeries(t *testing.T) {
	t.Parallel()
	w := NewWindow(now, time.Hour) // 12 buckets of 5 minutes
	t.Run("no data yet", func(t *testing.T) {
		t.Parallel()
		buckets, totals := Series(w, store.Series{})
		require.Len(t, buckets, 12)
		for _, b := range buckets {
			require.Nil(t, b.Consistency)
			require.Nil(t, b.P50)
			require.Nil(t, b.Heals.SuccessRate)
		}
		require.Nil(t, totals.Consistency)
		require.Nil(t, totals.FailureRate)
		require.Nil(t, totals.P99)
		require.Zero(t, totals.PerMinute)
	})
	t.Run("one data point", func(t *testing.T) {
		t.Parallel()
		var d [len(store.DurationBounds) + 1]int
		d[store.DurationBucket(2*time.Second)] = 1
		buckets, totals := Series(w, store.Series{
			Passes:     []store.PassBucket{{Bucket: 3, Passes: 1, Clean: 1, Durations: d}},
			Detections: []store.DetectionBucket{{Bucket: 3, Type: drift.TypeResource, Count: 2}},
			Heals: []store.HealBucket{{Bucket: 3, Status: store.HealSucceeded, Count: 3}, {Bucket: 3, Status: store.HealFailed, Count: 1},
				{Bucket: 3, Status: store.HealPending, Count: 5}, {Bucket: 3, Status: store.HealCancelled, Count: 1}},
		})
		require.Equal(t, w.Since.Add(15*time.Minute), buckets[3].Start)
		require.Equal(t, 1.0, *buckets[3].Consistency)
		require.Equal(t, 2, buckets[3].Detections[drift.TypeResource])
		require.Equal(t, HealCounts{Succeeded: 3, Failed: 1, Open: 5, Other: 1, SuccessRate: f(0.75)}, buckets[3].Heals)
		require.Nil(t, buckets[2].Consistency, "an empty bucket next to it has no data")
		require.Equal(t, 1, totals.Passes)
		require.InDelta(t, 1.0/60, totals.PerMinute, 0.01)
		require.NotNil(t, totals.P50)
		require.InDelta(t, 1.0+1.5*0.5, totals.P50.Seconds, 1e-3, "interpolated within (1 s, 2.5 s]")
	})
	t.Run("buckets outside the window are ignored (clock skew)", func(t *testing.T) {
		t.Parallel()
		buckets, totals := Series(w, store.Series{
			Passes:     []store.PassBucket{{Bucket: -1, Passes: 4}, {Bucket: 12, Passes: 7}, {Bucket: 0, Passes: 2, Failed: 1}},
			Detections: []store.DetectionBucket{{Bucket: 99, Type: drift.TypeProvider, Count: 1}},
			Heals:      []store.HealBucket{{Bucket: -5, Status: store.HealFailed, Count: 1}},
		})
		require.Len(t, buckets, 12)
		require.Equal(t, 2, totals.Passes)
		require.Equal(t, 0.5, *totals.FailureRate)
		require.Empty(t, totals.Detections)
		require.Zero(t, totals.Heals.Failed)
	})
}

func TestComputeSystem(t *testing.T) {
	t.Parallel()
	w := RecentWindow(now)
	lastBucket := w.Buckets() - 1
	passes := func(n, failed int, slow int) store.PassBucket {
		var d [len(store.DurationBounds) + 1]int
		d[0] = n - slow
		d[len(d)-1] = slow
		return store.PassBucket{Bucket: lastBucket, Passes: n, Failed: failed, Clean: n - failed, Durations: d}
	}
	firing := func(s System) []string {
		var out []string
		for _, a := range s.Alerts {
			if a.Firing {
				out = append(out, a.Name)
			}
		}
		return out
	}
	healthy := map[store.Status]int{store.StatusHealthy: 10}
	for _, tc := range []struct {
		name   string
		in     SystemInput
		firing []string
		score  *float64
	}{
		{"nothing yet: no score from no data but the store", SystemInput{}, nil, f(100)},
		{"all well", SystemInput{Recent: store.Series{Passes: []store.PassBucket{passes(100, 0, 0)},
			Heals: []store.HealBucket{{Bucket: 0, Status: store.HealSucceeded, Count: 4}}}, Stacks: healthy, LagP99: f(2), QueueDepth: f(0)}, nil, f(100)},
		{"failures, slow passes and failed heals", SystemInput{Recent: store.Series{Passes: []store.PassBucket{passes(10, 2, 1)},
			Heals: []store.HealBucket{{Bucket: 1, Status: store.HealFailed, Count: 2}, {Bucket: 1, Status: store.HealSucceeded, Count: 2}}},
			Stacks: map[store.Status]int{store.StatusHealthy: 9, store.StatusDriftDetected: 1}, LagP99: f(120)},
			[]string{"BlackwellReconciliationFailureRateHigh", "BlackwellAutoHealFailureRateHigh", "BlackwellReconciliationSlow",
				"BlackwellEventProcessingLagHigh", "BlackwellStateInconsistent"}, f(81)}, // (.9*.4 + .8*.25 + .5*.15 + 1*.1 + .75*.1) / 1
		{"one failed heal is not a page", SystemInput{Recent: store.Series{Heals: []store.HealBucket{{Bucket: 1, Status: store.HealFailed, Count: 1}}}, Stacks: healthy},
			nil, f(77)}, // (1*.4 + 0*.15 + 1*.1) / .65: passes and events have no data
		{"stalled and store down", SystemInput{Stacks: healthy, QueueDepth: f(3), StoreErr: errors.New("down")},
			[]string{"BlackwellReconcileStalled", "BlackwellStoreUnreachable"}, f(80)}, // (1*.4 + 0*.1) / .5
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.in.Now = now
			s := ComputeSystem(tc.in)
			require.Equal(t, tc.firing, firing(s))
			require.Equal(t, tc.score, s.Health.Score)
			require.Len(t, s.Health.Components, 5)
		})
	}
}
