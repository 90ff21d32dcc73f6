package promote_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
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

// measureReleases is how many releases go dev -> staging -> prod.
const measureReleases = 12

// TestPromotionMeasures measures the share of finished promotions whose
// audited record carries verification evidence: releases go through the
// real promoter dev -> staging -> prod (staging's hour of soak on an
// injected clock, prod's approval granted), every third release breaks
// prod so that its verification fails and the promotion rolls back.
// docs/PERFORMANCE.md records its output:
//
//	go test ./internal/promote -run 'TestPromotionMeasures|TestEscapedDriftMeasures' -count=1 -v
func TestPromotionMeasures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, "")
	p := promote.New(promote.Options{Store: b.store, State: b.svc, Passes: b, Now: b.clock,
		VerifyTimeout: 150 * time.Millisecond, VerifyInterval: 10 * time.Millisecond})

	var ids []string
	promoteOnce := func(from, to string) store.Promotion {
		t.Helper()
		rec, _, err := p.Start(ctx, promote.Request{ClientID: "acme", App: "shop", From: from, To: to, By: "ops"})
		require.NoError(t, err, "%s -> %s", from, to)
		if rec.Status == store.PromotionAwaitingApproval {
			_, err = b.store.DecideApproval(ctx, store.ApprovalDecision{ID: rec.ApprovalID, Approve: true, By: "lead", At: b.clock()})
			require.NoError(t, err)
			require.NoError(t, p.Resume(ctx))
		}
		p.Wait()
		got, err := b.store.GetPromotion(ctx, "acme", rec.ID)
		require.NoError(t, err)
		ids = append(ids, rec.ID)
		return got
	}

	start := time.Now()
	rolledBack := 0
	for i := range measureReleases {
		// A new release in dev: one more content type.
		dev := desired(t, b.store, "shop-dev")
		var spec config.StackSpec
		require.NoError(t, json.Unmarshal(dev.Desired, &spec))
		spec.ContentTypes = append(spec.ContentTypes, fmt.Sprintf("type%d", i))
		_, err := b.svc.ApplySpec(ctx, state.SpecRequest{ClientID: "acme", StackID: "shop-dev", Spec: spec, By: "dev", Action: "apply"})
		require.NoError(t, err)
		_, err = b.ReconcileWait(ctx, "acme", "shop-dev", "test")
		require.NoError(t, err)

		got := promoteOnce("dev", "staging")
		require.Equal(t, store.PromotionSucceeded, got.Status, got.Error)

		// Staging soaks its hour, then prod.
		b.advance(time.Hour + time.Minute)
		_, err = b.ReconcileWait(ctx, "acme", "shop-staging", "test")
		require.NoError(t, err)
		bad := i%3 == 2
		if bad {
			b.mu.Lock()
			b.broken, b.good = "shop-prod", desired(t, b.store, "shop-prod").StateVersion
			b.mu.Unlock()
		}
		got = promoteOnce("staging", "prod")
		b.mu.Lock()
		b.broken = ""
		b.mu.Unlock()
		if bad {
			require.Equal(t, store.PromotionRolledBack, got.Status, got.Error)
			rolledBack++
			// The rolled-back prod is healthy again before the next release.
			_, err = b.ReconcileWait(ctx, "acme", "shop-prod", "test")
			require.NoError(t, err)
		} else {
			require.Equal(t, store.PromotionSucceeded, got.Status, got.Error)
		}
	}
	elapsed := time.Since(start)

	audit, _, err := b.store.ListAudit(ctx, store.AuditQuery{ClientID: "acme", Limit: store.MaxLimit})
	require.NoError(t, err)
	withEvidence := 0
	for _, id := range ids {
		rec, err := b.store.GetPromotion(ctx, "acme", id)
		require.NoError(t, err)
		require.False(t, rec.Status.Unfinished(), id)
		if why := evidenceGap(rec, audit); why != "" {
			t.Logf("%s (%s): %s", id, rec.Status, why)
			continue
		}
		withEvidence++
	}
	require.Equal(t, len(ids), withEvidence, "every finished promotion carries its evidence")
	t.Logf("MEASURE promotions=%d succeeded=%d rolled_back=%d with_evidence=%d/%d (%.0f%%) elapsed=%s",
		len(ids), len(ids)-rolledBack, rolledBack, withEvidence, len(ids), 100*float64(withEvidence)/float64(len(ids)),
		elapsed.Round(time.Millisecond))
}

