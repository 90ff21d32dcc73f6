package promote_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/blackwellio/blackwell/internal/promote"
	"github.com/blackwellio/blackwell/internal/reconcile"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/postgres/pgtest"
)

// replicaPasses are one replica's verification passes: counted, and held
// at gate until the test opens it.
type replicaPasses struct {
	b     *bundle
	gate  <-chan struct{}
	calls atomic.Int32
}

func (r *replicaPasses) ReconcileWait(ctx context.Context, clientID, stackID, trigger string) (store.ReconciliationResult, error) {
	r.calls.Add(1)
	select {
	case <-r.gate:
	case <-ctx.Done():
		return store.ReconciliationResult{}, ctx.Err()
	}
	return r.b.ReconcileWait(ctx, clientID, stackID, trigger)
}

// TestOnlyTheShardOwnerCarriesOutAResumedPromotion: two replicas on one
// PostgreSQL find the same promotion left verifying by a crash; only the
// one that holds the target stack's shard runs verification passes. When
// that runner dies mid-verification, the other replica claims the shard
// and carries the promotion on to its end.
func TestOnlyTheShardOwnerCarriesOutAResumedPromotion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.Store(t)
	b := setupOn(t, db, "")

	// A process applied the promotion and stopped while verifying it.
	plan, err := b.p.Plan(ctx, promote.Request{ClientID: "acme", App: "shop", From: "dev", To: "staging"})
	require.NoError(t, err)
	rec := store.Promotion{ID: "prom-orphan", ClientID: "acme", App: "shop", From: "dev", To: "staging", FromStack: plan.FromStack,
		ToStack: plan.ToStack, FromVersion: plan.FromVersion, PreviousVersion: plan.ToVersion, Status: store.PromotionApplying,
		RequestedBy: "ops", CreatedAt: b.clock(), UpdatedAt: b.clock()}
	rec, err = db.CreatePromotion(ctx, rec, nil, nil)
	require.NoError(t, err)
	crashCtx, crash := context.WithCancel(ctx)
	never := make(chan struct{})
	crashed := promote.New(promote.Options{Store: db, State: b.svc, Passes: &replicaPasses{b: b, gate: never}, Now: b.clock})
	done := make(chan struct{})
	go func() { defer close(done); _, _ = crashed.Run(crashCtx, rec) }()
	require.Eventually(t, func() bool {
		got, err := db.GetPromotion(ctx, "acme", rec.ID)
		return err == nil && got.Status == store.PromotionVerifying
	}, 10*time.Second, 10*time.Millisecond)
	crash()
	<-done

	// Two replicas share the shards.
	clk := testingclock.NewFakeClock(time.Now())
	const ttl = 10 * time.Second
	gate := make(chan struct{})
	type replica struct {
		m      *reconcile.Membership
		p      *promote.Promoter
		passes *replicaPasses
		stop   context.CancelFunc
	}
	var (
		mu       sync.Mutex
		handoffs []string
	)
	newReplica := func(id string) *replica {
		r := &replica{passes: &replicaPasses{b: b, gate: gate}}
		r.m = reconcile.NewMembership(reconcile.MembershipOptions{Store: db, ID: id, TTL: ttl, Clock: clk,
			OnGain: func(context.Context, []int) { r.p.Kick() }})
		r.p = promote.New(promote.Options{Store: db, State: b.svc, Passes: r.passes, Now: b.clock,
			VerifyTimeout: 20 * time.Second, VerifyInterval: time.Millisecond, Owns: r.m.Owns,
			Handoff: func(clientID, stackID string) {
				mu.Lock()
				defer mu.Unlock()
				handoffs = append(handoffs, id+":"+clientID+"/"+stackID)
			}})
		return r
	}
	a, c := newReplica("a"), newReplica("c")
	for _, r := range []*replica{a, c, a, c} {
		require.NoError(t, r.m.Tick(ctx))
	}
	owner, other := a, c
	if c.m.Claims("acme", "shop-staging") {
		owner, other = c, a
	}
	require.True(t, owner.m.Claims("acme", "shop-staging"))
	require.False(t, other.m.Claims("acme", "shop-staging"), "one owner per shard")
	for _, r := range []*replica{a, c} {
		loopCtx, stop := context.WithCancel(ctx)
		r.stop = stop
		t.Cleanup(stop)
		go r.p.RunLoop(loopCtx, time.Hour) // resumes at once
	}

	// Both replicas looked at the promotion; only the owner verifies.
	require.Eventually(t, func() bool { return owner.passes.calls.Load() > 0 }, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, other.p.Resume(ctx))
	require.NoError(t, owner.p.Resume(ctx))
	require.Never(t, func() bool { return other.passes.calls.Load() > 0 }, 500*time.Millisecond, 5*time.Millisecond,
		"a replica that does not own the stack ran a verification pass")
	require.Equal(t, int32(1), owner.passes.calls.Load(), "the owner runs the promotion once")

	// The owner dies mid-verification: the record stays verifying.
	owner.stop()
	owner.p.Wait()
	got, err := db.GetPromotion(ctx, "acme", rec.ID)
	require.NoError(t, err)
	require.Equal(t, store.PromotionVerifying, got.Status)

	// Its leases expire; the other replica claims the shard and carries
	// the promotion on, without waiting for its minute's look.
	clk.Step(ttl + time.Second)
	require.NoError(t, other.m.Tick(ctx))
	require.True(t, other.m.Claims("acme", "shop-staging"))
	close(gate)
	require.Eventually(t, func() bool {
		got, err = db.GetPromotion(ctx, "acme", rec.ID)
		return err == nil && got.Status == store.PromotionSucceeded
	}, 20*time.Second, 10*time.Millisecond, "status %s: %s", got.Status, got.Error)
	require.Positive(t, other.passes.calls.Load())
	require.Equal(t, got.NewVersion, desired(t, db, "shop-staging").StateVersion)

	// A promotion started on a replica that does not own the target is
	// recorded and handed to the owner, not run there.
	b.advance(2 * time.Hour)
	_, err = b.ReconcileWait(ctx, "acme", "shop-staging", "test")
	require.NoError(t, err)
	before := owner.passes.calls.Load()
	started, _, err := owner.p.Start(ctx, promote.Request{ClientID: "acme", App: "shop", From: "staging", To: "prod", By: "ops"})
	require.NoError(t, err)
	_, err = db.DecideApproval(ctx, store.ApprovalDecision{ID: started.ApprovalID, Approve: true, By: "lead", At: b.clock()})
	require.NoError(t, err)
	require.NoError(t, owner.p.Resume(ctx)) // the approval is written here...
	owner.p.Wait()
	require.Equal(t, before, owner.passes.calls.Load(), "...and nothing runs on a replica that owns nothing")
	mu.Lock()
	require.Contains(t, handoffs, owner.m.ID()+":acme/shop-prod")
	mu.Unlock()
	require.NoError(t, other.p.Resume(ctx))
	require.Eventually(t, func() bool {
		got, err = db.GetPromotion(ctx, "acme", started.ID)
		return err == nil && got.Status == store.PromotionSucceeded
	}, 20*time.Second, 10*time.Millisecond)
}
