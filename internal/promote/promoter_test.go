package promote_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/promote"
	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

// appYAML is a three-environment application: staging soaks an hour,
// prod needs approval (the default).
const appYAML = `
apiVersion: blackwell.io/v1
kind: Pipeline
metadata: {client_id: acme, app: shop}
spec:
  stages:
    - {environment: dev}
    - {environment: staging, soak: 1h}
    - {environment: prod}
`

func stackYAML(env, host string, extra string) string {
	return fmt.Sprintf(`---
apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: shop-%s, environment: %s}
spec:
  overrides: [resources.site.url]
  content_types: [product%s]
  resources:
    site: {probe: http, url: "https://%s/"}
`, env, env, extra, host)
}

type bundle struct {
	store store.Store
	svc   *state.Service
	p     *promote.Promoter

	mu sync.Mutex
	// offset is how far the test moved the clock past the real one (the
	// store stamps versions with the real clock).
	offset time.Duration
	passes int
	// broken: a pass of this stack at a version other than good sees drift.
	broken, good string
}

func (b *bundle) clock() time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return time.Now().UTC().Add(b.offset)
}

func (b *bundle) advance(d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.offset += d
}

// ReconcileWait runs a pass as the reconciler would commit it: the stack
// healthy and verified now, or, for a broken stack's new version, a
// resource_unhealthy drift.
func (b *bundle) ReconcileWait(ctx context.Context, clientID, stackID, trigger string) (store.ReconciliationResult, error) {
	rec, err := b.store.GetState(ctx, clientID, stackID)
	if err != nil {
		return store.ReconciliationResult{}, err
	}
	now := b.clock()
	b.mu.Lock()
	b.passes++
	id := fmt.Sprintf("recon-%s-%d", stackID, b.passes)
	b.mu.Unlock()
	res := store.ReconciliationResult{ReconciliationID: id, ClientID: clientID, StackID: stackID,
		Trigger: trigger, StartedAt: now, CompletedAt: now, Status: store.ResultSuccess, StateVersion: rec.StateVersion}
	pass := store.Pass{Result: res}
	rec.Status, rec.LastVerified, rec.AppliedHash = store.StatusHealthy, &now, rec.DesiredHash
	if stackID == b.broken && rec.StateVersion != b.good {
		d := drift.Drift{ID: drift.ID(clientID, stackID, drift.TypeResource, "site"), ClientID: clientID, StackID: stackID,
			Code: drift.ResourceUnhealthy, Type: drift.TypeResource, Component: "site", Severity: drift.SeverityHigh,
			Expected: "200", Observed: "503", DetectedAt: now, FirstSeen: now, LastSeen: now, Observations: 1}
		pass.Drifts, rec.Status = []drift.Drift{d}, store.StatusDriftDetected
		res.DriftDetected, res.DriftCount = true, 1
		pass.Result = res
	}
	pass.State = rec
	if _, err := b.store.CommitPass(ctx, pass); err != nil {
		return store.ReconciliationResult{}, err
	}
	return res, nil
}

func setup(t *testing.T, extraProd string) *bundle {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "b.db"))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return setupOn(t, db, extraProd)
}

// setupOn is setup over a store of the test's.
func setupOn(t *testing.T, db store.Store, extraProd string) *bundle {
	t.Helper()
	ctx := context.Background()
	b := &bundle{store: db}
	b.svc = state.New(db, state.Options{Now: b.clock})
	b.p = promote.New(promote.Options{Store: db, State: b.svc, Passes: b, Now: b.clock,
		VerifyTimeout: 5 * time.Second, VerifyInterval: time.Millisecond})
	b.apply(t, appYAML+stackYAML("dev", "dev.acme.example", ", page")+stackYAML("staging", "staging.acme.example", "")+
		stackYAML("prod", "acme.example", extraProd))
	for _, env := range []string{"dev", "staging", "prod"} {
		_, err := b.ReconcileWait(ctx, "acme", "shop-"+env, "test")
		require.NoError(t, err)
	}
	return b
}

func (b *bundle) apply(t *testing.T, src string) {
	t.Helper()
	cfg, err := config.Parse("app.yaml", []byte(src), nil)
	require.NoError(t, err)
	_, err = b.svc.ApplyConfig(context.Background(), cfg, "test")
	require.NoError(t, err)
}

func desired(t *testing.T, s store.Store, stack string) store.StateRecord {
	t.Helper()
	rec, err := s.GetState(context.Background(), "acme", stack)
	require.NoError(t, err)
	return rec
}

