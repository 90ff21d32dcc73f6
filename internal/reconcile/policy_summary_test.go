package reconcile_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/sim"
)

// TestAPassRecordsTheEffectivePolicy: a policy written through the API
// (PutPolicy: no stack is applied) shows in the stack's
// reconciliation_policy and alert channels after the pass it asks for.
func TestAPassRecordsTheEffectivePolicy(t *testing.T) {
	t.Parallel()
	f := setup(t, fixtureOpts{})
	site, err := sim.NewSite(sim.SiteOptions{})
	require.NoError(t, err)
	t.Cleanup(site.Close)
	pol := policy(1)
	pol.AutoHeal.Enabled = false
	f.apply(t, pol, stack("acme", "web", siteSpec(site.URL())))
	ctx := context.Background()
	f.firstPass(t, "acme", "web")

	own := policy(1)
	own.AutoHeal.Enabled, own.AutoHeal.MaxAttempts = true, 6
	own.Notifications.Channels = []config.ChannelSpec{{Ref: "ops-slack"}}
	require.NoError(t, f.state.PutPolicy(ctx, "acme", "web", own, "ops"))
	f.pass(t, "acme", "web")
	rec, err := f.store.GetState(ctx, "acme", "web")
	require.NoError(t, err)
	require.True(t, rec.ReconciliationPolicy.AutoHeal)
	require.Equal(t, 6, rec.ReconciliationPolicy.MaxHealAttempts)
	require.Equal(t, []string{"ops-slack"}, rec.Observability.AlertChannels)
}
