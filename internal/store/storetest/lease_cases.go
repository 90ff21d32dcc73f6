package storetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/store"
)

// leaseCases are the cases of store.Leases and of Pass.Fence, each on a
// fresh store, in parallel.
func leaseCases(ctx context.Context, t *testing.T, newStore func(t *testing.T) store.Store) {
	for _, c := range []struct {
		name string
		run  func(ctx context.Context, t *testing.T, s store.Store, l store.Leases)
	}{
		{"LeaseHeartbeat", testLeaseHeartbeat},
		{"LeaseClaim", testLeaseClaim},
		{"LeaseRelease", testLeaseRelease},
		{"LeaseClaimConcurrent", testLeaseClaimConcurrent},
		{"CommitPassFenced", testCommitPassFenced},
		{"CommitPassFencedAmongOthers", testCommitPassFencedAmongOthers},
		{"Triggers", testTriggers},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			c.run(ctx, t, s, s)
		})
	}
}

func heartbeat(ctx context.Context, t *testing.T, l store.Leases, replica string, now time.Time, ttl time.Duration) []string {
	t.Helper()
	rs, err := l.Heartbeat(ctx, replica, now, ttl)
	require.NoError(t, err)
	ids := []string{}
	for _, r := range rs {
		ids = append(ids, r.ID)
	}
	return ids
}

func testLeaseHeartbeat(ctx context.Context, t *testing.T, _ store.Store, l store.Leases) {
	const ttl = 10 * time.Second
	rs, err := l.Heartbeat(ctx, "replica-b", at(0), ttl)
	require.NoError(t, err)
	require.Equal(t, []store.Replica{{ID: "replica-b", Heartbeat: store.Truncate(at(0)), ExpiresAt: store.Truncate(at(ttl))}}, rs)
	require.Equal(t, []string{"replica-a", "replica-b"}, heartbeat(ctx, t, l, "replica-a", at(time.Second), ttl), "sorted by id")

	// b renews; a's heartbeat lapses at at(11s): alive means expires_at > now.
	require.Equal(t, []string{"replica-a", "replica-b"}, heartbeat(ctx, t, l, "replica-b", at(5*time.Second), ttl))
	require.Equal(t, []string{"replica-a", "replica-b"}, heartbeat(ctx, t, l, "replica-b", at(11*time.Second-time.Microsecond), ttl))
	require.Equal(t, []string{"replica-b"}, heartbeat(ctx, t, l, "replica-b", at(11*time.Second), ttl), "a expired at its expiry")

	// A comes back.
	require.Equal(t, []string{"replica-a", "replica-b"}, heartbeat(ctx, t, l, "replica-a", at(12*time.Second), ttl))
	// B leaves cleanly: gone at once, long before its expiry.
	require.NoError(t, l.LeaveReplica(ctx, "replica-b"))
	require.NoError(t, l.LeaveReplica(ctx, "replica-unknown"), "leaving twice, or unknown, is no error")
	rs, err = l.Heartbeat(ctx, "replica-a", at(13*time.Second), ttl)
	require.NoError(t, err)
	require.Equal(t, []store.Replica{{ID: "replica-a", Heartbeat: store.Truncate(at(13 * time.Second)), ExpiresAt: store.Truncate(at(23 * time.Second))}}, rs)

	_, err = l.Heartbeat(ctx, "replica-a", at(0), 0)
	require.Error(t, err, "a ttl must be positive")
	_, err = l.Heartbeat(ctx, "", at(0), ttl)
	require.Error(t, err, "a replica has an id")
}

// claim claims shards and returns the leases got.
func claim(ctx context.Context, t *testing.T, l store.Leases, owner string, now time.Time, ttl time.Duration, shards ...int) []store.Lease {
	t.Helper()
	got, err := l.ClaimShards(ctx, owner, shards, now, ttl)
	require.NoError(t, err)
	return got
}

func lease(shard int, owner string, epoch int64, expires time.Time) store.Lease {
	return store.Lease{Shard: shard, Owner: owner, Epoch: epoch, ExpiresAt: store.Truncate(expires)}
}

func listLeases(ctx context.Context, t *testing.T, l store.Leases) []store.Lease {
	t.Helper()
	ls, err := l.ListLeases(ctx)
	require.NoError(t, err)
	return ls
}

