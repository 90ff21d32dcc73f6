package reconcile_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/reconcile"
	"github.com/blackwellio/blackwell/internal/sim"
	"github.com/blackwellio/blackwell/internal/store"
)

// fakeActions records every heal action; fix, when set, runs as the
// action (return an error to fail it).
type fakeActions struct {
	mu   sync.Mutex
	runs []store.HealAttempt
	fix  func(store.HealAttempt) error
}

func (a *fakeActions) Execute(_ context.Context, at store.HealAttempt, _ config.StackSpec) (string, error) {
	a.mu.Lock()
	a.runs = append(a.runs, at)
	fix := a.fix
	a.mu.Unlock()
	if fix != nil {
		if err := fix(at); err != nil {
			return "", err
		}
	}
	return "did " + at.Action, nil
}

func (a *fakeActions) Provider(drift.Drift, config.StackSpec) string { return "" }

func (a *fakeActions) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.runs)
}

func healingPolicy(f func(*config.AutoHeal)) config.PolicySpec {
	p := policy(1)
	p.AutoHeal.Enabled = true
	p.AutoHeal.AllowedDriftTypes = []string{"resource_unhealthy"}
	p.AutoHeal.MaxAttempts = 3
	p.AutoHeal.BackoffStrategy = "linear"
	p.AutoHeal.BackoffBase = config.Duration(time.Minute)
	p.AutoHeal.BackoffCap = config.Duration(time.Hour)
	if f != nil {
		f(&p.AutoHeal)
	}
	return p
}

func (f *fixture) healOnce(t *testing.T) int {
	t.Helper()
	n, err := f.loop.HealOnce(context.Background())
	require.NoError(t, err)
	return n
}

func (f *fixture) heals(t *testing.T) []store.HealAttempt {
	t.Helper()
	hs, _, err := f.store.ListHeals(context.Background(), store.HealQuery{ClientID: "acme"})
	require.NoError(t, err)
	return hs
}

func TestHealAttemptsFollowTheBackoffAndStopWhenExhausted(t *testing.T) {
	t.Parallel()
	acts := &fakeActions{fix: func(store.HealAttempt) error { return errors.New("the provider said no") }}
	f := setup(t, fixtureOpts{heal: reconcile.HealOptions{Actions: acts}})
	site, err := sim.NewSite(sim.SiteOptions{Mode: sim.ModeFailing})
	require.NoError(t, err)
	t.Cleanup(site.Close)
	f.apply(t, healingPolicy(nil), stack("acme", "web", siteSpec(site.URL())))
	f.firstPass(t, "acme", "web")

	// Linear backoff of 1m: attempt n+1 may start n minutes after attempt
	// n failed.
	res := f.pass(t, "acme", "web")
	require.True(t, res.AutoHealAttempted)
	require.Equal(t, 1, f.healOnce(t))
	for attempt := 1; attempt < 3; attempt++ {
		wait := time.Duration(attempt) * time.Minute
		f.clock.Step(wait - time.Second)
		require.False(t, f.pass(t, "acme", "web").AutoHealAttempted, "attempt %d waits its backoff", attempt+1)
		require.Zero(t, f.healOnce(t))
		f.clock.Step(time.Second)
		require.True(t, f.pass(t, "acme", "web").AutoHealAttempted, "attempt %d after %s", attempt+1, wait)
		require.Equal(t, 1, f.healOnce(t))
	}
	require.Equal(t, 3, acts.count())

	// Exhausted: no fourth attempt, however long we wait; the drift is
	// escalated and marked for a person.
	f.clock.Step(time.Hour)
	require.False(t, f.pass(t, "acme", "web").AutoHealAttempted)
	require.Zero(t, f.healOnce(t))
	require.Equal(t, 3, acts.count())
	ds, err := f.store.ListDrifts(context.Background(), store.DriftQuery{ClientID: "acme"})
	require.NoError(t, err)
	var site0 *drift.Drift
	for i := range ds {
		if ds[i].Code == drift.ResourceUnhealthy {
			site0 = &ds[i]
		}
	}
	require.NotNil(t, site0)
	require.Equal(t, reconcile.ExhaustedStatus, site0.HealStatus)
	require.Equal(t, drift.SeverityCritical, site0.Severity, "high escalates to critical")
	for i, a := range f.heals(t) {
		require.Equal(t, store.HealFailed, a.Status)
		require.Equal(t, i+1, a.Attempt)
	}
	audit, _, err := f.store.ListAudit(context.Background(), store.AuditQuery{ClientID: "acme", Action: "heal_exhausted"})
	require.NoError(t, err)
	require.Len(t, audit, 1, "exhaustion is audited once")
	require.Equal(t, 3.0, testutil.ToFloat64(counter(t, f.reg, "blackwell_auto_heal_failure_total", "resource_unhealthy")))
	require.Equal(t, 3.0, testutil.ToFloat64(counter(t, f.reg, "blackwell_auto_heal_attempts_total", "resource_unhealthy")))

	// The drift clears and comes back: a new occurrence, a new budget.
	require.NoError(t, site.SetMode(sim.ModeHealthy))
	f.pass(t, "acme", "web")
	require.NoError(t, site.SetMode(sim.ModeFailing))
	require.True(t, f.pass(t, "acme", "web").AutoHealAttempted)
}

