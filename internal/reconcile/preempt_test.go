package reconcile_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
	"github.com/blackwellio/blackwell/internal/reconcile"
	"github.com/blackwellio/blackwell/internal/sim"
	"github.com/blackwellio/blackwell/internal/store"
)

// preemptSetup is a healthy stack (no drift) whose policy heals
// content_stale and runs the given pre-emptive actions, with a
// content_stale forecast written straight to the store (as the evaluator
// would), after the stack's first pass.
func preemptSetup(t *testing.T, preempt []string, requireApproval ...string) (*fixture, *fakeActions) {
	t.Helper()
	acts := &fakeActions{}
	f := setup(t, fixtureOpts{heal: reconcile.HealOptions{Actions: acts}})
	site, err := sim.NewSite(sim.SiteOptions{})
	require.NoError(t, err)
	t.Cleanup(site.Close)
	pol := healingPolicy(func(ah *config.AutoHeal) {
		ah.AllowedDriftTypes = []string{"content_stale", "webhook_broken"}
		ah.RequireApproval = requireApproval
	})
	pol.Predict = config.Predict{Enabled: true, Preempt: preempt}
	f.apply(t, pol, stack("acme", "web", siteSpec(site.URL())))
	f.firstPass(t, "acme", "web")
	now := f.clock.Now()
	_, err = f.store.WriteForecasts(context.Background(), store.ForecastWrite{Raise: []forecast.Forecast{{
		ID: "fc-1", ClientID: "acme", StackID: "web", Code: drift.ContentStale, Component: "posts",
		ETA: now.Add(6 * time.Hour), Confidence: 0.7, Class: forecast.ClassTrend, RaisedAt: now,
		Evidence: forecast.Evidence{Indicator: "build_failures", Detail: "3 failed builds in a row"},
	}}})
	require.NoError(t, err)
	return f, acts
}

func (f *fixture) auditEntries(t *testing.T, action string) []store.AuditEntry {
	t.Helper()
	es, _, err := f.store.ListAudit(context.Background(), store.AuditQuery{ClientID: "acme"})
	require.NoError(t, err)
	var out []store.AuditEntry
	for _, e := range es {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

// TestPreemptRebuildsAheadOfAForecast: a content_stale forecast with
// rebuild in predict.preempt schedules one rebuild, recorded as triggered
// by the forecast, which runs and is verified; it is not repeated while
// the forecast stays open.
func TestPreemptRebuildsAheadOfAForecast(t *testing.T) {
	t.Parallel()
	f, acts := preemptSetup(t, []string{"rebuild"})
	res := f.pass(t, "acme", "web")
	require.False(t, res.DriftDetected)
	hs := f.heals(t)
	require.Len(t, hs, 1)
	require.Equal(t, "rebuild", hs[0].Action)
	require.Equal(t, reconcile.TriggeredByForecast, hs[0].TriggeredBy)
	require.Equal(t, drift.ContentStale, hs[0].Code)
	require.Equal(t, "posts", hs[0].Component)
	require.Equal(t, 1, f.healOnce(t))
	require.Equal(t, 1, acts.count())

	for _, action := range []string{"heal_scheduled", "heal_executed"} {
		es := f.auditEntries(t, action)
		require.Len(t, es, 1, action)
		require.Equal(t, "forecast", es[0].TriggeredBy, action)
		require.Equal(t, hs[0].DriftID, es[0].DriftID)
	}
	var changes map[string]any
	require.NoError(t, json.Unmarshal(f.auditEntries(t, "heal_scheduled")[0].ChangesMade, &changes))
	require.Equal(t, true, changes["preempt"])

	// Verified (no drift came), and not run again for the same forecast.
	f.clock.Step(time.Hour)
	f.pass(t, "acme", "web")
	f.clock.Step(time.Hour)
	f.pass(t, "acme", "web")
	require.Zero(t, f.healOnce(t))
	hs = f.heals(t)
	require.Len(t, hs, 1)
	require.Equal(t, store.HealSucceeded, hs[0].Status)
}

// TestPreemptNotListedDoesNotRun: a forecast whose action is not in
// predict.preempt schedules nothing; an attempt decided while it was
// listed is cancelled, not run, once it is taken out.
func TestPreemptNotListedDoesNotRun(t *testing.T) {
	t.Parallel()
	f, acts := preemptSetup(t, []string{"reregister_subscription"})
	f.pass(t, "acme", "web")
	require.Empty(t, f.heals(t), "rebuild is not in predict.preempt")

	g, acts2 := preemptSetup(t, []string{"rebuild"})
	g.pass(t, "acme", "web")
	require.Len(t, g.heals(t), 1)
	pol := healingPolicy(func(ah *config.AutoHeal) { ah.AllowedDriftTypes = []string{"content_stale"} })
	pol.Predict = config.Predict{Enabled: true, Preempt: []string{"reregister_subscription"}}
	site := g.state1(t)
	var spec config.StackSpec
	require.NoError(t, json.Unmarshal(site.Desired, &spec))
	g.apply(t, pol, stack("acme", "web", spec))
	require.Equal(t, 1, g.healOnce(t), "claimed")
	require.Zero(t, acts2.count(), "and cancelled: the policy no longer preempts with rebuild")
	require.Equal(t, store.HealCancelled, g.heals(t)[0].Status)
	require.Zero(t, acts.count())
}

// TestPreemptWaitsForApproval: with preempt in require_approval, a
// pre-emptive heal asks a person first; the request outlives passes in
// which no drift is open, and once approved the heal runs.
func TestPreemptWaitsForApproval(t *testing.T) {
	t.Parallel()
	f, acts := preemptSetup(t, []string{"rebuild"}, "preempt")
	f.pass(t, "acme", "web")
	require.Empty(t, f.heals(t))
	aps, _, err := f.store.ListApprovals(context.Background(), store.ApprovalQuery{ClientID: "acme"})
	require.NoError(t, err)
	require.Len(t, aps, 1)
	require.Equal(t, store.ApprovalPending, aps[0].Status)
	require.Equal(t, "preempt", aps[0].Class)
	require.Equal(t, "rebuild", aps[0].Action)
	require.Equal(t, reconcile.TriggeredByForecast, aps[0].TriggeredBy)
	requested := f.auditEntries(t, "approval_requested")
	require.Len(t, requested, 1)
	require.Equal(t, "forecast", requested[0].TriggeredBy)

	f.clock.Step(time.Minute)
	f.pass(t, "acme", "web")
	require.Empty(t, f.heals(t), "still waiting")
	require.Zero(t, f.healOnce(t))
	_, err = f.store.DecideApproval(context.Background(), store.ApprovalDecision{ID: aps[0].ID, Approve: true, By: "alice", Reason: "ok", At: f.clock.Now()})
	require.NoError(t, err, "the request was not retired for want of an open drift")

	f.pass(t, "acme", "web")
	hs := f.heals(t)
	require.Len(t, hs, 1)
	require.Equal(t, aps[0].ID, hs[0].ApprovalID)
	require.Equal(t, reconcile.TriggeredByForecast, hs[0].TriggeredBy)
	require.Equal(t, 1, f.healOnce(t))
	require.Equal(t, 1, acts.count())
}