func testLeaseClaim(ctx context.Context, t *testing.T, _ store.Store, l store.Leases) {
	const ttl = 10 * time.Second
	require.Empty(t, listLeases(ctx, t, l), "a new store has no leases")

	// Free shards: epoch 1. The answer is ordered by shard, once each.
	require.Equal(t, []store.Lease{lease(0, "a", 1, at(ttl)), lease(1, "a", 1, at(ttl)), lease(2, "a", 1, at(ttl))},
		claim(ctx, t, l, "a", at(0), ttl, 2, 0, 1, 2))
	// Another replica's live shards are not taken; the free one is.
	require.Equal(t, []store.Lease{lease(3, "b", 1, at(time.Second+ttl))},
		claim(ctx, t, l, "b", at(time.Second), ttl, 1, 2, 3))
	// Renewing one's own live lease keeps the epoch.
	require.Equal(t, []store.Lease{lease(0, "a", 1, at(5*time.Second+ttl)), lease(1, "a", 1, at(5*time.Second+ttl))},
		claim(ctx, t, l, "a", at(5*time.Second), ttl, 0, 1))
	// Shard 2 lapsed at at(10s) (expired means expires_at <= now): b takes
	// it over with the next epoch. Just before, it could not.
	require.Empty(t, claim(ctx, t, l, "b", at(ttl-time.Microsecond), ttl, 2))
	require.Equal(t, []store.Lease{lease(2, "b", 2, at(2*ttl))}, claim(ctx, t, l, "b", at(ttl), ttl, 2))
	require.Empty(t, claim(ctx, t, l, "a", at(11*time.Second), ttl, 2), "taken over: a cannot claim it back while b holds it")
	// a claims its own lease after it lapsed: the epoch moves on too, so
	// passes fenced by the lapsed lease cannot commit.
	require.Equal(t, []store.Lease{lease(0, "a", 2, at(16*time.Second+ttl))}, claim(ctx, t, l, "a", at(16*time.Second), ttl, 0))

	require.Equal(t, []store.Lease{
		lease(0, "a", 2, at(16*time.Second+ttl)),
		lease(1, "a", 1, at(5*time.Second+ttl)), // expired at at(16s), still listed
		lease(2, "b", 2, at(2*ttl)),
		lease(3, "b", 1, at(time.Second+ttl)),
	}, listLeases(ctx, t, l))

	got, err := l.ClaimShards(ctx, "a", nil, at(20*time.Second), ttl)
	require.NoError(t, err)
	require.Empty(t, got)
	for _, bad := range []int{-1, store.Shards} {
		_, err := l.ClaimShards(ctx, "a", []int{0, bad}, at(20*time.Second), ttl)
		require.Error(t, err, "shard %d", bad)
	}
	_, err = l.ClaimShards(ctx, "a", []int{0}, at(20*time.Second), 0)
	require.Error(t, err, "a ttl must be positive")
	_, err = l.ClaimShards(ctx, "", []int{0}, at(20*time.Second), ttl)
	require.Error(t, err, "a claim has an owner")
	require.Equal(t, lease(0, "a", 2, at(16*time.Second+ttl)), listLeases(ctx, t, l)[0], "a refused claim changes nothing")
}

func testLeaseRelease(ctx context.Context, t *testing.T, _ store.Store, l store.Leases) {
	const ttl = time.Minute
	claim(ctx, t, l, "a", at(0), ttl, 0, 1)
	claim(ctx, t, l, "b", at(0), ttl, 2)
	require.NoError(t, l.ReleaseShards(ctx, "a", []int{1, 2, 5}))
	require.NoError(t, l.ReleaseShards(ctx, "a", nil))
	ls := listLeases(ctx, t, l)
	require.Len(t, ls, 3)
	require.Equal(t, lease(0, "a", 1, at(ttl)), ls[0], "not released")
	require.Equal(t, 1, ls[1].Shard)
	require.Empty(t, ls[1].Owner, "released: no owner")
	require.Equal(t, int64(1), ls[1].Epoch, "released: the epoch stays")
	require.Equal(t, lease(2, "b", 1, at(ttl)), ls[2], "another replica's lease is not released")

	// A released shard is free at once, long before its lease would
	// lapse, and the claimer bumps the epoch, even when it is the replica
	// that released it.
	require.Equal(t, []store.Lease{lease(1, "b", 2, at(time.Second+ttl))}, claim(ctx, t, l, "b", at(time.Second), ttl, 1))
	require.NoError(t, l.ReleaseShards(ctx, "a", []int{0}))
	require.Equal(t, []store.Lease{lease(0, "a", 2, at(2*time.Second+ttl))}, claim(ctx, t, l, "a", at(2*time.Second), ttl, 0))
}