func TestHealIsVerifiedByTheNextPass(t *testing.T) {
	t.Parallel()
	site, err := sim.NewSite(sim.SiteOptions{Mode: sim.ModeFailing})
	require.NoError(t, err)
	t.Cleanup(site.Close)
	acts := &fakeActions{fix: func(store.HealAttempt) error { return site.SetMode(sim.ModeHealthy) }}
	f := setup(t, fixtureOpts{heal: reconcile.HealOptions{Actions: acts}})
	f.apply(t, healingPolicy(nil), stack("acme", "web", siteSpec(site.URL())))
	f.firstPass(t, "acme", "web")

	f.pass(t, "acme", "web")
	require.Equal(t, 1, f.healOnce(t))
	require.Equal(t, store.HealExecuted, f.heals(t)[0].Status, "executed is not yet a success")
	require.Zero(t, testutil.ToFloat64(counter(t, f.reg, "blackwell_auto_heal_success_total", "resource_unhealthy")))
	f.clock.Step(time.Millisecond)
	res := f.pass(t, "acme", "web")
	require.Equal(t, 1, res.AutoHealSuccessCount)
	require.Equal(t, store.HealSucceeded, f.heals(t)[0].Status)
	require.Equal(t, 1.0, testutil.ToFloat64(counter(t, f.reg, "blackwell_auto_heal_success_total", "resource_unhealthy")))
}

func TestAFlappingDriftStopsHealingAndAsksForApproval(t *testing.T) {
	t.Parallel()
	site, err := sim.NewSite(sim.SiteOptions{Mode: sim.ModeFailing})
	require.NoError(t, err)
	t.Cleanup(site.Close)
	acts := &fakeActions{fix: func(store.HealAttempt) error { return site.SetMode(sim.ModeHealthy) }}
	f := setup(t, fixtureOpts{heal: reconcile.HealOptions{Actions: acts}})
	f.apply(t, healingPolicy(func(ah *config.AutoHeal) {
		ah.Flapping = config.Flapping{Threshold: 1, Window: config.Duration(time.Hour)}
	}), stack("acme", "web", siteSpec(site.URL())))
	f.firstPass(t, "acme", "web")

	// Fails, is healed, verified; twice the site breaks again.
	for cycle := 0; cycle < 2; cycle++ {
		require.True(t, f.pass(t, "acme", "web").AutoHealAttempted, "cycle %d heals", cycle)
		require.Equal(t, 1, f.healOnce(t))
		f.clock.Step(time.Second)
		require.Equal(t, 1, f.pass(t, "acme", "web").AutoHealSuccessCount)
		require.NoError(t, site.SetMode(sim.ModeFailing))
		f.clock.Step(time.Second)
	}
	// The second return is more than the threshold: a person decides.
	res := f.pass(t, "acme", "web")
	require.False(t, res.AutoHealAttempted)
	require.Zero(t, f.healOnce(t))
	require.Equal(t, 2, acts.count())
	aps, _, err := f.store.ListApprovals(context.Background(), store.ApprovalQuery{ClientID: "acme"})
	require.NoError(t, err)
	require.Len(t, aps, 1)
	require.Equal(t, "flapping", aps[0].Class)
	require.Equal(t, store.ApprovalPending, aps[0].Status)

	// Approved, it runs once.
	_, err = f.store.DecideApproval(context.Background(), store.ApprovalDecision{ID: aps[0].ID, Approve: true, By: "alice", Reason: "ok", At: f.clock.Now()})
	require.NoError(t, err)
	require.True(t, f.pass(t, "acme", "web").AutoHealAttempted)
	require.Equal(t, 1, f.healOnce(t))
	require.Equal(t, 3, acts.count())
}

