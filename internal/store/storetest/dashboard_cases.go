package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/store"
)

// testDashboards: the dashboards' aggregates (store.Dashboards) bucket
// passes, confirmed detections and heals by time within [Since, Until),
// filter by client, count a pass whose clocks disagree as the shortest,
// and list the newest drifts and heals first, bounded.
func testDashboards(ctx context.Context, t *testing.T, s store.Store) {
	f := commitDashboardPasses(ctx, t, s)
	checkDashboardSeries(ctx, t, s, f)
	checkDashboardCounts(ctx, t, s, f)
	checkRecentDriftsAndHeals(ctx, t, s, f)
}

// dashboardFixture is what commitDashboardPasses stored.
type dashboardFixture struct {
	since            time.Time
	site             store.StateRecord
	hook, tls, maybe drift.Drift
}

// commitDashboardPasses commits passes of acme's shop and blog and globex's
// site around [at(0), at(10m)): drifts confirmed and not, heals, a pass
// whose clocks disagree, and passes on each side of the range.
func commitDashboardPasses(ctx context.Context, t *testing.T, s store.Store) dashboardFixture {
	shop := newStack(ctx, t, s, "acme", "shop")
	blog := newStack(ctx, t, s, "acme", "blog")
	site := newStack(ctx, t, s, "globex", "site")

	pass := func(state *store.StateRecord, id string, start time.Time, took time.Duration, status store.ResultStatus, p store.Pass) {
		t.Helper()
		r := result(id, state.ClientID, state.StackID, start)
		r.CompletedAt, r.Status = start.Add(took), status
		r.DriftCount = len(p.Drifts)
		r.DriftDetected = r.DriftCount > 0
		p.Result = r
		commit(ctx, t, s, state, p)
	}
	hook := mkDrift("acme", "shop", "shopify.webhook.products/update", at(30*time.Second))
	hook.Confirmed = true
	tls := mkDrift("acme", "blog", "tls", at(time.Minute))
	tls.ID = drift.ID("acme", "blog", drift.TypeResource, "tls")
	tls.Code, tls.Type, tls.Severity, tls.Confirmed = drift.ResourceUnhealthy, drift.TypeResource, drift.SeverityCritical, true
	maybe := mkDrift("acme", "blog", "netlify.build_hook", at(time.Minute)) // not confirmed: no detection yet
	heal := func(n int, status store.HealStatus, created time.Time) store.HealAttempt {
		h := healAt(hook.ID, n, created)
		h.Status = status
		return h
	}

	pass(&shop, "before", at(-time.Minute), time.Second, store.ResultSuccess, store.Pass{}) // before Since
	pass(&shop, "r1", at(10*time.Second), 1500*time.Millisecond, store.ResultSuccess, store.Pass{})
	shop.Status = store.StatusDriftDetected
	pass(&shop, "r2", at(30*time.Second), 40*time.Millisecond, store.ResultPartial, store.Pass{
		Drifts: []drift.Drift{hook},
		Heals:  []store.HealAttempt{heal(1, store.HealFailed, at(30*time.Second)), heal(2, store.HealSucceeded, at(40*time.Second))},
	})
	pass(&shop, "skewed", at(2*time.Minute+5*time.Second), -3*time.Second, store.ResultFailed, store.Pass{Drifts: []drift.Drift{hook}})
	pass(&shop, "at-until", at(10*time.Minute), time.Second, store.ResultSuccess, store.Pass{Drifts: []drift.Drift{hook}}) // Until is exclusive
	blog.Status = store.StatusHealthy
	pass(&blog, "r3", at(time.Minute), 2*time.Minute, store.ResultSuccess, store.Pass{Drifts: []drift.Drift{tls, maybe}})
	pass(&site, "g1", at(20*time.Second), 300*time.Millisecond, store.ResultSuccess, store.Pass{})
	return dashboardFixture{since: at(0), site: site, hook: hook, tls: tls, maybe: maybe}
}

