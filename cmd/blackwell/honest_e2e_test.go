package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/sim"
	"github.com/blackwellio/blackwell/internal/store"
)

// The end-to-end tests of honest detection (issue 14): what Blackwell
// cannot see is not drift, and start-up does not confirm drift in
// milliseconds.

// honestPolicy is the policy of the issue: two observations AND one second,
// with a pass every 2s. (At 1s a pass ran every second while the API's
// breaker held its last cooldown of up to 4s after the outage, and under
// load those passes, unknown ones, counted against "healthy within two
// passes of the provider returning".)
const honestPolicy = `---
apiVersion: blackwell.io/v1
kind: ReconciliationPolicy
metadata: {client_id: acme}
spec:
  schedule: {interval: 2s}
  confirmation: {observations: 2, grace_period: 1s}
`

// stackSeen is what the honest tests read of the stack.
type stackSeen struct {
	Status       string     `json:"status"`
	LastVerified *time.Time `json:"last_verified"`
	LastKnown    struct {
		Providers map[string]struct {
			Value  string     `json:"value"`
			SeenAt *time.Time `json:"seen_at"`
			Known  bool       `json:"known"`
			Reason string     `json:"reason"`
		} `json:"providers"`
	} `json:"last_known"`
}

// requireNothingConfirmed fails when any drift of acme is confirmed or was
// ever announced (a drift_detected audit entry is what notifications are
// planned from).
func (w *worldE2E) requireNothingConfirmed(t *testing.T) {
	t.Helper()
	var ds driftStatus
	w.getJSON(t, "/v1/clients/acme/drift", &ds)
	require.False(t, ds.HasDrift, "no confirmed drift: %+v", ds.DriftDetails)
	audit, _, err := w.srv.store.ListAudit(context.Background(), store.AuditQuery{ClientID: "acme"})
	require.NoError(t, err)
	for _, a := range audit {
		require.NotEqual(t, "drift_detected", a.Action, "nothing announced: %s", a.ChangesMade)
	}
}

// watchFor polls the stack for d, checking at every look that nothing is
// confirmed and the stack is never drift_detected.
func (w *worldE2E) watchFor(t *testing.T, d time.Duration) {
	t.Helper()
	until := time.Now().Add(d)
	for time.Now().Before(until) {
		var rec stackSeen
		w.getJSON(t, "/v1/stacks/acme/web", &rec)
		require.NotEqual(t, "drift_detected", rec.Status)
		w.requireNothingConfirmed(t)
		time.Sleep(100 * time.Millisecond) // the pace of the look, not a wait for an event
	}
}

// TestE2EShopifyAPIRefusingConnectionsAtStartIsNotDrift: the Shopify API
// refuses connections for the first 5 seconds after serve starts, then
// answers with the right subscriptions. Nothing is confirmed or announced
// (it was provider_missing, critical, confirmed at once), the new stack is
// reconciling meanwhile, and it is healthy within two passes of the API's
// return.
func TestE2EShopifyAPIRefusingConnectionsAtStartIsNotDrift(t *testing.T) {
	t.Parallel()
	late := freeAddr(t) // the API listens here only after 5s
	var shopURL string
	w := startWorldAt(t, worldStart{
		cms: sim.CMSSanity, policy: honestPolicy,
		before: func(world *sim.StackWorld) { shopURL = world.Shop.URL() },
		config: func(text string) string { return strings.Replace(text, shopURL, "http://"+late, 1) },
	})

	w.watchFor(t, 5*time.Second)
	var rec stackSeen
	w.getJSON(t, "/v1/stacks/acme/web", &rec)
	require.NotNil(t, rec.LastVerified, "passes ran during the outage")
	require.Equal(t, "reconciling", rec.Status, "never seen: a new stack is reconciling, not drifting")
	shop := rec.LastKnown.Providers["ecommerce"]
	require.False(t, shop.Known)
	require.Nil(t, shop.SeenAt)
	require.NotEmpty(t, shop.Reason)

	newTCPProxyAt(t, late, strings.TrimPrefix(shopURL, "http://"))
	back := time.Now()

	var healthyAt time.Time
	eventually(t, 60*time.Second, "stack acme/web healthy after the API's return", func() bool {
		var rec stackSeen
		w.getJSON(t, "/v1/stacks/acme/web", &rec)
		require.NotEqual(t, "drift_detected", rec.Status)
		if rec.Status == "healthy" && rec.LastVerified != nil {
			healthyAt = *rec.LastVerified
			return true
		}
		return false
	})
	w.requireNothingConfirmed(t)

	var passes struct {
		Items []struct {
			StartedAt   time.Time `json:"started_at"`
			CompletedAt time.Time `json:"completed_at"`
		} `json:"items"`
	}
	w.getJSON(t, "/v1/clients/acme/reconciliations?limit=200", &passes)
	after := 0
	for _, p := range passes.Items {
		if p.StartedAt.After(back) && !p.CompletedAt.After(healthyAt) {
			after++
		}
	}
	t.Logf("healthy %s after the API's return, in %d passes", healthyAt.Sub(back).Round(time.Millisecond), after)
	require.LessOrEqual(t, after, 2, "healthy within two passes of the provider returning")

	w.getJSON(t, "/v1/stacks/acme/web", &rec)
	require.Equal(t, "ok", rec.LastKnown.Providers["ecommerce"].Value)
}

// TestE2ESiteAnsweringLateAtStartIsNotDrift is the start-up regression: a
// site that answers a few hundred ms after serve starts was
// resource_unhealthy, confirmed and announced within 15ms under
// observations 2 and grace_period 1s (the start-up pass and the apply
// trigger counted as two observations, and either rule confirmed). Now
// nothing is confirmed and the stack becomes healthy.
func TestE2ESiteAnsweringLateAtStartIsNotDrift(t *testing.T) {
	t.Parallel()
	w := startWorldAt(t, worldStart{
		cms: sim.CMSSanity, policy: honestPolicy,
		before: func(world *sim.StackWorld) { require.NoError(t, world.Site.SetMode(sim.ModeDown)) },
	})
	eventually(t, 15*time.Second, "the first pass", func() bool {
		var rec stackSeen
		w.getJSON(t, "/v1/stacks/acme/web", &rec)
		return rec.LastVerified != nil
	})
	w.watchFor(t, 300*time.Millisecond)
	require.NoError(t, w.world.Site.SetMode(sim.ModeHealthy))
	w.waitStatus(t, "healthy")
	w.watchFor(t, 1500*time.Millisecond)
	w.waitStatus(t, "healthy")
}
