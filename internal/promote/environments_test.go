package promote_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/promote"
	"github.com/blackwellio/blackwell/internal/reconcile"
	"github.com/blackwellio/blackwell/internal/store"
)

func openDivergence(t *testing.T, s store.Store, stack string) []string {
	t.Helper()
	open, err := s.ListDrifts(context.Background(), store.DriftQuery{ClientID: "acme", StackID: stack})
	require.NoError(t, err)
	var out []string
	for _, d := range open {
		if d.Code == drift.EnvironmentDivergence {
			out = append(out, d.Component)
		}
	}
	return out
}

// failingEnvironments cannot read applications.
type failingEnvironments struct{}

func (failingEnvironments) Peers(context.Context, store.StateRecord) ([]string, []drift.EnvironmentPeer, error) {
	return nil, nil, errors.New("store unavailable")
}

// A pass reports divergence on the lagging stack only, beyond the
// overrides, and keeps it open when the application cannot be read.
func TestPassesReportEnvironmentDivergence(t *testing.T) {
	t.Parallel()
	b := setup(t, ", faq") // prod has a content type staging lacks; dev has page
	ctx := context.Background()
	loop := reconcile.New(reconcile.Options{Store: b.store, Environments: &promote.Environments{Store: b.store}})
	for _, env := range []string{"dev", "staging", "prod"} {
		_, _, err := loop.Reconcile(ctx, "acme/shop-"+env, reconcile.TriggerManual)
		require.NoError(t, err)
	}
	require.Empty(t, openDivergence(t, b.store, "shop-dev"), "the first environment leads")
	require.Equal(t, []string{"content_types"}, openDivergence(t, b.store, "shop-staging"), "dev has page, staging not")
	require.Equal(t, []string{"content_types"}, openDivergence(t, b.store, "shop-prod"), "staging lacks faq")

	blind := reconcile.New(reconcile.Options{Store: b.store, Environments: failingEnvironments{}})
	_, _, err := blind.Reconcile(ctx, "acme/shop-prod", reconcile.TriggerManual)
	require.NoError(t, err)
	require.Equal(t, []string{"content_types"}, openDivergence(t, b.store, "shop-prod"), "not judged: kept")

	// Aligned (prod's content types as staging's), it clears.
	b.apply(t, appYAML+stackYAML("dev", "dev.acme.example", ", page")+stackYAML("staging", "staging.acme.example", "")+
		stackYAML("prod", "prod.acme.example", ""))
	_, _, err = loop.Reconcile(ctx, "acme/shop-prod", reconcile.TriggerManual)
	require.NoError(t, err)
	require.Empty(t, openDivergence(t, b.store, "shop-prod"), "the url is an override")
}

// A pass of a stack leaves a promotion's pending approval alone: it is
// about no drift of the stack.
func TestPassesKeepPromotionApprovals(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	ctx := context.Background()
	b.advance(2 * time.Hour)
	_, err := b.ReconcileWait(ctx, "acme", "shop-staging", "test")
	require.NoError(t, err)
	b.apply(t, appYAML+stackYAML("dev", "dev.acme.example", ", page")+stackYAML("staging", "staging.acme.example", ", faq")+
		stackYAML("prod", "acme.example", ""))
	b.advance(2 * time.Hour)
	_, err = b.ReconcileWait(ctx, "acme", "shop-staging", "test")
	require.NoError(t, err)
	rec, _, err := b.p.Start(ctx, promote.Request{ClientID: "acme", App: "shop", From: "staging", To: "prod", By: "ops"})
	require.NoError(t, err)
	loop := reconcile.New(reconcile.Options{Store: b.store, Policies: autoHeal{}})
	_, _, err = loop.Reconcile(ctx, "acme/shop-prod", reconcile.TriggerManual)
	require.NoError(t, err)
	a, err := b.store.GetApproval(ctx, rec.ApprovalID)
	require.NoError(t, err)
	require.Equal(t, store.ApprovalPending, a.Status)
}

// autoHeal is a policy source answering the default policy with auto-heal
// on (a pass then reviews the stack's approval requests).
type autoHeal struct{}