// checkDashboardSeries: DashboardSeries buckets passes, detections and
// heals by step within [Since, Until), by client or over all.
func checkDashboardSeries(ctx context.Context, t *testing.T, s store.Store, f dashboardFixture) {
	q := store.SeriesQuery{ClientID: "acme", Since: f.since, Until: at(10 * time.Minute), Step: time.Minute}
	got, err := s.DashboardSeries(ctx, q)
	require.NoError(t, err)
	durations := func(idx ...int) (d [len(store.DurationBounds) + 1]int) {
		for _, i := range idx {
			d[i]++
		}
		return d
	}
	require.Equal(t, []store.PassBucket{
		{Bucket: 0, Passes: 2, Partial: 1, Clean: 1, DriftDetected: 1,
			Durations: durations(store.DurationBucket(1500*time.Millisecond), store.DurationBucket(40*time.Millisecond))},
		{Bucket: 1, Passes: 1, DriftDetected: 1, Durations: durations(len(store.DurationBounds))},
		{Bucket: 2, Passes: 1, Failed: 1, DriftDetected: 1, Durations: durations(0)},
	}, got.Passes)
	require.Equal(t, []store.DetectionBucket{
		{Bucket: 0, Type: drift.TypeIntegration, Count: 1},
		{Bucket: 1, Type: drift.TypeResource, Count: 1},
	}, got.Detections)
	require.Equal(t, []store.HealBucket{
		{Bucket: 0, Status: store.HealFailed, Count: 1},
		{Bucket: 0, Status: store.HealSucceeded, Count: 1},
	}, got.Heals)

	// Every client: globex's pass joins bucket 0.
	q.ClientID = ""
	all, err := s.DashboardSeries(ctx, q)
	require.NoError(t, err)
	require.Equal(t, 3, all.Passes[0].Passes)
	require.Equal(t, 2, all.Passes[0].Clean)

	// An empty range answers no buckets; malformed ones are refused.
	q.Since, q.Until = at(time.Hour), at(2*time.Hour)
	empty, err := s.DashboardSeries(ctx, q)
	require.NoError(t, err)
	require.Empty(t, empty.Passes)
	require.Empty(t, empty.Detections)
	require.Empty(t, empty.Heals)
	for _, bad := range []store.SeriesQuery{
		{Since: f.since, Until: at(time.Hour), Step: 0},
		{Since: f.since, Until: f.since, Step: time.Minute},
		{Since: f.since, Until: at(time.Hour), Step: time.Second},
	} {
		_, err := s.DashboardSeries(ctx, bad)
		require.ErrorIs(t, err, store.ErrInvalid)
	}
}

// checkDashboardCounts: CountStacks counts stacks by status and
// OpenDriftCounts the open confirmed drifts, by client or over all.
func checkDashboardCounts(ctx context.Context, t *testing.T, s store.Store, f dashboardFixture) {
	counts, err := s.CountStacks(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, map[store.Status]int{store.StatusDriftDetected: 1, store.StatusHealthy: 1}, counts)
	counts, err = s.CountStacks(ctx, "")
	require.NoError(t, err)
	require.Equal(t, 3, counts[store.StatusDriftDetected]+counts[store.StatusHealthy]+counts[f.site.Status])

	open, err := s.OpenDriftCounts(ctx, "acme", 10)
	require.NoError(t, err)
	require.Equal(t, []store.DriftCount{
		{Type: drift.TypeIntegration, Code: drift.WebhookBroken, Component: f.hook.Component, Severity: drift.SeverityHigh, Count: 1, Stacks: 1},
		{Type: drift.TypeResource, Code: drift.ResourceUnhealthy, Component: "tls", Severity: drift.SeverityCritical, Count: 1, Stacks: 1},
	}, open)
	open, err = s.OpenDriftCounts(ctx, "globex", 10)
	require.NoError(t, err)
	require.Empty(t, open)
}

// checkRecentDriftsAndHeals: RecentDrifts and RecentHeals list the newest
// first, from Since, bounded by the limit.
func checkRecentDriftsAndHeals(ctx context.Context, t *testing.T, s store.Store, f dashboardFixture) {
	recent, err := s.RecentDrifts(ctx, store.RecentQuery{ClientID: "acme", Since: f.since, Limit: 2})
	require.NoError(t, err)
	want := []string{f.maybe.ID, f.tls.ID} // both last seen at a minute, on blog: by id
	if want[0] > want[1] {
		want[0], want[1] = want[1], want[0]
	}
	require.Equal(t, want, []string{recent[0].ID, recent[1].ID}, "the newest first, then by stack and id; bounded by the limit")
	recent, err = s.RecentDrifts(ctx, store.RecentQuery{ClientID: "acme", Since: at(45 * time.Second), Limit: 10})
	require.NoError(t, err)
	require.Len(t, recent, 2, "drifts last seen before since are left out")
	require.Equal(t, "blog", recent[1].StackID)

	heals, err := s.RecentHeals(ctx, store.RecentQuery{ClientID: "acme", Since: f.since, Limit: 10})
	require.NoError(t, err)
	require.Len(t, heals, 2)
	require.Equal(t, []string{f.hook.ID + "/2", f.hook.ID + "/1"}, []string{heals[0].ID, heals[1].ID}, "newest first")
	heals, err = s.RecentHeals(ctx, store.RecentQuery{ClientID: "globex", Since: f.since, Limit: 10})
	require.NoError(t, err)
	require.Empty(t, heals)
}