func TestAHealDecidedBeforeARestartRunsAfterIt(t *testing.T) {
	t.Parallel()
	site, err := sim.NewSite(sim.SiteOptions{Mode: sim.ModeFailing})
	require.NoError(t, err)
	t.Cleanup(site.Close)
	// A loop without heal actions decides and records; nothing runs.
	f := setup(t, fixtureOpts{})
	f.apply(t, healingPolicy(nil), stack("acme", "web", siteSpec(site.URL())))
	f.firstPass(t, "acme", "web")
	require.True(t, f.pass(t, "acme", "web").AutoHealAttempted)
	require.Zero(t, f.healOnce(t))
	require.Equal(t, store.HealPending, f.heals(t)[0].Status)

	// The next process on the same store runs it.
	acts := &fakeActions{}
	next := reconcile.New(reconcile.Options{Store: f.store, Policies: f.state, Clock: f.clock, Heal: reconcile.HealOptions{Actions: acts}})
	n, err := next.HealOnce(context.Background())
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, 1, acts.count())
	require.Equal(t, store.HealExecuted, f.heals(t)[0].Status)
}

func TestOneHealAtATimePerStack(t *testing.T) {
	t.Parallel()
	acts := &fakeActions{}
	f := setup(t, fixtureOpts{heal: reconcile.HealOptions{Actions: acts}})
	a, err := sim.NewSite(sim.SiteOptions{Mode: sim.ModeFailing})
	require.NoError(t, err)
	t.Cleanup(a.Close)
	b, err := sim.NewSite(sim.SiteOptions{Mode: sim.ModeFailing})
	require.NoError(t, err)
	t.Cleanup(b.Close)
	spec := siteSpec(a.URL())
	spec.Resources["shop"] = config.Resource{Probe: config.ProbeHTTP, URL: b.URL(), ExpectStatus: 200, Timeout: config.Duration(2 * time.Second)}
	f.apply(t, healingPolicy(nil), stack("acme", "web", spec))
	f.firstPass(t, "acme", "web")

	require.True(t, f.pass(t, "acme", "web").AutoHealAttempted)
	require.Len(t, f.heals(t), 1, "two drifts, one heal at a time")
	f.pass(t, "acme", "web")
	require.Len(t, f.heals(t), 1, "the other waits while one is in flight")
	require.Equal(t, 1, f.healOnce(t))
	f.clock.Step(time.Second)
	require.True(t, f.pass(t, "acme", "web").AutoHealAttempted, "verified (failed), the other drift's turn")
	hs := f.heals(t)
	require.Len(t, hs, 2)
	require.NotEqual(t, hs[0].DriftID, hs[1].DriftID)
}

func TestAnApprovalDoesNotOutliveItsDrift(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// A vanished production site needs approval to be recreated.
	site, err := sim.NewSite(sim.SiteOptions{Mode: sim.ModeMissing})
	require.NoError(t, err)
	t.Cleanup(site.Close)
	f := setup(t, fixtureOpts{heal: reconcile.HealOptions{Actions: &fakeActions{}}})
	f.apply(t, healingPolicy(func(ah *config.AutoHeal) { ah.AllowedDriftTypes = []string{"resource_missing"} }),
		stack("acme", "web", siteSpec(site.URL())))
	f.firstPass(t, "acme", "web")
	f.pass(t, "acme", "web")
	aps, _, err := f.store.ListApprovals(ctx, store.ApprovalQuery{ClientID: "acme"})
	require.NoError(t, err)
	require.Len(t, aps, 1)
	old := aps[0].ID

	// The drift clears: its request is retired and cannot be approved.
	require.NoError(t, site.SetMode(sim.ModeHealthy))
	f.clock.Step(time.Second)
	f.pass(t, "acme", "web")
	got, err := f.store.GetApproval(ctx, old)
	require.NoError(t, err)
	require.Equal(t, store.ApprovalExpired, got.Status)
	_, err = f.store.DecideApproval(ctx, store.ApprovalDecision{ID: old, Approve: true, By: "alice", Reason: "", At: f.clock.Now()})
	require.Error(t, err)

	// It comes back: a new request, for the new occurrence.
	require.NoError(t, site.SetMode(sim.ModeMissing))
	f.clock.Step(time.Second)
	f.pass(t, "acme", "web")
	aps, _, err = f.store.ListApprovals(ctx, store.ApprovalQuery{ClientID: "acme", Status: []store.ApprovalStatus{store.ApprovalPending}})
	require.NoError(t, err)
	require.Len(t, aps, 1)
	require.NotEqual(t, old, aps[0].ID)
}

