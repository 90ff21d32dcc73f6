package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/store"
)

// testDashboardRollUp: DashboardSeries over buckets of whole hours (read
// from the driver's hourly roll-up) answers what the results themselves
// give, on a generated history of two clients: after CommitPass, after
// DeleteReconciliationsBefore cuts through an hour in small batches, and
// after everything is deleted (nothing left). The expected series is
// computed here from the results written, as the raw path buckets them;
// a sub-hour query of the same data checks the raw path against it too.
func testDashboardRollUp(ctx context.Context, t *testing.T, s store.Store) {
	rng := rand.New(rand.NewPCG(16, 13))
	hour0 := store.Truncate(at(0)).Truncate(time.Hour).Add(-3 * time.Hour) // on a UTC hour
	stacks := []*store.StateRecord{}
	for _, k := range []string{"a/one", "a/two", "a/three", "b/one"} {
		st := newStack(ctx, t, s, "rollup-"+k[:1], k[2:])
		stacks = append(stacks, &st)
	}
	statuses := []store.ResultStatus{store.ResultSuccess, store.ResultSuccess, store.ResultPartial, store.ResultFailed}
	durations := []time.Duration{-2 * time.Second, 0, 50 * time.Millisecond, 50*time.Millisecond + time.Microsecond,
		70 * time.Millisecond, 2 * time.Second, time.Minute, 3 * time.Minute}
	var written []store.ReconciliationResult
	for i := range 240 {
		st := stacks[rng.IntN(len(stacks))]
		// Spread over 50 hours, some exactly on an hour.
		start := hour0.Add(time.Duration(rng.Int64N(int64(50 * time.Hour))))
		if i%17 == 0 {
			start = hour0.Add(time.Duration(rng.IntN(50)) * time.Hour)
		}
		start = start.Add(time.Duration(rng.IntN(1000)) * time.Nanosecond)
		r := result(fmt.Sprintf("rollup-%d", i), st.ClientID, st.StackID, start)
		r.CompletedAt = start.Add(durations[rng.IntN(len(durations))])
		r.Status = statuses[rng.IntN(len(statuses))]
		r.DriftCount = rng.IntN(3)
		r.DriftDetected = r.DriftCount > 0
		commit(ctx, t, s, st, store.Pass{Result: r})
		written = append(written, storedResult(r))
	}

	check := func(stage string, left []store.ReconciliationResult) {
		t.Helper()
		for _, q := range []store.SeriesQuery{
			{ClientID: "rollup-a", Since: hour0, Until: hour0.Add(48 * time.Hour), Step: time.Hour},
			{ClientID: "rollup-a", Since: hour0.Add(-6 * time.Hour), Until: hour0.Add(54 * time.Hour), Step: 6 * time.Hour},
			{ClientID: "rollup-b", Since: hour0.Add(-24 * time.Hour), Until: hour0.Add(72 * time.Hour), Step: 24 * time.Hour},
			{ClientID: "", Since: hour0.Add(2 * time.Hour), Until: hour0.Add(47 * time.Hour), Step: 3 * time.Hour},
			{ClientID: "rollup-a", Since: hour0, Until: hour0.Add(24 * time.Hour), Step: 30 * time.Minute}, // raw
		} {
			require.Equal(t, q.Step >= time.Hour, q.RollsUp(), "%+v", q)
			got, err := s.DashboardSeries(ctx, q)
			require.NoError(t, err)
			require.Equal(t, expectedPasses(q, left), got.Passes, "%s: %+v (rolls up: %v)", stage, q, q.RollsUp())
		}
	}
	check("after commits", written)

	prune := func(q store.HistoryPrune, limit int) {
		t.Helper()
		for {
			n, err := s.DeleteReconciliations(ctx, q, limit)
			require.NoError(t, err)
			if n == 0 {
				return
			}
		}
	}
	// One client's retention first (its own policy), then every other
	// client's, each through the middle of an hour, 7 results at a time.
	cutA := hour0.Add(30*time.Hour + 41*time.Minute)
	prune(store.HistoryPrune{Before: cutA, ClientID: "rollup-a"}, 7)
	cut := hour0.Add(20*time.Hour + 17*time.Minute)
	prune(store.HistoryPrune{Before: cut, Except: []string{"rollup-a"}}, 7)
	var left []store.ReconciliationResult
	for _, r := range written {
		before := cut
		if r.ClientID == "rollup-a" {
			before = cutA
		}
		if !r.StartedAt.Before(before) {
			left = append(left, r)
		}
	}
	require.Less(t, len(left), len(written))
	check("after retention", left)

	for {
		n, err := s.DeleteReconciliations(ctx, store.HistoryPrune{Before: hour0.Add(100 * time.Hour)}, 0)
		require.NoError(t, err)
		if n == 0 {
			break
		}
	}
	check("after deleting all", nil)
}

// expectedPasses is the pass series of q over rs as the results give it.
func expectedPasses(q store.SeriesQuery, rs []store.ReconciliationResult) []store.PassBucket {
	byBucket := map[int]*store.PassBucket{}
	n := q.Buckets()
	for _, r := range rs {
		if (q.ClientID != "" && r.ClientID != q.ClientID) || r.StartedAt.Before(q.Since) || !r.StartedAt.Before(q.Until) {
			continue
		}
		i := int(r.StartedAt.Sub(q.Since) / q.Step)
		p := byBucket[i]
		if p == nil {
			p = &store.PassBucket{Bucket: i}
			byBucket[i] = p
		}
		p.Passes++
		p.Failed += b2i(r.Status == store.ResultFailed)
		p.Partial += b2i(r.Status == store.ResultPartial)
		p.Clean += b2i(r.Status == store.ResultSuccess && r.DriftCount == 0)
		p.DriftDetected += b2i(r.DriftDetected)
		p.Durations[store.DurationBucket(r.CompletedAt.Sub(r.StartedAt))]++
	}
	var out []store.PassBucket
	for i := range n {
		if p := byBucket[i]; p != nil {
			out = append(out, *p)
		}
	}
	return out
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