func TestPromoteThroughThePipeline(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	ctx := context.Background()
	req := promote.Request{ClientID: "acme", App: "shop", From: "dev", To: "staging", By: "ops"}

	// dev's release has not soaked: dev's stage declares none, so it may go.
	rec, plan, err := b.p.Start(ctx, req)
	require.NoError(t, err)
	require.Equal(t, store.PromotionApplying, rec.Status)
	require.False(t, plan.NeedsApproval)
	b.p.Wait()
	got, err := b.store.GetPromotion(ctx, "acme", rec.ID)
	require.NoError(t, err)
	require.Equal(t, store.PromotionSucceeded, got.Status, got.Error)
	require.Equal(t, "v1.1.0", got.NewVersion)
	var ev promote.Evidence
	require.NoError(t, json.Unmarshal(got.Evidence, &ev))
	require.True(t, ev.Verified)
	require.Equal(t, "v1.1.0", ev.Passes[len(ev.Passes)-1].StateVersion, "judged on a pass of the new revision")
	staging := desired(t, b.store, "shop-staging")
	require.JSONEq(t, `{"content_types":["product","page"],"overrides":["resources.site.url"],"resources":{"site":{"probe":"http","url":"https://staging.acme.example/"}}}`,
		string(staging.Desired), "dev's composition, staging's own url")

	// staging to prod: staging's new release must soak an hour first.
	req = promote.Request{ClientID: "acme", App: "shop", From: "staging", To: "prod", By: "ops"}
	_, _, err = b.p.Start(ctx, req)
	var soak *promote.SoakError
	require.ErrorAs(t, err, &soak)
	require.InDelta(t, time.Hour.Seconds(), soak.Remaining.Seconds(), 60, "the store stamps versions with the real clock")
	b.advance(time.Hour)
	_, err = b.ReconcileWait(ctx, "acme", "shop-staging", "test")
	require.NoError(t, err)

	// prod needs approval: nothing is applied before it.
	rec, plan, err = b.p.Start(ctx, req)
	require.NoError(t, err)
	require.True(t, plan.NeedsApproval)
	require.Equal(t, store.PromotionAwaitingApproval, rec.Status)
	require.Equal(t, "v1.0.0", desired(t, b.store, "shop-prod").StateVersion)
	_, _, err = b.p.Start(ctx, req)
	require.ErrorIs(t, err, store.ErrPromotionOpen, "one promotion into a stack at a time")

	_, err = b.store.DecideApproval(ctx, store.ApprovalDecision{ID: rec.ApprovalID, Approve: true, By: "lead", At: b.clock()})
	require.NoError(t, err)
	require.NoError(t, b.p.Resume(ctx))
	b.p.Wait()
	got, err = b.store.GetPromotion(ctx, "acme", rec.ID)
	require.NoError(t, err)
	require.Equal(t, store.PromotionSucceeded, got.Status, got.Error)
	prod := desired(t, b.store, "shop-prod")
	require.Equal(t, got.NewVersion, prod.StateVersion)
	require.Contains(t, string(prod.Desired), `"url":"https://acme.example/"`)
	require.Contains(t, string(prod.Desired), `"page"`)

	// The record's every step is audited.
	entries, _, err := b.store.ListAudit(ctx, store.AuditQuery{ClientID: "acme", Limit: store.MaxLimit})
	require.NoError(t, err)
	var actions []string
	for _, e := range entries {
		if e.StackID == "shop-prod" {
			actions = append(actions, e.Action)
		}
	}
	require.Subset(t, actions, []string{"promotion_requested", "approval_granted", "promotion_approved", "promotion_applied", "promotion_verifying", "promotion_succeeded"})

	// Nothing left to promote.
	_, _, err = b.p.Start(ctx, req)
	require.ErrorIs(t, err, promote.ErrUpToDate)
}

func TestPromoteRollsBackWhenVerificationFails(t *testing.T) {
	t.Parallel()
	b := setup(t, ", page")
	ctx := context.Background()
	b.apply(t, appYAML+stackYAML("dev", "dev.acme.example", ", page")+stackYAML("staging", "staging.acme.example", ", page, post")+
		stackYAML("prod", "acme.example", ", page"))
	b.advance(2 * time.Hour)
	_, err := b.ReconcileWait(ctx, "acme", "shop-staging", "test")
	require.NoError(t, err)
	before := desired(t, b.store, "shop-prod")
	b.broken, b.good = "shop-prod", before.StateVersion

	// It never turns healthy: verification gives up after its timeout.
	p := promote.New(promote.Options{Store: b.store, State: b.svc, Passes: b, Now: b.clock,
		VerifyTimeout: 200 * time.Millisecond, VerifyInterval: 20 * time.Millisecond})
	rec, _, err := p.Start(ctx, promote.Request{ClientID: "acme", App: "shop", From: "staging", To: "prod", By: "ops"})
	require.NoError(t, err)
	_, err = b.store.DecideApproval(ctx, store.ApprovalDecision{ID: rec.ApprovalID, Approve: true, By: "lead", At: b.clock()})
	require.NoError(t, err)
	require.NoError(t, p.Resume(ctx))
	p.Wait()

	got, err := b.store.GetPromotion(ctx, "acme", rec.ID)
	require.NoError(t, err)
	require.Equal(t, store.PromotionRolledBack, got.Status)
	require.Contains(t, got.Error, "resource_unhealthy on site")
	var ev promote.Evidence
	require.NoError(t, json.Unmarshal(got.Evidence, &ev))
	require.False(t, ev.Verified)
	require.Equal(t, got.NewVersion, ev.Passes[0].StateVersion)
	after := desired(t, b.store, "shop-prod")
	require.Equal(t, before.DesiredHash, after.DesiredHash, "back at the previous desired state")
	require.NotEqual(t, got.NewVersion, after.StateVersion, "the rollback is a version of its own")
}