func (autoHeal) Policy(context.Context, string, string) (config.PolicySpec, error) {
	p := config.DefaultPolicy()
	p.AutoHeal.Enabled = true
	return p, nil
}

// countingStore counts reads of pipelines (one per read of a client's
// applications) and of whole stack records.
type countingStore struct {
	store.Store
	mu            sync.Mutex
	reads, states int
}

func (c *countingStore) GetState(ctx context.Context, clientID, stackID string) (store.StateRecord, error) {
	c.mu.Lock()
	c.states++
	c.mu.Unlock()
	return c.Store.GetState(ctx, clientID, stackID)
}

func (c *countingStore) ListStates(ctx context.Context, clientID, cursor string, limit int) ([]store.StateRecord, store.Page, error) {
	c.mu.Lock()
	c.states += 1000 // a listing of whole records is what this avoids
	c.mu.Unlock()
	return c.Store.ListStates(ctx, clientID, cursor, limit)
}

// Reading a client's applications reads whole only the stacks of
// applications of two environments or more, and of those, again only the
// ones whose desired state changed.
func TestEnvironmentsReadOnlySharedStacks(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	ctx := context.Background()
	b.apply(t, appYAML+stackYAML("dev", "dev.acme.example", ", page")+stackYAML("staging", "staging.acme.example", "")+
		stackYAML("prod", "acme.example", "")+`---
apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: blog-prod, environment: prod}
spec:
  resources:
    site: {probe: http, url: "https://blog.acme.example/"}
`)
	cs := &countingStore{Store: b.store}
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	envs := &promote.Environments{Store: cs, TTL: time.Minute, Now: func() time.Time { return at }}
	blog, err := b.store.GetState(ctx, "acme", "blog-prod")
	require.NoError(t, err)
	order, peers, err := envs.Peers(ctx, blog)
	require.NoError(t, err)
	require.Empty(t, order)
	require.Empty(t, peers, "blog is alone in its application")
	require.Equal(t, 3, cs.states, "the three stacks of shop, not blog")

	at = at.Add(time.Minute)
	prod, err := b.store.GetState(ctx, "acme", "shop-prod")
	require.NoError(t, err)
	_, peers, err = envs.Peers(ctx, prod)
	require.NoError(t, err)
	require.Len(t, peers, 2)
	require.Equal(t, 3, cs.states, "nothing changed: no record read again")

	b.apply(t, appYAML+stackYAML("dev", "dev.acme.example", ", page")+stackYAML("staging", "staging.acme.example", ", faq")+
		stackYAML("prod", "acme.example", ""))
	at = at.Add(time.Minute)
	_, peers, err = envs.Peers(ctx, prod)
	require.NoError(t, err)
	require.Equal(t, 4, cs.states, "staging changed: read again, alone")
	for _, p := range peers {
		if p.Environment == "staging" {
			require.Contains(t, string(p.Desired), "faq")
		}
	}
}

func (c *countingStore) ListPipelines(ctx context.Context, clientID string) ([]store.PipelineRecord, error) {
	c.mu.Lock()
	c.reads++
	c.mu.Unlock()
	return c.Store.ListPipelines(ctx, clientID)
}

// A client's applications are read once per TTL, however many passes ask.
func TestEnvironmentsReadOncePerTTL(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	ctx := context.Background()
	cs := &countingStore{Store: b.store}
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	envs := &promote.Environments{Store: cs, TTL: 5 * time.Second, Now: func() time.Time { return at }}
	rec, err := b.store.GetState(ctx, "acme", "shop-prod")
	require.NoError(t, err)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			order, peers, err := envs.Peers(ctx, rec)
			assert.NoError(t, err)
			assert.Equal(t, []string{"dev", "staging", "prod"}, order)
			assert.Len(t, peers, 2)
		})
	}
	wg.Wait()
	require.Equal(t, 1, cs.reads)
	at = at.Add(5 * time.Second)
	_, _, err = envs.Peers(ctx, rec)
	require.NoError(t, err)
	require.Equal(t, 2, cs.reads, "read again once stale")
}