// evidenceGap says what a finished promotion's evidence lacks, "" when it
// has it all: the record's evidence names passes of the new revision that
// started after the new revision was applied (fresh, never a stored
// status), the last one deciding as the status says; the audit entry that
// finished the promotion carries the same evidence.
func evidenceGap(rec store.Promotion, audit []store.AuditEntry) string {
	var ev promote.Evidence
	if err := json.Unmarshal(rec.Evidence, &ev); err != nil {
		return "no evidence on the record: " + err.Error()
	}
	if len(ev.Passes) == 0 {
		return "no pass in the evidence"
	}
	var applied time.Time
	var final *store.AuditEntry
	for i, e := range audit {
		var ch struct {
			PromotionID string          `json:"promotion_id"`
			Evidence    json.RawMessage `json:"evidence"`
		}
		if json.Unmarshal(e.ChangesMade, &ch) != nil || ch.PromotionID != rec.ID {
			continue
		}
		switch e.Action {
		case "promotion_applied":
			applied = e.Timestamp
		case "promotion_succeeded", "promotion_rolled_back", "promotion_failed":
			final = &audit[i]
			var got promote.Evidence
			if err := json.Unmarshal(ch.Evidence, &got); err != nil || len(got.Passes) != len(ev.Passes) || got.Verified != ev.Verified {
				return "the audit entry " + e.Action + " does not carry the record's evidence"
			}
		}
	}
	if applied.IsZero() {
		return "no promotion_applied entry"
	}
	if final == nil {
		return "no audit entry finishing the promotion"
	}
	for _, pass := range ev.Passes {
		if pass.StateVersion != rec.NewVersion {
			return fmt.Sprintf("pass %s observed %s, not the new revision %s", pass.ReconciliationID, pass.StateVersion, rec.NewVersion)
		}
		if pass.StartedAt.Before(applied) {
			return fmt.Sprintf("pass %s started before the new revision was applied", pass.ReconciliationID)
		}
	}
	if ev.Verified != (rec.Status == store.PromotionSucceeded) {
		return fmt.Sprintf("evidence verified=%t for a promotion %s", ev.Verified, rec.Status)
	}
	if !ev.Verified && len(ev.Drifts) == 0 && ev.Reason == "" {
		return "a failed verification names no drift and no reason"
	}
	return ""
}

// providerChange is one scripted change of a provider: it shows in
// staging at stagingAt and in prod lag later (never when lag is 0).
type providerChange struct {
	code      drift.Code
	component string
	lag       time.Duration
}

