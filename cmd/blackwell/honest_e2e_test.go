package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/poll"
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

// watch looks at the stack until done holds, checking at every look that
// nothing is confirmed and the stack is never drift_detected.
func (w *worldE2E) watch(t *testing.T, what string, done func() bool) {
	t.Helper()
	poll.Until(t, time.Minute, what, func() bool {
		var rec stackSeen
		w.getJSON(t, "/v1/stacks/acme/web", &rec)
		require.NotEqual(t, "drift_detected", rec.Status)
		w.requireNothingConfirmed(t)
		return done()
	})
}

// watchPasses watches the stack (watch) until n passes that started after
// since have committed.
func (w *worldE2E) watchPasses(t *testing.T, since time.Time, n int) {
	t.Helper()
	w.watch(t, fmt.Sprintf("%d passes of acme/web", n), func() bool { return w.passed("acme", "web", since, n) })
}

// TestE2EShopifyAPIRefusingConnectionsAtStartIsNotDrift: the Shopify API
// refuses connections for serve's first four passes (two intervals or
// more, past the grace period), then answers with the right
// subscriptions. Nothing is confirmed or announced
// (it was provider_missing, critical, confirmed at once), the new stack is
// reconciling meanwhile, and it is healthy within two passes of the API's
// return.
func TestE2EShopifyAPIRefusingConnectionsAtStartIsNotDrift(t *testing.T) {
	t.Parallel()
	late := freeAddr(t) // the API listens here only after four passes
	var shopURL string
	started := time.Now()
	w := startWorldAt(t, worldStart{
		cms: sim.CMSSanity, policy: honestPolicy,
		before: func(world *sim.StackWorld) { shopURL = world.Shop.URL() },
		config: func(text string) string { return strings.Replace(text, shopURL, "http://"+late, 1) },
	})

	w.watchPasses(t, started, 4)
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
	poll.Until(t, 60*time.Second, "stack acme/web healthy after the API's return", func() bool {
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
	poll.Until(t, time.Minute, "the first pass", func() bool {
		var rec stackSeen
		w.getJSON(t, "/v1/stacks/acme/web", &rec)
		return rec.LastVerified != nil
	})
	// The site stays down a few hundred ms after the first pass: less
	// than the grace period (1s), which a count of passes cannot say (the
	// next scheduled pass is 2s away), so this window is timed.
	downUntil := time.Now().Add(300 * time.Millisecond)
	w.watch(t, "the site down for 300ms", func() bool { return time.Now().After(downUntil) })
	require.NoError(t, w.world.Site.SetMode(sim.ModeHealthy))
	w.waitStatus(t, "healthy")
	w.watchPasses(t, time.Now(), 1)
	w.waitStatus(t, "healthy")
}
