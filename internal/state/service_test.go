package state_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

type bundle struct {
	svc     *state.Service
	store   store.Store
	changed []string
}

func setup(t *testing.T) *bundle {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "b.db"))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	b := &bundle{store: db}
	b.svc = state.New(db, state.Options{OnChange: func(c, s string) { b.changed = append(b.changed, c+"/"+s) }})
	return b
}

func cfgWith(url string, pol *config.PolicySpec) *config.Config {
	c := &config.Config{Stacks: []config.Stack{{
		APIVersion: config.APIVersion, Kind: config.KindStack,
		Metadata: config.StackMeta{ClientID: "acme", StackID: "web", Environment: "prod"},
		Spec:     config.StackSpec{Resources: map[string]config.Resource{"site": {Probe: "http", URL: url}}},
	}}}
	if pol != nil {
		c.Policies = []config.Policy{{APIVersion: config.APIVersion, Kind: config.KindReconciliationPolicy,
			Metadata: config.PolicyMeta{ClientID: "acme"}, Spec: *pol}}
	}
	return c
}

func TestApplyVersionsOnlyChangedStacksAndRollsBack(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()

	res, err := b.svc.Apply(ctx, cfgWith("https://a.example/", nil), "test")
	require.NoError(t, err)
	require.True(t, res[0].Created)
	require.Equal(t, "v1.0.0", res[0].Version)
	require.Equal(t, []string{"acme/web"}, b.changed)

	res, err = b.svc.Apply(ctx, cfgWith("https://a.example/", nil), "test")
	require.NoError(t, err)
	require.False(t, res[0].Changed, "same desired hash: no new version")
	require.Len(t, b.changed, 1, "no pass asked for an unchanged stack")

	res, err = b.svc.Apply(ctx, cfgWith("https://b.example/", nil), "test")
	require.NoError(t, err)
	require.True(t, res[0].Changed)
	require.Equal(t, "v1.1.0", res[0].Version)
	v2hash := res[0].Hash

	rb, err := b.svc.Rollback(ctx, state.RollbackRequest{ClientID: "acme", StackID: "web", Version: "v1.0.0", By: "ops"})
	require.NoError(t, err)
	require.Equal(t, "v1.2.0", rb.Version, "a rollback is a new version")
	rec, err := b.store.GetState(ctx, "acme", "web")
	require.NoError(t, err)
	require.NotEqual(t, v2hash, rec.DesiredHash)
	require.Equal(t, []string{"v1.0.0", "v1.1.0"}, rec.PreviousVersions)
	first, err := b.store.GetDesiredVersion(ctx, "acme", "web", "v1.0.0")
	require.NoError(t, err)
	require.Equal(t, first.Hash, rec.DesiredHash)

	for _, bad := range []string{"1.0.0", "v1.0", "v1.0.0-rc1", "latest", "v01.0.0", ""} {
		_, err = b.svc.Rollback(ctx, state.RollbackRequest{ClientID: "acme", StackID: "web", Version: bad, By: "ops"})
		require.ErrorIs(t, err, state.ErrInvalid, bad)
	}
	_, err = b.svc.Rollback(ctx, state.RollbackRequest{ClientID: "acme", StackID: "web", Version: "v9.0.0", By: "ops"})
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = b.svc.Rollback(ctx, state.RollbackRequest{ClientID: "acme", StackID: "nope", Version: "v1.0.0", By: "ops"})
	require.ErrorIs(t, err, store.ErrNotFound)

	audit, _, err := b.store.ListAudit(ctx, store.AuditQuery{ClientID: "acme"})
	require.NoError(t, err)
	var actions []string
	for _, a := range audit {
		actions = append(actions, a.Action)
	}
	require.Equal(t, []string{"desired_state_changed", "desired_state_changed", "rollback"}, actions)
}

func TestPolicyIsEffectiveAndAWriteIsSeenAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	pol := config.DefaultPolicy()
	pol.Schedule.Interval = config.Duration(time.Minute)
	_, err := b.svc.Apply(ctx, cfgWith("https://a.example/", &pol), "test")
	require.NoError(t, err)

	got, err := b.svc.Policy(ctx, "acme", "web")
	require.NoError(t, err)
	require.Equal(t, time.Minute, got.Schedule.Interval.D())

	// A stack-level policy overrides the client's, and the cache does not hide it.
	stackPol := config.DefaultPolicy()
	stackPol.Schedule.Interval = config.Duration(2 * time.Minute)
	require.NoError(t, b.svc.PutPolicy(ctx, "acme", "web", stackPol, "ops"))
	got, err = b.svc.Policy(ctx, "acme", "web")
	require.NoError(t, err)
	require.Equal(t, 2*time.Minute, got.Schedule.Interval.D())

	// A client without policies gets the defaults.
	got, err = b.svc.Policy(ctx, "nobody", "")
	require.NoError(t, err)
	require.Equal(t, config.DefaultPolicy(), got)
}