// testLeaseClaimConcurrent: replicas claiming every shard at once never both
// hold one, whether the shards are new or their leases lapsed.
func testLeaseClaimConcurrent(ctx context.Context, t *testing.T, _ store.Store, l store.Leases) {
	const (
		replicas = 8
		ttl      = 10 * time.Second
	)
	all := make([]int, store.Shards)
	for i := range all {
		all[i] = i
	}
	for round, now := range []time.Time{at(0), at(ttl), at(2 * ttl)} {
		got := make([][]store.Lease, replicas)
		errs := make([]error, replicas)
		var wg sync.WaitGroup
		for i := range replicas {
			wg.Go(func() {
				got[i], errs[i] = l.ClaimShards(ctx, fmt.Sprintf("r%d", i), all, now, ttl)
			})
		}
		wg.Wait()
		held := map[int]store.Lease{}
		for i := range replicas {
			require.NoError(t, errs[i])
			for _, ls := range got[i] {
				require.Equal(t, fmt.Sprintf("r%d", i), ls.Owner)
				prev, dup := held[ls.Shard]
				require.False(t, dup, "round %d: shard %d held by %s and %s", round, ls.Shard, prev.Owner, ls.Owner)
				require.Equal(t, int64(round+1), ls.Epoch, "round %d: every lease lapsed, so every claim is a new epoch", round)
				require.Equal(t, store.Truncate(now.Add(ttl)), ls.ExpiresAt)
				held[ls.Shard] = ls
			}
		}
		require.Len(t, held, store.Shards, "round %d: every shard claimed", round)
		stored := listLeases(ctx, t, l)
		require.Len(t, stored, store.Shards)
		for _, ls := range stored {
			require.Equal(t, held[ls.Shard], ls, "round %d: the store agrees with the claimers", round)
		}
	}
}

// testCommitPassFenced: a pass commits under its shard's current lease, and
// with a stale epoch, another owner's lease, a lapsed lease or none at all
// it fails with ErrFenced and writes nothing.
func testCommitPassFenced(ctx context.Context, t *testing.T, s store.Store, l store.Leases) {
	hp := newHealPasses(ctx, t, s, "acme", "shop")
	shard := store.ShardOf("acme", "shop")
	const ttl = time.Minute
	la := claim(ctx, t, l, "a", at(0), ttl, shard)
	require.Len(t, la, 1)
	fence := &store.Fence{Shard: shard, Owner: "a", Epoch: la[0].Epoch}

	d := mkDrift("acme", "shop", "a", at(0))
	insert(ctx, t, s, event("e1", "acme", "shop", "shopify", "t", at(0)))
	rep1, err := s.EventActivity(ctx, "acme", "shop", at(0))
	require.NoError(t, err)
	hp.commit(ctx, t, at(0), store.Pass{
		Fence:          fence,
		Drifts:         []drift.Drift{d},
		Heals:          []store.HealAttempt{healAt(d.ID, 1, at(0))},
		Audit:          []store.AuditEntry{{Timestamp: at(0), Action: "drift_detected", ClientID: "acme", StackID: "shop"}},
		CheckedThrough: rep1.Mark,
	})

	insert(ctx, t, s, event("e2", "acme", "shop", "shopify", "t", at(time.Second)))
	rep2, err := s.EventActivity(ctx, "acme", "shop", at(0))
	require.NoError(t, err)
	before := takeSnapshot(ctx, t, s)
	heals := allHeals(ctx, t, s, store.HealQuery{})
	require.Len(t, heals, 1)

	// attempt commits a full pass (every kind of write) under f whose
	// result completes at completed, and requires ErrFenced and nothing
	// written.
	n := 0
	attempt := func(why string, f store.Fence, completed time.Time) {
		t.Helper()
		n++
		r := result(fmt.Sprintf("fenced-%d", n), "acme", "shop", completed.Add(-1500*time.Millisecond))
		require.Equal(t, completed, r.CompletedAt)
		state := hp.state
		state.Status = store.StatusError
		_, err := s.CommitPass(ctx, store.Pass{
			State:          state,
			Fence:          &f,
			Drifts:         []drift.Drift{mkDrift("acme", "shop", "b", completed)},
			Result:         r,
			Audit:          []store.AuditEntry{{Timestamp: completed, Action: "auto_heal", ClientID: "acme", StackID: "shop"}},
			CheckedThrough: rep2.Mark,
			Heals:          []store.HealAttempt{healAt(d.ID, 2, completed)},
			HealUpdates:    []store.HealUpdate{{ID: d.ID + "/1", From: []store.HealStatus{store.HealPending}, Status: store.HealCancelled, At: completed}},
			Approvals:      []store.Approval{approvalAt("ap-"+r.ReconciliationID, d.ID, completed, completed.Add(time.Hour))},
		})
		require.ErrorIs(t, err, store.ErrFenced, why)
		require.Equal(t, before, takeSnapshot(ctx, t, s), "%s: a fenced pass writes nothing", why)
		require.Equal(t, heals, allHeals(ctx, t, s, store.HealQuery{}), "%s: no heal written or updated", why)
		require.Empty(t, allApprovals(ctx, t, s, store.ApprovalQuery{}), "%s: no approval written", why)
	}

	attempt("another owner", store.Fence{Shard: shard, Owner: "b", Epoch: fence.Epoch}, at(10*time.Second))
	attempt("a newer epoch than the lease's", store.Fence{Shard: shard, Owner: "a", Epoch: fence.Epoch + 1}, at(10*time.Second))
	other := (shard + 1) % store.Shards
	attempt("a shard never claimed", store.Fence{Shard: other, Owner: "a", Epoch: 1}, at(10*time.Second))
	attempt("the lease lapsed at the pass's end", *fence, at(ttl))
	attempt("the lease lapsed before the pass's end", *fence, at(ttl+time.Second))

	// a lapses and claims again: the pass begun under the old epoch is
	// fenced, one under the new epoch commits.
	again := claim(ctx, t, l, "a", at(2*ttl), ttl, shard)
	require.Len(t, again, 1)
	require.Equal(t, fence.Epoch+1, again[0].Epoch)
	attempt("a stale epoch", *fence, at(2*ttl+time.Second))

	// b takes over after a released it: a's current epoch is fenced too.
	require.NoError(t, l.ReleaseShards(ctx, "a", []int{shard}))
	attempt("released", store.Fence{Shard: shard, Owner: "a", Epoch: again[0].Epoch}, at(2*ttl+time.Second))
	lb := claim(ctx, t, l, "b", at(2*ttl+time.Second), ttl, shard)
	require.Len(t, lb, 1)
	attempt("taken over", store.Fence{Shard: shard, Owner: "a", Epoch: again[0].Epoch}, at(2*ttl+2*time.Second))

	// b's pass commits, everything of it.
	hp.commit(ctx, t, at(2*ttl+2*time.Second), store.Pass{
		Fence:          &store.Fence{Shard: shard, Owner: "b", Epoch: lb[0].Epoch},
		Drifts:         []drift.Drift{d},
		Heals:          []store.HealAttempt{healAt(d.ID, 2, at(2*ttl+2*time.Second))},
		Audit:          []store.AuditEntry{{Timestamp: at(2*ttl + 2*time.Second), Action: "auto_heal", ClientID: "acme", StackID: "shop"}},
		CheckedThrough: rep2.Mark,
	})
	require.Len(t, allHeals(ctx, t, s, store.HealQuery{}), 2)
	audit := allAudit(ctx, t, s, store.AuditQuery{})
	require.Len(t, audit, 2)
	require.Equal(t, audit[0].Hash, audit[1].PrevHash, "the chain goes on from the last committed entry")
	// A pass without a fence is not checked (a single replica).
	hp.commit(ctx, t, at(10*ttl), store.Pass{})
}

