package promote_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
	"github.com/blackwellio/blackwell/internal/forecast/evaluator"
	"github.com/blackwellio/blackwell/internal/promote"
	"github.com/blackwellio/blackwell/internal/reconcile"
	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

func shopStack(env, shop string) string {
	return fmt.Sprintf(`---
apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: shop-%s, environment: %s}
spec:
  overrides: [providers.ecommerce.settings.shop]
  providers:
    ecommerce:
      name: shopify
      settings: {shop: %s.myshopify.com, api_version: "2025-07"}
      credentials: {token: "${SHOPIFY_TOKEN}"}
  integrations:
    orders: {provider: ecommerce, topics: [orders/create]}
`, env, env, shop)
}

// TestADriftOfStagingIsForecastForProd: a subscription drift confirmed in
// staging that prod declares alike raises a forecast on prod's next pass;
// it stays while staging shows the drift, and clears when prod's own pass
// shows the drift (then it is drift) or when staging's drift clears.
func TestADriftOfStagingIsForecastForProd(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "b.db"))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	var (
		mu  sync.Mutex
		now = time.Now().UTC()
	)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	svc := state.New(db, state.Options{Now: clock})
	cfg, err := config.Parse("app.yaml", []byte(shopStack("staging", "acme-staging")+shopStack("prod", "acme")), nil)
	require.NoError(t, err)
	_, err = svc.ApplyConfig(ctx, cfg, "test")
	require.NoError(t, err)

	n := 0
	ev := evaluator.New(evaluator.Options{Store: db, NewID: func() string { n++; return fmt.Sprintf("fc-%d", n) },
		Leading: &promote.LeadingDrifts{Envs: &promote.Environments{Store: db, Now: clock}, Store: db, Now: clock}})

	// commit commits a pass of a stack with its open drifts.
	commit := func(stack string, drifts ...drift.Drift) {
		rec, err := db.GetState(ctx, "acme", stack)
		require.NoError(t, err)
		at := clock()
		res := store.ReconciliationResult{ReconciliationID: fmt.Sprintf("recon-%s-%d", stack, at.UnixNano()), ClientID: "acme", StackID: stack,
			Trigger: "test", StartedAt: at, CompletedAt: at, Status: store.ResultSuccess, StateVersion: rec.StateVersion,
			DriftDetected: len(drifts) > 0, DriftCount: len(drifts)}
		_, err = db.CommitPass(ctx, store.Pass{State: rec, Drifts: drifts, Result: res})
		require.NoError(t, err)
	}
	mismatch := func(stack string) drift.Drift {
		at := clock()
		return drift.Drift{ID: drift.ID("acme", stack, drift.TypeIntegration, "orders"), ClientID: "acme", StackID: stack,
			Code: drift.IntegrationMismatch, Type: drift.TypeIntegration, Component: "orders", Severity: drift.SeverityMedium,
			Expected: []string{"orders/create"}, Observed: []string{"orders/created"}, DetectedAt: at, FirstSeen: at, LastSeen: at,
			Observations: 2, Confirmed: true}
	}
	// prodPass evaluates a pass of prod that saw open.
	prodPass := func(open ...drift.Drift) forecast.Tracked {
		rec, err := db.GetState(ctx, "acme", "shop-prod")
		require.NoError(t, err)
		var spec config.StackSpec
		require.NoError(t, json.Unmarshal(rec.Desired, &spec))
		p := reconcile.PassObservation{ClientID: "acme", StackID: "shop-prod", Environment: "prod", ReconciliationID: "recon-prod",
			Trigger: "schedule", At: clock(), Spec: spec, Open: open}
		p.Forecasts, _, err = db.ListForecasts(ctx, store.ForecastQuery{ClientID: "acme", StackID: "shop-prod"})
		require.NoError(t, err)
		tr, err := ev.Evaluate(ctx, p)
		require.NoError(t, err)
		return tr
	}

	require.Empty(t, prodPass().Open(), "staging is clean: nothing forecast")
	advance(time.Minute)
	staging := mismatch("shop-staging")
	commit("shop-staging", staging)

	tr := prodPass()
	require.Len(t, tr.Raised, 1)
	f := tr.Raised[0]
	require.Equal(t, forecast.Key{Code: drift.IntegrationMismatch, Component: "orders"}, f.Key())
	require.Equal(t, forecast.IndicatorEnvironment, f.Evidence.Indicator)
	require.Contains(t, f.Evidence.Detail, "open in staging (shop-staging)")
	audit, _, err := db.ListAudit(ctx, store.AuditQuery{ClientID: "acme", Action: forecast.AuditRaised})
	require.NoError(t, err)
	require.Len(t, audit, 1)
	require.Equal(t, "shop-prod", audit[0].StackID)

	advance(time.Minute)
	tr = prodPass()
	require.Empty(t, tr.Raised, "raised once")
	require.Len(t, tr.Kept, 1)

	// Prod's own pass shows the drift: it is drift now, the forecast ends.
	tr = prodPass(mismatch("shop-prod"))
	require.Len(t, tr.Cleared, 1)
	require.Empty(t, tr.Open())

	// Prod healed; staging still shows it: forecast again.
	advance(time.Minute)
	require.Len(t, prodPass().Raised, 1)

	// Staging's drift clears: prod's first pass after the leading stack's
	// drifts are read again clears the forecast.
	commit("shop-staging")
	advance(10 * time.Second)
	require.Len(t, prodPass().Kept, 1, "staging's drifts are read at most every 30s")
	advance(30 * time.Second)
	tr = prodPass()
	require.Len(t, tr.Cleared, 1)
	require.Empty(t, tr.Open())
}
