package reconcile_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/reconcile"
	"github.com/blackwellio/blackwell/internal/sim"
	"github.com/blackwellio/blackwell/internal/store"
)

// fakeProviders answers every binding's observation with what is set.
type fakeProviders struct {
	mu  sync.Mutex
	obs map[string]drift.ProviderObservation
}

func (p *fakeProviders) set(role string, o drift.ProviderObservation) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.obs[role] = o
}

func (p *fakeProviders) ObserveProviders(context.Context, string, string, config.StackSpec) map[string]drift.ProviderObservation {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]drift.ProviderObservation{}
	for k, v := range p.obs {
		out[k] = v
	}
	return out
}

const receivers = "http://blackwell.test/v1/webhooks"

// providerFixture is a reconciler whose provider observations the test
// sets, over a real SQLite store and a fake clock.
func providerFixture(t *testing.T) (*fixture, *fakeProviders) {
	t.Helper()
	fp := &fakeProviders{obs: map[string]drift.ProviderObservation{}}
	return setup(t, fixtureOpts{providers: fp}), fp
}

func shopSpec() config.StackSpec {
	return config.StackSpec{
		Providers:    map[string]config.ProviderBinding{config.RoleEcommerce: {Name: "shopify"}},
		Integrations: map[string]config.Integration{"products": {Provider: config.RoleEcommerce, Topics: []string{"products/update"}}},
	}
}

func shopReachable() drift.ProviderObservation {
	return drift.ProviderObservation{Name: "shopify", Reachability: drift.Reachable, SubscriptionsKnown: true,
		Subscriptions: []drift.Subscription{{ID: "w1", Address: receivers + "/shopify/acme", Topics: []string{"products/update"}, Enabled: true}}}
}

func shopDown() drift.ProviderObservation {
	return drift.ProviderObservation{Name: "shopify", Reachability: drift.Unreachable, Reason: drift.ReasonUnreachable,
		Detail: "connection refused"}
}

func (f *fixture) state1(t *testing.T) store.StateRecord {
	t.Helper()
	rec, err := f.store.GetState(context.Background(), "acme", "web")
	require.NoError(t, err)
	return rec
}

func (f *fixture) audited(t *testing.T, action string) int {
	t.Helper()
	es, _, err := f.store.ListAudit(context.Background(), store.AuditQuery{ClientID: "acme"})
	require.NoError(t, err)
	n := 0
	for _, e := range es {
		if e.Action == action {
			n++
		}
	}
	return n
}