// TestEscapedDriftMeasures measures escaped drift: of the drifts first
// seen in prod that staging showed first, how many prod onsets had no
// forecast open on prod before them. Staging and prod (one Shopify
// composition, one subscription) pass every 5 minutes of an injected
// clock, staging first; provider changes (a new API version:
// provider_changed; a subscription's topic changed: integration_mismatch;
// its callback gone: webhook_broken) hit staging first and prod after a
// lag, or never. The evaluator is wired as serve wires it
// (internal/server/parts.go: LeadingDrifts over Environments); drift is
// confirmed on its second pass, as by default. The forecast must catch
// every change whose lag exceeds two intervals (staging's first pass after
// the change, its confirming pass, then prod's pass that reads it).
func TestEscapedDriftMeasures(t *testing.T) {
	t.Parallel()
	const interval = 5 * time.Minute
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "b.db"))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	var (
		mu  sync.Mutex
		now = time.Now().UTC().Truncate(time.Hour)
	)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	svc := state.New(db, state.Options{Now: clock})
	cfg, err := config.Parse("app.yaml", []byte(shopStack("staging", "acme-staging")+shopStack("prod", "acme")), nil)
	require.NoError(t, err)
	_, err = svc.ApplyConfig(ctx, cfg, "test")
	require.NoError(t, err)
	n := 0
	ev := evaluator.New(evaluator.Options{Store: db, NewID: func() string { n++; return fmt.Sprintf("fc-%d", n) },
		Leading: &promote.LeadingDrifts{Envs: &promote.Environments{Store: db, Now: clock}, Store: db, Now: clock}})

	// observed is a drift a pass saw, since onset, for the obs-th time.
	observed := func(stack string, c providerChange, onset time.Time, obs int) drift.Drift {
		typ, sev, exp, got := drift.TypeIntegration, drift.SeverityHigh, any([]string{"orders/create"}), any([]string{"orders/created"})
		switch c.code {
		case drift.ProviderChanged:
			typ, sev, exp, got = drift.TypeProvider, drift.SeverityCritical, "2025-07", "2025-10"
		case drift.WebhookBroken:
			exp, got = "https://hooks.blackwell.example/orders", "absent"
		}
		return drift.Drift{ID: drift.ID("acme", stack, typ, c.component), ClientID: "acme", StackID: stack, Code: c.code, Type: typ,
			Component: c.component, Severity: sev, Expected: exp, Observed: got, DetectedAt: onset, FirstSeen: onset, LastSeen: clock(),
			Observations: obs, Confirmed: obs >= 2}
	}
	spec := map[string]config.StackSpec{}
	for _, stack := range []string{"shop-staging", "shop-prod"} {
		rec, err := db.GetState(ctx, "acme", stack)
		require.NoError(t, err)
		var s config.StackSpec
		require.NoError(t, json.Unmarshal(rec.Desired, &s))
		spec[stack] = s
	}
	// pass commits a pass of stack that saw open and evaluates its
	// forecasts, as the reconciler's forecast hook does.
	pass := func(stack, env string, open ...drift.Drift) forecast.Tracked {
		rec, err := db.GetState(ctx, "acme", stack)
		require.NoError(t, err)
		at := clock()
		res := store.ReconciliationResult{ReconciliationID: fmt.Sprintf("recon-%s-%d", stack, at.UnixNano()), ClientID: "acme", StackID: stack,
			Trigger: "schedule", StartedAt: at, CompletedAt: at, Status: store.ResultSuccess, StateVersion: rec.StateVersion,
			DriftDetected: len(open) > 0, DriftCount: len(open)}
		_, err = db.CommitPass(ctx, store.Pass{State: rec, Drifts: open, Result: res})
		require.NoError(t, err)
		p := reconcile.PassObservation{ClientID: "acme", StackID: stack, Environment: env, ReconciliationID: res.ReconciliationID,
			Trigger: "schedule", At: at, Spec: spec[stack], Open: open}
		p.Forecasts, _, err = db.ListForecasts(ctx, store.ForecastQuery{ClientID: "acme", StackID: stack})
		require.NoError(t, err)
		tr, err := ev.Evaluate(ctx, p)
		require.NoError(t, err)
		return tr
	}

	var changes []providerChange
	for _, c := range []providerChange{{code: drift.ProviderChanged, component: "ecommerce"},
		{code: drift.IntegrationMismatch, component: "orders"}, {code: drift.WebhookBroken, component: "orders"}} {
		for _, lag := range []time.Duration{time.Minute, 4 * time.Minute, 7 * time.Minute, 12 * time.Minute, time.Hour, 6 * time.Hour, 0} {
			c.lag = lag
			changes = append(changes, c)
		}
	}

	start := time.Now()
	shown, caught, noisy, passes := 0, 0, 0, 0
	var escaped []string
	var leads []time.Duration
	for i, c := range changes {
		key := forecast.Key{Code: c.code, Component: c.component}
		// The change lands between passes, at a different phase each time.
		stagingAt := clock().Add(time.Duration(i%5)*time.Minute + 30*time.Second)
		prodAt := stagingAt.Add(c.lag)
		end := prodAt.Add(2 * interval)
		if c.lag == 0 {
			end = stagingAt.Add(time.Hour)
		}
		var stagingObs, prodObs int
		var prodOnset time.Time
		forecastOpen, raised := false, false
		var raisedAt time.Time
		for !clock().After(end) {
			mu.Lock()
			now = now.Add(interval)
			mu.Unlock()
			at := clock()
			var open []drift.Drift
			if !at.Before(stagingAt) {
				stagingObs++
				open = append(open, observed("shop-staging", c, stagingAt, stagingObs))
			}
			pass("shop-staging", "staging", open...)
			open = nil
			if c.lag > 0 && !at.Before(prodAt) {
				prodObs++
				if prodObs == 1 {
					prodOnset = at
					shown++
					if forecastOpen {
						caught++
						leads = append(leads, at.Sub(raisedAt))
					} else {
						escaped = append(escaped, fmt.Sprintf("%s/%s lag %s", c.code, c.component, c.lag))
					}
				}
				open = append(open, observed("shop-prod", c, at, prodObs))
			}
			tr := pass("shop-prod", "prod", open...)
			passes += 2
			wasOpen := forecastOpen
			forecastOpen = false
			for _, f := range tr.Open() {
				if f.Key() == key {
					forecastOpen, raised = true, true
				}
			}
			if forecastOpen && !wasOpen {
				raisedAt = at
			}
		}
		if c.lag == 0 && raised {
			noisy++ // forecast for a change that never reached prod
		}
		if c.lag > 2*interval {
			// Staging's first pass after the change is at most an interval
			// after it, its confirming pass an interval later, and prod's
			// pass right after that reads it: a longer lag leaves that
			// pass before prod's onset whatever the phase.
			require.False(t, prodOnset.IsZero())
			require.NotContains(t, escaped, fmt.Sprintf("%s/%s lag %s", c.code, c.component, c.lag), "the forecast catches it")
		}
		// The provider is fixed in both: clean passes until nothing is
		// forecast (staging's drifts are read again after the cache's 30s).
		for range 2 {
			mu.Lock()
			now = now.Add(interval)
			mu.Unlock()
			pass("shop-staging", "staging")
			tr := pass("shop-prod", "prod")
			passes += 2
			if len(tr.Open()) == 0 {
				break
			}
		}
		fs, _, err := db.ListForecasts(ctx, store.ForecastQuery{ClientID: "acme", StackID: "shop-prod"})
		require.NoError(t, err)
		require.Empty(t, fs, "nothing forecast between changes")
	}
	elapsed := time.Since(start)
	require.Positive(t, caught, "the forecast catches changes")
	for _, e := range escaped {
		t.Logf("escaped: %s", e)
	}
	slices.Sort(leads)
	t.Logf("MEASURE changes=%d reached_prod_after_staging=%d caught=%d escaped=%d (%.0f%%) lead_min=%s lead_median=%s forecast_never_reaching_prod=%d passes=%d interval=%s elapsed=%s",
		len(changes), shown, caught, len(escaped), 100*float64(len(escaped))/float64(shown), leads[0], leads[len(leads)/2],
		noisy, passes, interval, elapsed.Round(time.Millisecond))
}