// listen runs ListenTriggers on l until the test ends and returns the
// triggers it receives, once it is known to receive them: probes are
// notified until one arrives (a listener may take a moment to start).
func listen(ctx context.Context, t *testing.T, l store.Leases, notifier store.Leases) <-chan [2]string {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	got := make(chan [2]string, 4096)
	done := make(chan error, 1)
	go func() {
		started := 0
		done <- l.ListenTriggers(ctx, func(key, trigger string) {
			if store.ListenStarted(key, trigger) {
				if started++; started > 1 {
					got <- [2]string{"", "started again"} // no reconnection here
				}
				return
			}
			if started == 0 {
				got <- [2]string{key, "before ListenStarted"}
				return
			}
			got <- [2]string{key, trigger}
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				require.ErrorIs(t, err, context.Canceled, "ListenTriggers ends with its context")
			}
		case <-time.After(5 * time.Second):
			t.Error("ListenTriggers did not return after its context ended")
		}
	})
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for {
		require.NoError(t, notifier.NotifyTriggers(ctx, []string{"probe/probe"}, "probe"))
		select {
		case tr := <-got:
			require.Equal(t, [2]string{"probe/probe", "probe"}, tr)
			for {
				// Drain the probes still in flight.
				select {
				case <-got:
					continue
				case <-time.After(200 * time.Millisecond):
				}
				return got
			}
		case err := <-done:
			t.Fatalf("ListenTriggers returned before its context ended: %v", err)
		case <-tick.C:
		case <-deadline:
			t.Fatal("no probe trigger reached the listener within 10 seconds")
		}
	}
}