func TestPromoteRefusesBadRequests(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	ctx := context.Background()
	_, err := b.svc.Rollback(ctx, state.RollbackRequest{ClientID: "acme", StackID: "shop-staging", Version: "v1.0.0", By: "ops", Hold: time.Hour})
	require.NoError(t, err)
	for _, tt := range []struct {
		req  promote.Request
		want error
		msg  string
	}{
		{promote.Request{App: "blog", From: "dev", To: "staging"}, promote.ErrUnknown, `client acme has no application "blog"`},
		{promote.Request{App: "shop", From: "dev", To: "qa"}, promote.ErrUnknown, `has no environment "qa"`},
		{promote.Request{App: "shop", From: "prod", To: "staging"}, promote.ErrInvalid, "promotions go forward"},
		{promote.Request{App: "shop", From: "dev", To: "prod"}, promote.ErrInvalid, "the stage after dev in acme/shop is staging, not prod"},
		{promote.Request{App: "shop", From: "dev", To: "staging"}, state.ErrPinned, "is pinned at v1.0.0"},
	} {
		tt.req.ClientID, tt.req.By = "acme", "ops"
		_, _, err := b.p.Start(ctx, tt.req)
		require.ErrorIs(t, err, tt.want, "%+v", tt.req)
		require.ErrorContains(t, err, tt.msg)
	}
	list, _, err := b.store.ListPromotions(ctx, store.PromotionQuery{ClientID: "acme"})
	require.NoError(t, err)
	require.Empty(t, list, "nothing recorded")
}

func TestPromoteResumesAfterACrash(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	ctx := context.Background()
	plan, err := b.p.Plan(ctx, promote.Request{ClientID: "acme", App: "shop", From: "dev", To: "staging"})
	require.NoError(t, err)
	// A process recorded the promotion and stopped before applying it.
	rec := store.Promotion{ID: "prom-crashed", ClientID: "acme", App: "shop", From: "dev", To: "staging", FromStack: plan.FromStack,
		ToStack: plan.ToStack, FromVersion: plan.FromVersion, PreviousVersion: plan.ToVersion, Status: store.PromotionApplying,
		RequestedBy: "ops", CreatedAt: b.clock(), UpdatedAt: b.clock()}
	_, err = b.store.CreatePromotion(ctx, rec, nil, nil)
	require.NoError(t, err)

	restarted := promote.New(promote.Options{Store: b.store, State: b.svc, Passes: b, Now: b.clock, VerifyTimeout: 5 * time.Second})
	require.NoError(t, restarted.Resume(ctx))
	restarted.Wait()
	got, err := b.store.GetPromotion(ctx, "acme", "prom-crashed")
	require.NoError(t, err)
	require.Equal(t, store.PromotionSucceeded, got.Status, got.Error)
	require.Equal(t, got.NewVersion, desired(t, b.store, "shop-staging").StateVersion)
}

func TestPromoteRejectedApprovalAppliesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	ctx := context.Background()
	b.advance(2 * time.Hour)
	_, err := b.ReconcileWait(ctx, "acme", "shop-staging", "test")
	require.NoError(t, err)
	b.apply(t, appYAML+stackYAML("dev", "dev.acme.example", ", page")+stackYAML("staging", "staging.acme.example", ", page")+
		stackYAML("prod", "acme.example", ""))
	rec, _, err := b.p.Start(ctx, promote.Request{ClientID: "acme", App: "shop", From: "staging", To: "prod", By: "ops"})
	if errors.Is(err, promote.ErrUnhealthy) || err != nil {
		// staging changed with the apply above: verify it again, soak.
		b.advance(2 * time.Hour)
		_, err = b.ReconcileWait(ctx, "acme", "shop-staging", "test")
		require.NoError(t, err)
		rec, _, err = b.p.Start(ctx, promote.Request{ClientID: "acme", App: "shop", From: "staging", To: "prod", By: "ops"})
	}
	require.NoError(t, err)
	_, err = b.store.DecideApproval(ctx, store.ApprovalDecision{ID: rec.ApprovalID, Approve: false, By: "lead", Reason: "not today", At: b.clock()})
	require.NoError(t, err)
	require.NoError(t, b.p.Resume(ctx))
	got, err := b.store.GetPromotion(ctx, "acme", rec.ID)
	require.NoError(t, err)
	require.Equal(t, store.PromotionRejected, got.Status)
	require.Contains(t, got.Error, "not today")
	require.Equal(t, "v1.0.0", desired(t, b.store, "shop-prod").StateVersion)
}
