package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/promote"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/postgres/pgtest"
)

// TestAPromotionAskedOfAnotherReplicaRunsOnTheOwnerAtOnce: two servers on
// one PostgreSQL; a promotion asked of the replica that does not own the
// target stack is handed over through the store's notifications and
// carried out by the owner at once, not at its minute's look (the
// replica asked does not run it: internal/promote's
// TestOnlyTheShardOwnerCarriesOutAResumedPromotion).
func TestAPromotionAskedOfAnotherReplicaRunsOnTheOwnerAtOnce(t *testing.T) {
	t.Parallel()
	storeURL := pgtest.SchemaURL(t)
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") }))
	t.Cleanup(site.Close)
	stack := func(env, types string) string {
		return fmt.Sprintf(`---
apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: shop-%s, environment: %s}
spec:
  content_types: [%s]
  resources:
    site: {probe: http, url: %q, expect_status: 200}
`, env, env, types, site.URL)
	}
	cfg := `apiVersion: blackwell.io/v1
kind: Pipeline
metadata: {client_id: acme, app: shop}
spec:
  stages:
    - {environment: staging}
    - {environment: prod, approval: none}
---
apiVersion: blackwell.io/v1
kind: ReconciliationPolicy
metadata: {client_id: acme}
spec:
  schedule: {interval: 2s}
  confirmation: {observations: 1}
` + stack("staging", "product, page") + stack("prod", "product")
	a, b := twoReplicas(t, storeURL, cfg)
	// The shards settle over the two replicas.
	var owner, other *Server
	require.Eventually(t, func() bool {
		ao, bo := a.membership.Owns("acme", "shop-prod"), b.membership.Owns("acme", "shop-prod")
		if ao == bo || len(a.membership.Held()) == store.Shards || len(b.membership.Held()) == store.Shards {
			return false
		}
		owner, other = a, b
		if bo {
			owner, other = b, a
		}
		return true
	}, 20*time.Second, 50*time.Millisecond)
	// staging's release is verified healthy.
	ctx := context.Background()
	require.Eventually(t, func() bool {
		rec, err := a.store.GetState(ctx, "acme", "shop-staging")
		return err == nil && rec.Status == store.StatusHealthy && rec.LastVerified != nil
	}, 30*time.Second, 50*time.Millisecond)
	time.Sleep(time.Second) // past the shards' moves, which look for promotions too

	rec, _, err := other.Promoter().Start(ctx, promote.Request{ClientID: "acme", App: "shop", From: "staging", To: "prod", By: "ops"})
	require.NoError(t, err)
	require.Equal(t, store.PromotionApplying, rec.Status)
	var got store.Promotion
	require.Eventually(t, func() bool {
		got, err = owner.store.GetPromotion(ctx, "acme", rec.ID)
		return err == nil && got.Status == store.PromotionSucceeded
	}, 30*time.Second, 50*time.Millisecond, "the owner did not carry the promotion out at once: %s %s", got.Status, got.Error)
	prod, err := owner.store.GetState(ctx, "acme", "shop-prod")
	require.NoError(t, err)
	require.Equal(t, got.NewVersion, prod.StateVersion)
	require.Contains(t, string(prod.Desired), `"page"`)
}

// TestAPolicyChangedOnOneReplicaReachesTheOthersAtOnce: two servers on
// one PostgreSQL; a client's policy changed through one is what the
// other's passes read within moments, not when its policy cache (a
// minute) expires: the change's trigger tells every replica to forget
// what it caches of the client.
func TestAPolicyChangedOnOneReplicaReachesTheOthersAtOnce(t *testing.T) {
	t.Parallel()
	storeURL := pgtest.SchemaURL(t)
	cfg := `apiVersion: blackwell.io/v1
kind: ReconciliationPolicy
metadata: {client_id: acme}
spec:
  schedule: {interval: 1m}
`
	for i := range 4 {
		cfg += fmt.Sprintf(`---
apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: s%d}
spec: {}
`, i)
	}
	a, b := twoReplicas(t, storeURL, cfg)
	// The shards settle over the two: both replicas have ticked, and
	// listen, long before; so b's cache below is dropped by the change's
	// own notification, not by b's listener starting (ListenStarted).
	require.Eventually(t, func() bool {
		ha, hb := len(a.membership.Held()), len(b.membership.Held())
		return ha > 0 && hb > 0 && ha+hb == store.Shards
	}, 20*time.Second, 50*time.Millisecond)
	ctx := context.Background()
	interval := func(s *Server, stack string) time.Duration {
		p, err := s.state.Policy(ctx, "acme", stack)
		require.NoError(t, err)
		return p.Schedule.Interval.D()
	}
	for i := range 4 {
		require.Equal(t, time.Minute, interval(b, fmt.Sprintf("s%d", i)), "b has read and cached the policy")
	}

	p, err := a.state.Policy(ctx, "acme", "")
	require.NoError(t, err)
	p.Schedule.Interval = config.Duration(3 * time.Minute)
	require.NoError(t, a.state.PutPolicy(ctx, "acme", "", p, "ops"))
	require.Eventually(t, func() bool {
		for i := range 4 {
			if interval(b, fmt.Sprintf("s%d", i)) != 3*time.Minute {
				return false
			}
		}
		return true
	}, 10*time.Second, 50*time.Millisecond, "b still reads the old policy")
}

// twoReplicas starts two servers on the store with the config cfg (2 s
// leases), stopped when the test ends.
func twoReplicas(t *testing.T, storeURL, cfg string) (*Server, *Server) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "blackwell.yaml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o600))
	start := func() *Server {
		s, err := New(context.Background(), Options{Listen: freeAddr(t), StoreURL: storeURL, ConfigPath: path,
			LeaseTTL: 2 * time.Second, Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		require.NoError(t, s.Start(context.Background()))
		t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
		return s
	}
	return start(), start()
}