// countingStore counts ListPolicies calls.
type countingStore struct {
	store.Store
	lists atomic.Int32
}

func (c *countingStore) ListPolicies(ctx context.Context, clientID string) ([]store.PolicyRecord, error) {
	c.lists.Add(1)
	return c.Store.ListPolicies(ctx, clientID)
}

func TestPoliciesOfAClientAreReadOncePerTTL(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	pol := config.DefaultPolicy()
	pol.Schedule.Interval = config.Duration(time.Minute)
	_, err := b.svc.Apply(ctx, cfgWith("https://a.example/", &pol), "test")
	require.NoError(t, err)
	own := config.DefaultPolicy()
	own.Schedule.Interval = config.Duration(3 * time.Minute)
	require.NoError(t, b.svc.PutPolicy(ctx, "acme", "shop", own, "ops"))

	cs := &countingStore{Store: b.store}
	const ttl = 200 * time.Millisecond
	svc := state.New(cs, state.Options{PolicyCacheTTL: ttl})
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			stack, want := fmt.Sprintf("stack-%d", i), time.Minute
			if i == 0 {
				stack, want = "shop", 3*time.Minute
			}
			got, err := svc.Policy(ctx, "acme", stack)
			assert.NoError(t, err)
			assert.Equal(t, want, got.Schedule.Interval.D(), stack)
		})
	}
	wg.Wait()
	require.EqualValues(t, 1, cs.lists.Load(), "50 stacks of one client, concurrently: one read")

	// Another replica's write (straight to the store) shows after the TTL.
	own.Schedule.Interval = config.Duration(4 * time.Minute)
	doc, err := json.Marshal(own)
	require.NoError(t, err)
	require.NoError(t, b.store.PutPolicy(ctx, store.PolicyRecord{ClientID: "acme", StackID: "shop", Document: doc}))
	got, err := svc.Policy(ctx, "acme", "shop")
	require.NoError(t, err)
	require.Equal(t, 3*time.Minute, got.Schedule.Interval.D(), "cached")
	require.Eventually(t, func() bool {
		got, err := svc.Policy(ctx, "acme", "shop")
		return err == nil && got.Schedule.Interval.D() == 4*time.Minute
	}, 5*time.Second, 20*time.Millisecond)
	require.EqualValues(t, 2, cs.lists.Load())
}

// TestAPolicyOnlyChangeUpdatesTheStacksSummary: turning auto-heal on in
// the file changes no stack, but the stack's reconciliation_policy says
// so at once (it stayed as first applied before).
func TestAPolicyOnlyChangeUpdatesTheStacksSummary(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	pol := config.DefaultPolicy()
	pol.AutoHeal.Enabled = false
	_, err := b.svc.Apply(ctx, cfgWith("https://a.example/", &pol), "test")
	require.NoError(t, err)
	rec, err := b.store.GetState(ctx, "acme", "web")
	require.NoError(t, err)
	require.False(t, rec.ReconciliationPolicy.AutoHeal)

	pol.AutoHeal.Enabled = true
	pol.AutoHeal.MaxAttempts = 5
	a, err := b.svc.ApplyConfig(ctx, cfgWith("https://a.example/", &pol), "test")
	require.NoError(t, err)
	require.False(t, a.Stacks[0].Changed, "the stack's desired state is the same")
	require.True(t, a.Policies[0].Changed)
	rec, err = b.store.GetState(ctx, "acme", "web")
	require.NoError(t, err)
	require.True(t, rec.ReconciliationPolicy.AutoHeal)
	require.Equal(t, 5, rec.ReconciliationPolicy.MaxHealAttempts)
	require.Equal(t, "v1.0.0", rec.StateVersion)
}

// TestAnEnvironmentOnlyChangeIsRecorded: the same spec under another
// environment is a change: a new version, audited, and a pass asked for.
func TestAnEnvironmentOnlyChangeIsRecorded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	cfg := cfgWith("https://a.example/", nil)
	_, err := b.svc.Apply(ctx, cfg, "test")
	require.NoError(t, err)

	cfg.Stacks[0].Metadata.Environment = "staging"
	res, err := b.svc.Apply(ctx, cfg, "ops")
	require.NoError(t, err)
	require.True(t, res[0].Changed)
	require.Equal(t, "v1.1.0", res[0].Version)
	rec, err := b.store.GetState(ctx, "acme", "web")
	require.NoError(t, err)
	require.Equal(t, "staging", rec.Environment)
	require.Equal(t, []string{"acme/web", "acme/web"}, b.changed, "a pass is asked for")

	audit, _, err := b.store.ListAudit(ctx, store.AuditQuery{ClientID: "acme", Action: "desired_state_changed"})
	require.NoError(t, err)
	require.Len(t, audit, 2)
	require.Contains(t, string(audit[1].ChangesMade), `"environment":"staging"`)
}