// expectTriggers waits up to a second for want, in any order; other
// triggers fail the test.
func expectTriggers(t *testing.T, got <-chan [2]string, want map[[2]string]int) {
	t.Helper()
	deadline := time.After(time.Second)
	left := 0
	for _, c := range want {
		left += c
	}
	for left > 0 {
		select {
		case tr := <-got:
			if tr == [2]string{"probe/probe", "probe"} {
				continue // another listener starting
			}
			require.Positive(t, want[tr], "unexpected trigger %v", tr)
			want[tr]--
			left--
		case <-deadline:
			t.Fatalf("%d triggers did not arrive within a second: %v", left, want)
		}
	}
}

// testTriggers: NotifyTriggers reaches every ListenTriggers of the store
// within a second, each key with its trigger, however many keys at once.
// (Another store on the same database is the driver's own test.)
func testTriggers(ctx context.Context, t *testing.T, _ store.Store, l store.Leases) {
	first, second := listen(ctx, t, l, l), listen(ctx, t, l, l)

	require.NoError(t, l.NotifyTriggers(ctx, []string{"acme/shop", "acme/blog"}, "event"))
	require.NoError(t, l.NotifyTriggers(ctx, []string{"globex/site"}, "manual"))
	require.NoError(t, l.NotifyTriggers(ctx, nil, "manual"), "no keys: nothing to do")
	for _, got := range []<-chan [2]string{first, second} {
		expectTriggers(t, got, map[[2]string]int{
			{"acme/shop", "event"}: 1, {"acme/blog", "event"}: 1, {"globex/site", "manual"}: 1,
		})
	}

	// Many long keys at once: more than one notification's worth on
	// PostgreSQL (8000 bytes).
	var keys []string
	want := map[[2]string]int{}
	for i := range 400 {
		k := fmt.Sprintf("client-%03d/%s-%03d", i, strings.Repeat("s", 50), i)
		keys = append(keys, k)
		want[[2]string{k, "config"}] = 1
	}
	require.NoError(t, l.NotifyTriggers(ctx, keys, "config"))
	expectTriggers(t, first, want)
}

// testCommitPassFencedAmongOthers: passes committing at once (drivers may
// write them in one transaction) under the leases of several shards, some
// of which moved to another replica: those fail with ErrFenced and write
// nothing, the others commit.
func testCommitPassFencedAmongOthers(ctx context.Context, t *testing.T, s store.Store, l store.Leases) {
	const (
		stacks = 24
		ttl    = time.Minute
	)
	states := make([]store.StateRecord, stacks)
	fences := make([]store.Fence, stacks)
	moved := map[int]bool{}
	for i := range states {
		states[i] = newStack(ctx, t, s, "acme", fmt.Sprintf("s%02d", i))
		shard := store.ShardOf("acme", states[i].StackID)
		ls := claim(ctx, t, l, "a", at(0), ttl, shard)
		require.Len(t, ls, 1)
		fences[i] = store.Fence{Shard: shard, Owner: "a", Epoch: ls[0].Epoch}
		if i%3 == 0 {
			moved[shard] = true
		}
	}
	for shard := range moved {
		require.NoError(t, l.ReleaseShards(ctx, "a", []int{shard}))
		require.Len(t, claim(ctx, t, l, "b", at(time.Second), ttl, shard), 1)
	}
	errs := make([]error, stacks)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range stacks {
		wg.Go(func() {
			<-start
			_, errs[i] = s.CommitPass(ctx, store.Pass{State: states[i], Fence: &fences[i],
				Drifts: []drift.Drift{mkDrift("acme", states[i].StackID, "a", at(2*time.Second))},
				Result: result(fmt.Sprintf("r-%d", i), "acme", states[i].StackID, at(2*time.Second))})
		})
	}
	close(start)
	wg.Wait()
	committed := 0
	for i := range stacks {
		stack := states[i].StackID
		drifts := listDrifts(ctx, t, s, store.DriftQuery{ClientID: "acme", StackID: stack})
		if moved[fences[i].Shard] {
			require.ErrorIs(t, errs[i], store.ErrFenced, stack)
			require.Equal(t, states[i].Revision, getState(ctx, t, s, "acme", stack).Revision, "%s: fenced, nothing written", stack)
			require.Empty(t, drifts, stack)
			continue
		}
		require.NoError(t, errs[i], stack)
		require.Equal(t, states[i].Revision+1, getState(ctx, t, s, "acme", stack).Revision, stack)
		require.Len(t, drifts, 1, stack)
		committed++
	}
	require.Len(t, allReconciliations(ctx, t, s, "acme", "", 0), committed)
	require.Positive(t, committed)
	require.Less(t, committed, stacks)
}
