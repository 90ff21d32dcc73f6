package rollback_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/rollback"
	"github.com/blackwellio/blackwell/internal/sim"
	"github.com/blackwellio/blackwell/internal/store"
)

// TestUnpinGivesEachHostItsUsualPublishingBack: after a held rollback
// across providers, Vercel keeps production on the rolled-back deployment
// even for new deployments; unpin promotes the live deployment, so it
// goes on serving and the next deployment goes live again. Netlify and
// Cloudflare Pages publish new deployments all along: unpin calls
// nothing there, and the next deployment goes live the same.
func TestUnpinGivesEachHostItsUsualPublishingBack(t *testing.T) {
	t.Parallel()
	for _, flavor := range []sim.BuildHookFlavor{sim.FlavorVercel, sim.FlavorNetlify, sim.FlavorCloudflare} {
		t.Run(string(flavor), func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, worldOpts{flavor: flavor})
			ctx := context.Background()
			good := establish(t, w, healing())
			badRelease(t, w)
			rb, err := w.svc.Start(ctx, rollback.Request{ClientID: "acme", StackID: "web", Target: good.ID, Hold: time.Hour, By: "ops"})
			require.NoError(t, err)
			require.Equal(t, store.RollbackVerified, rb.Status, rb.Error)
			require.Equal(t, good.Components.Build.DeployID, w.host.Live().ID)
			restores := w.host.Restores()

			h, err := w.state.Unpin(ctx, "acme", "web", "ops")
			require.NoError(t, err)
			require.NotNil(t, h)
			detail, err := w.svc.Unpinned(ctx, "acme", "web", h)
			require.NoError(t, err)
			require.Equal(t, good.Components.Build.DeployID, w.host.Live().ID, "unpin leaves the restored deployment serving")

			next := w.host.Publish("c3", true)
			if flavor == sim.FlavorVercel {
				require.Contains(t, detail, "promoted")
				require.Equal(t, restores+1, w.host.Restores(), "one promote")
			} else {
				require.Empty(t, detail)
				require.Equal(t, restores, w.host.Restores(), "nothing called")
			}
			require.Equal(t, next.ID, w.host.Live().ID, "the next production deployment goes live after unpin")
		})
	}
}

// TestVercelHoldsProductionWithoutUnpin is the control: without the
// promote, a new deployment stays off production after the rollback.
func TestVercelHoldsProductionWithoutUnpin(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{flavor: sim.FlavorVercel})
	ctx := context.Background()
	good := establish(t, w, healing())
	badRelease(t, w)
	_, err := w.svc.Start(ctx, rollback.Request{ClientID: "acme", StackID: "web", Target: good.ID, Hold: time.Hour, By: "ops"})
	require.NoError(t, err)
	_, err = w.state.Unpin(ctx, "acme", "web", "ops")
	require.NoError(t, err)
	w.host.Publish("c3", true)
	require.Equal(t, good.Components.Build.DeployID, w.host.Live().ID)

	// A hold without a snapshot (a rollback of the desired state alone)
	// rolled no host back: nothing to promote.
	detail, err := w.svc.Unpinned(ctx, "acme", "web", &store.Hold{Version: "v1.2.0"})
	require.NoError(t, err)
	require.Empty(t, detail)
}

// TestAnExpiredHoldGivesVercelItsPublishingBack: a hold that runs out by
// itself ends like unpin on Vercel: the pass after its expiry promotes the
// live deployment, once, and the next deployment goes live again.
func TestAnExpiredHoldGivesVercelItsPublishingBack(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{flavor: sim.FlavorVercel})
	ctx := context.Background()
	good := establish(t, w, healing())
	badRelease(t, w)
	_, err := w.svc.Start(ctx, rollback.Request{ClientID: "acme", StackID: "web", Target: good.ID, Hold: time.Hour, By: "ops"})
	require.NoError(t, err)
	w.round(t)
	w.host.Publish("c3", true)
	require.Equal(t, good.Components.Build.DeployID, w.host.Live().ID, "held: a new deployment stays off production")
	restores := w.host.Restores()

	w.clock.Step(time.Hour)
	w.round(t)
	require.Equal(t, restores+1, w.host.Restores(), "the pass after the hold's end promotes the live deployment")
	require.Equal(t, good.Components.Build.DeployID, w.host.Live().ID)
	entries, _, err := w.store.ListAudit(ctx, store.AuditQuery{ClientID: "acme", Action: "unpin_providers"})
	require.NoError(t, err)
	require.Len(t, entries, 1)
	require.Equal(t, "hold_expired", entries[0].TriggeredBy)

	w.round(t)
	require.Equal(t, restores+1, w.host.Restores(), "once per hold")
	next := w.host.Publish("c4", true)
	require.Equal(t, next.ID, w.host.Live().ID, "the next production deployment goes live")
}
