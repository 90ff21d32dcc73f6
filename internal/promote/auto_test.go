package promote_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/poll"
	"github.com/blackwellio/blackwell/internal/store"
)

// autoYAML: staging is promoted into automatically, prod too but it
// needs approval.
const autoYAML = `
apiVersion: blackwell.io/v1
kind: Pipeline
metadata: {client_id: acme, app: shop}
spec:
  stages:
    - {environment: dev}
    - {environment: staging, auto_promote: true}
    - {environment: prod, auto_promote: true}
`

func promotions(t *testing.T, s store.Store) []store.Promotion {
	t.Helper()
	list, _, err := s.ListPromotions(context.Background(), store.PromotionQuery{ClientID: "acme"})
	require.NoError(t, err)
	return list
}

// A verified pass of dev promotes its release to staging by itself; the
// pass of staging that verified it asks for prod, which waits for
// approval; a release that was rolled back is not tried again.
func TestAutoPromotion(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.apply(t, autoYAML+stackYAML("dev", "dev.acme.example", ", page")+stackYAML("staging", "staging.acme.example", "")+
		stackYAML("prod", "acme.example", ""))
	done := make(chan struct{})
	go func() { defer close(done); b.p.RunLoop(ctx, time.Hour) }()
	defer func() { cancel(); <-done; b.p.Wait() }()

	res, err := b.ReconcileWait(ctx, "acme", "shop-dev", "schedule")
	require.NoError(t, err)
	b.p.AfterPass(res)
	poll.Until(t, time.Minute, "dev's release promoted to staging", func() bool {
		list := promotions(t, b.store)
		return len(list) == 1 && list[0].Status == store.PromotionSucceeded
	})
	require.Equal(t, "auto_promote", promotions(t, b.store)[0].RequestedBy)

	res, err = b.ReconcileWait(ctx, "acme", "shop-staging", "schedule")
	require.NoError(t, err)
	b.p.AfterPass(res)
	poll.Until(t, time.Minute, "prod's promotion to await approval", func() bool {
		list := promotions(t, b.store)
		return len(list) == 2 && list[0].Status == store.PromotionAwaitingApproval
	})
	require.Equal(t, "v1.0.0", desired(t, b.store, "shop-prod").StateVersion, "nothing applied before approval")
}

// A release rolled back from a stage is not auto-promoted there again.
func TestAutoPromotionSkipsARolledBackRelease(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	ctx := context.Background()
	b.apply(t, autoYAML+stackYAML("dev", "dev.acme.example", ", page")+stackYAML("staging", "staging.acme.example", "")+
		stackYAML("prod", "acme.example", ""))
	// A promotion of dev's release into staging that was rolled back.
	dev := desired(t, b.store, "shop-dev")
	_, err := b.store.CreatePromotion(ctx, store.Promotion{ID: "prom-old", ClientID: "acme", App: "shop", From: "dev", To: "staging",
		FromStack: "shop-dev", ToStack: "shop-staging", FromVersion: dev.StateVersion, PreviousVersion: "v1.0.0",
		Status: store.PromotionRolledBack, RequestedBy: "auto_promote", CreatedAt: b.clock(), UpdatedAt: b.clock()}, nil, nil)
	require.NoError(t, err)
	res, err := b.ReconcileWait(ctx, "acme", "shop-dev", "schedule")
	require.NoError(t, err)
	b.p.AutoPromote(ctx, res)
	b.p.Wait()
	require.Len(t, promotions(t, b.store), 1, "no new promotion")
}
