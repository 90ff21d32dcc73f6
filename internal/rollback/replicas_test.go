package rollback_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/reconcile"
	"github.com/blackwellio/blackwell/internal/rollback"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/postgres/pgtest"
)

// countingDeployer counts one replica's restores of a deployment, held at
// gate (when set) until the test opens it.
type countingDeployer struct {
	rollback.Deployer
	gate     <-chan struct{}
	restores atomic.Int32
}

func (d *countingDeployer) Restore(ctx context.Context, api config.DeployAPI, id string) error {
	d.restores.Add(1)
	if d.gate != nil {
		select {
		case <-d.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return d.Deployer.Restore(ctx, api, id)
}

// TestOnlyTheShardOwnerResumesARollback: two replicas on one PostgreSQL
// find a rollback a crash left running; only the one holding the stack's
// shard resumes it (one restore of the deployment). A rollback asked of
// the other replica is handed to the owner, and the asker answers with
// the owner's outcome.
func TestOnlyTheShardOwnerResumesARollback(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := newWorld(t, worldOpts{store: pgtest.Store(t), deployer: func(d rollback.Deployer) rollback.Deployer { return interrupting{d, cancel} }})
	good := establish(t, w, healing())
	badRelease(t, w)
	_, err := w.svc.Start(ctx, rollback.Request{ClientID: "acme", StackID: "web", Target: good.ID, By: "ops"})
	require.ErrorIs(t, err, context.Canceled, "the process stopped at the build step")
	deps := w.deps.(interrupting).Deployer
	w.pins.Deployer, w.deps = deps, deps

	clk := testingclock.NewFakeClock(time.Now())
	type replica struct {
		m    *reconcile.Membership
		svc  *rollback.Service
		deps *countingDeployer
	}
	gate := make(chan struct{})
	var owner *replica
	newReplica := func(id string) *replica {
		r := &replica{m: reconcile.NewMembership(reconcile.MembershipOptions{Store: w.store, ID: id, TTL: 10 * time.Second, Clock: clk}),
			deps: &countingDeployer{Deployer: deps}}
		pins := &rollback.Pins{Store: w.store, Deployer: r.deps, Builder: w.pins.Builder, Now: w.clock.Now}
		capt := &rollback.Capturer{Registry: w.reg, Heal: w.acts, Deployer: r.deps, Events: w.store}
		r.svc = rollback.New(rollback.Options{Store: w.store, State: w.state, Registry: w.reg, Heal: w.acts, Pins: pins, Capturer: capt,
			Now: w.clock.Now, VerifyInterval: time.Millisecond, Owns: r.m.Owns,
			Handoff: func(string, string) { owner.svc.Kick() },
			Verify: func(ctx context.Context, c, s string) error {
				_, _, err := w.loop.Reconcile(ctx, reconcile.Key(c, s), reconcile.TriggerManual)
				return err
			}})
		return r
	}
	a, c := newReplica("a"), newReplica("c")
	for _, r := range []*replica{a, c, a, c} {
		require.NoError(t, r.m.Tick(context.Background()))
	}
	owner, other := a, c
	if c.m.Owns("acme", "web") {
		owner, other = c, a
	}
	require.False(t, other.m.Owns("acme", "web"), "one owner per shard")
	owner.deps.gate = gate

	// Both replicas look while the owner's restore is under way.
	resumed := make(chan int, 1)
	go func() {
		n, err := owner.svc.Resume(context.Background())
		require.NoError(t, err)
		resumed <- n
	}()
	require.Eventually(t, func() bool { return owner.deps.restores.Load() == 1 }, 20*time.Second, 5*time.Millisecond)
	n, err := other.svc.Resume(context.Background())
	require.NoError(t, err)
	require.Zero(t, n, "a replica that does not own the stack resumed its rollback")
	require.Zero(t, other.deps.restores.Load())
	close(gate)
	require.Equal(t, 1, <-resumed)
	runs, err := w.store.ListRollbacks(context.Background(), "acme", "web", false)
	require.NoError(t, err)
	require.Equal(t, store.RollbackVerified, runs[0].Status, runs[0].Error)
	require.Equal(t, int32(1), owner.deps.restores.Load(), "one restore, by the owner")

	// Asked of the other replica, a rollback runs on the owner.
	loopCtx, stop := context.WithCancel(context.Background())
	defer stop()
	go owner.svc.RunLoop(loopCtx, time.Hour)
	badRelease(t, w)
	rb, err := other.svc.Start(context.Background(), rollback.Request{ClientID: "acme", StackID: "web", Target: good.ID, By: "ops"})
	require.NoError(t, err)
	require.Equal(t, store.RollbackVerified, rb.Status, rb.Error)
	require.Equal(t, "restored", stepOutcomes(rb)["build"])
	require.Zero(t, other.deps.restores.Load(), "nothing ran on the replica asked")
	require.Equal(t, int32(2), owner.deps.restores.Load())
	require.Equal(t, good.Components.Build.DeployID, w.host.Live().ID)
}