// smallPages answers every ListHeals and ListApprovals with pages of one
// row and a cursor to the next, as the store answers a limit above its
// MaxLimit: a caller that reads one page sees only the oldest attempt.
type smallPages struct{ store.Store }

func (s smallPages) ListHeals(ctx context.Context, q store.HealQuery) ([]store.HealAttempt, store.Page, error) {
	q.Limit = 1
	return s.Store.ListHeals(ctx, q)
}

func (s smallPages) ListApprovals(ctx context.Context, q store.ApprovalQuery) ([]store.Approval, store.Page, error) {
	q.Limit = 1
	return s.Store.ListApprovals(ctx, q)
}

// The heal history behind max_attempts is read whole, however the store
// pages it: with one attempt per page the budget of 3 still holds.
func TestHealBudgetCountsEveryPageOfTheHistory(t *testing.T) {
	t.Parallel()
	acts := &fakeActions{fix: func(store.HealAttempt) error { return errors.New("the provider said no") }}
	f := setup(t, fixtureOpts{heal: reconcile.HealOptions{Actions: acts},
		wrap: func(st store.Store) store.Store { return smallPages{st} }})
	site, err := sim.NewSite(sim.SiteOptions{Mode: sim.ModeFailing})
	require.NoError(t, err)
	t.Cleanup(site.Close)
	f.apply(t, healingPolicy(nil), stack("acme", "web", siteSpec(site.URL())))

	for range 6 {
		f.pass(t, "acme", "web")
		f.healOnce(t)
		f.clock.Step(time.Hour)
	}
	require.Equal(t, 3, acts.count(), "max_attempts 3, whatever the page size")
}

// An attempt decided before auto-heal was turned off is cancelled when its
// turn comes: not run, not a failure (no heal_failed entry for the feed to
// escalate on, no failure metric) and no cost to the budget when healing
// is turned on again.
func TestHealCancelledByPolicyCostsNoAttempt(t *testing.T) {
	t.Parallel()
	acts := &fakeActions{}
	f := setup(t, fixtureOpts{heal: reconcile.HealOptions{Actions: acts}})
	site, err := sim.NewSite(sim.SiteOptions{Mode: sim.ModeFailing})
	require.NoError(t, err)
	t.Cleanup(site.Close)
	one := func(a *config.AutoHeal) { a.MaxAttempts = 1 }
	web := stack("acme", "web", siteSpec(site.URL()))
	f.apply(t, healingPolicy(one), web)
	f.firstPass(t, "acme", "web")
	require.True(t, f.pass(t, "acme", "web").AutoHealAttempted)

	off := healingPolicy(one)
	off.AutoHeal.Enabled = false
	f.apply(t, off, web)
	f.clock.Step(10 * time.Second) // past the policy cache
	require.Equal(t, 1, f.healOnce(t))
	require.Zero(t, acts.count(), "not run")
	hs := f.heals(t)
	require.Len(t, hs, 1)
	require.Equal(t, store.HealCancelled, hs[0].Status)
	require.Contains(t, hs[0].Error, "auto_heal is off")
	ctx := context.Background()
	for action, want := range map[string]int{"heal_cancelled": 1, "heal_failed": 0} {
		entries, _, err := f.store.ListAudit(ctx, store.AuditQuery{ClientID: "acme", Action: action})
		require.NoError(t, err)
		require.Len(t, entries, want, action)
	}
	require.Zero(t, testutil.ToFloat64(counter(t, f.reg, "blackwell_auto_heal_failure_total", "resource_unhealthy")))
	require.Zero(t, testutil.ToFloat64(counter(t, f.reg, "blackwell_auto_heal_attempts_total", "resource_unhealthy")))

	// On again, with max_attempts 1: the budget is whole.
	f.apply(t, healingPolicy(one), web)
	f.clock.Step(time.Minute)
	require.True(t, f.pass(t, "acme", "web").AutoHealAttempted)
	require.Equal(t, 1, f.healOnce(t))
	require.Equal(t, 1, acts.count())
	hs = f.heals(t)
	require.Len(t, hs, 2)
	require.Equal(t, 1, hs[1].Attempt)
	require.NotEqual(t, hs[0].ID, hs[1].ID)
}