// TestUnknownProviderIsNotDrift: an API that cannot be reached is unknown:
// a new stack stays reconciling, an established one keeps its last known
// observation, and only past max_unknown does it become provider_unreachable
// (never provider_missing), which clears when the API answers again.
func TestUnknownProviderIsNotDrift(t *testing.T) {
	t.Parallel()
	f, fp := providerFixture(t)
	pol := policy(2)
	pol.Confirmation.MaxUnknown = config.Duration(2 * time.Minute)
	f.apply(t, pol, stack("acme", "web", shopSpec()))
	require.Equal(t, store.StatusReconciling, f.state1(t).Status, "a new stack is reconciling")

	// Start-up: the API refuses connections.
	fp.set(config.RoleEcommerce, shopDown())
	for range 3 {
		res := f.pass(t, "acme", "web")
		require.Equal(t, store.ResultSuccess, res.Status)
		require.False(t, res.DriftDetected)
	}
	rec := f.state1(t)
	require.Equal(t, store.StatusReconciling, rec.Status, "never seen: not established")
	require.Empty(t, rec.AppliedHash)
	open, err := f.store.ListDrifts(context.Background(), store.DriftQuery{ClientID: "acme"})
	require.NoError(t, err)
	require.Empty(t, open, "unknown is not drift, not even suspected")
	sight := rec.LastKnown.Providers[config.RoleEcommerce]
	require.Nil(t, sight.SeenAt)
	require.Equal(t, drift.ReasonUnreachable, sight.Reason)

	// It answers: healthy at once.
	fp.set(config.RoleEcommerce, shopReachable())
	f.clock.Step(time.Second)
	seenAt := f.clock.Now()
	require.False(t, f.pass(t, "acme", "web").DriftDetected)
	rec = f.state1(t)
	require.Equal(t, store.StatusHealthy, rec.Status)
	require.Equal(t, rec.DesiredHash, rec.AppliedHash)

	// Down again: the last known observation stays, and so does healthy.
	fp.set(config.RoleEcommerce, shopDown())
	f.clock.Step(time.Minute)
	require.False(t, f.pass(t, "acme", "web").DriftDetected)
	rec = f.state1(t)
	require.Equal(t, store.StatusHealthy, rec.Status)
	sight = rec.LastKnown.Providers[config.RoleEcommerce]
	require.Equal(t, "ok", sight.Value, "an unknown observation never overwrites a known one")
	require.WithinDuration(t, seenAt, *sight.SeenAt, time.Millisecond)
	require.False(t, sight.Known)

	// Past max_unknown: provider_unreachable, confirmed like any drift.
	f.clock.Step(2 * time.Minute)
	require.False(t, f.pass(t, "acme", "web").DriftDetected, "suspected first")
	f.clock.Step(time.Second)
	res := f.pass(t, "acme", "web")
	require.True(t, res.DriftDetected)
	rec = f.state1(t)
	require.Len(t, rec.DriftDetails, 1)
	d := rec.DriftDetails[0]
	require.Equal(t, drift.ProviderUnreachable, d.Code)
	require.Equal(t, drift.SeverityMedium, d.Severity)
	require.Equal(t, 0, f.audited(t, "drift_resolved"))

	// Back: resolved.
	fp.set(config.RoleEcommerce, shopReachable())
	f.clock.Step(time.Second)
	require.False(t, f.pass(t, "acme", "web").DriftDetected)
	require.Equal(t, store.StatusHealthy, f.state1(t).Status)
	require.Equal(t, 1, f.audited(t, "drift_resolved"))
}

// TestRejectedCredentialsAreProviderUnauthorized: a 401 is
// provider_unauthorized (high, confirmed like any drift), never
// provider_missing, and never healed even when the policy allows it.
func TestRejectedCredentialsAreProviderUnauthorized(t *testing.T) {
	t.Parallel()
	f, fp := providerFixture(t)
	pol := healingPolicy(func(ah *config.AutoHeal) {
		ah.AllowedDriftTypes = []string{"provider_unauthorized", "provider_missing"}
	})
	f.apply(t, pol, stack("acme", "web", shopSpec()))
	fp.set(config.RoleEcommerce, shopReachable())
	f.firstPass(t, "acme", "web")

	fp.set(config.RoleEcommerce, drift.ProviderObservation{Name: "shopify", Reachability: drift.Unauthorized,
		Reason: drift.ReasonUnauthorized, Detail: "401 from shopify"})
	res := f.pass(t, "acme", "web") // observations 1, no grace period
	require.True(t, res.DriftDetected)
	require.False(t, res.AutoHealAttempted, "credentials are the operator's")
	d := f.state1(t).DriftDetails[0]
	require.Equal(t, drift.ProviderUnauthorized, d.Code)
	require.Equal(t, drift.SeverityHigh, d.Severity)
	require.Empty(t, f.heals(t))
}

// TestUnknownNeverClearsADrift: a confirmed webhook_broken stays open (and
// is not announced resolved) while the provider's subscriptions cannot be
// listed; it resolves once they are listed and ours is there.
func TestUnknownNeverClearsADrift(t *testing.T) {
	t.Parallel()
	f, fp := providerFixture(t)
	f.apply(t, policy(1), stack("acme", "web", shopSpec()))
	broken := shopReachable()
	broken.Subscriptions = nil
	fp.set(config.RoleEcommerce, broken)
	f.firstPass(t, "acme", "web")
	require.True(t, f.pass(t, "acme", "web").DriftDetected)
	require.Equal(t, drift.WebhookBroken, f.state1(t).DriftDetails[0].Code)

	fp.set(config.RoleEcommerce, shopDown())
	f.clock.Step(time.Minute)
	res := f.pass(t, "acme", "web")
	require.True(t, res.DriftDetected, "carried: unknown is no evidence either way")
	require.Equal(t, store.StatusDriftDetected, f.state1(t).Status)
	require.Equal(t, 0, f.audited(t, "drift_resolved"))

	fp.set(config.RoleEcommerce, shopReachable())
	f.clock.Step(time.Minute)
	require.False(t, f.pass(t, "acme", "web").DriftDetected)
	require.Equal(t, 1, f.audited(t, "drift_resolved"))
}

// TestPassesInQuickSuccessionDoNotConfirm is the start-up regression:
// under observations 2 and grace_period 1s, the start-up pass and an apply
// trigger a few ms later are two observations but not 1s of persistence,
// so nothing is confirmed; the pass asks to look again when the grace
// period ends, and a site that answered by then is healthy.
func TestPassesInQuickSuccessionDoNotConfirm(t *testing.T) {
	t.Parallel()
	f := setup(t, fixtureOpts{})
	site, err := sim.NewSite(sim.SiteOptions{Mode: sim.ModeFailing})
	require.NoError(t, err)
	t.Cleanup(site.Close)
	pol := policy(2)
	pol.Confirmation.GracePeriod = config.Duration(time.Second)
	f.apply(t, pol, stack("acme", "web", siteSpec(site.URL())))
	ctx := context.Background()

	f.pass(t, "acme", "web") // the start-up pass
	f.clock.Step(15 * time.Millisecond)
	res, next, err := f.loop.Reconcile(ctx, reconcile.Key("acme", "web"), reconcile.TriggerConfig)
	require.NoError(t, err)
	require.False(t, res.DriftDetected, "two passes 15ms apart are not 1s of persistence")
	require.InDelta(t, time.Second.Seconds(), next.Seconds(), 0.05, "looked at again when the grace period ends, not in 5m")
	require.Equal(t, 0, f.audited(t, "drift_detected"))

	require.NoError(t, site.SetMode(sim.ModeHealthy))
	f.clock.Step(next)
	require.False(t, f.pass(t, "acme", "web").DriftDetected)
	require.Equal(t, store.StatusHealthy, f.state1(t).Status)
	require.Equal(t, 0, f.audited(t, "drift_detected"), "nothing was ever announced")
	require.Equal(t, 0, f.audited(t, "drift_resolved"))

	// The same failure persisting is confirmed once both hold.
	require.NoError(t, site.SetMode(sim.ModeFailing))
	f.clock.Step(time.Minute)
	require.False(t, f.pass(t, "acme", "web").DriftDetected)
	f.clock.Step(time.Second)
	require.True(t, f.pass(t, "acme", "web").DriftDetected)
}

// TestNoHealWhileUnobserved: a confirmed drift carried through a pass that
// could not observe its provider is not healed in that pass (it may be gone
// already); the next pass that sees it again heals it.
func TestNoHealWhileUnobserved(t *testing.T) {
	t.Parallel()
	f, fp := providerFixture(t)
	heal := policy(1)
	heal.AutoHeal.Enabled = true
	heal.AutoHeal.AllowedDriftTypes = []string{"webhook_broken"}
	off := heal
	off.AutoHeal.Enabled = false
	f.apply(t, off, stack("acme", "web", shopSpec()))
	broken := shopReachable()
	broken.Subscriptions = nil
	fp.set(config.RoleEcommerce, broken)
	f.firstPass(t, "acme", "web")
	require.True(t, f.pass(t, "acme", "web").DriftDetected)

	f.apply(t, heal, stack("acme", "web", shopSpec()))
	fp.set(config.RoleEcommerce, shopDown())
	f.clock.Step(time.Minute)
	res := f.pass(t, "acme", "web")
	require.True(t, res.DriftDetected, "carried")
	require.False(t, res.AutoHealAttempted, "no heal of what this pass could not see")

	fp.set(config.RoleEcommerce, broken)
	f.clock.Step(time.Minute)
	require.True(t, f.pass(t, "acme", "web").AutoHealAttempted, "seen again: healed")
}
