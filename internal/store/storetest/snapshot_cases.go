package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/store"
)

// mkSnapshot is a snapshot of a stack at version, taken at taken, whose
// deployment is deploy.
func mkSnapshot(client, stack, version, deploy string, taken time.Time) store.Snapshot {
	s := store.Snapshot{ClientID: client, StackID: stack, Version: version, DesiredHash: "h-" + version,
		TakenAt: taken, ReconciliationID: "rec-" + deploy,
		Components: store.SnapshotComponents{
			Build:         &store.BuildSnapshot{Driver: "hook", Host: "netlify", DeployID: deploy},
			CMSAlias:      &store.AliasSnapshot{Role: "cms", Provider: "contentful", Alias: "master", Environment: "release-1"},
			Subscriptions: []store.SubscriptionSnapshot{{Integration: "orders", Role: "ecommerce", ID: "sub-1", Topics: []string{"orders/create"}, APIVersion: "2025-01"}},
			DNS:           []store.DNSSnapshot{{Resource: "dns", Answers: []string{"192.0.2.1"}}},
		}}
	s.ID = store.SnapshotID(s)
	return s
}

func snapshotIDs(ss []store.Snapshot) []string {
	out := []string{}
	for _, s := range ss {
		out = append(out, s.ID)
	}
	return out
}

// testSnapshots: put, confirm a known one, get, list newest first per
// stack, prune beyond store.MaxSnapshots, bad input.
func testSnapshots(ctx context.Context, t *testing.T, s store.Store) {
	a := mkSnapshot("acme", "web", "v1.0.0", "d1", at(0))
	got, err := s.PutSnapshot(ctx, a)
	require.NoError(t, err)
	want := a
	want.TakenAt, want.ConfirmedAt = store.Truncate(a.TakenAt), store.Truncate(a.TakenAt)
	require.Equal(t, want, got)

	again := a
	again.TakenAt, again.ConfirmedAt = at(time.Hour), at(time.Hour)
	got, err = s.PutSnapshot(ctx, again)
	require.NoError(t, err)
	require.Equal(t, store.Truncate(a.TakenAt), got.TakenAt, "a known snapshot keeps when it was first taken")
	require.Equal(t, store.Truncate(at(time.Hour)), got.ConfirmedAt, "and is confirmed")
	stored, err := s.GetSnapshot(ctx, a.ID)
	require.NoError(t, err)
	require.Equal(t, got, stored)

	b := mkSnapshot("acme", "web", "v1.1.0", "d2", at(time.Minute))
	other := mkSnapshot("acme", "shop", "v1.0.0", "d1", at(0))
	for _, sn := range []store.Snapshot{b, other} {
		_, err := s.PutSnapshot(ctx, sn)
		require.NoError(t, err)
	}
	list, err := s.ListSnapshots(ctx, "acme", "web")
	require.NoError(t, err)
	require.Equal(t, []string{b.ID, a.ID}, snapshotIDs(list))
	require.NotEqual(t, a.ID, other.ID, "the id covers the stack")

	_, err = s.GetSnapshot(ctx, "snap-unknown")
	require.ErrorIs(t, err, store.ErrNotFound)
	bad := b
	bad.Components.Build.DeployID = "d9"
	_, err = s.PutSnapshot(ctx, bad)
	require.Error(t, err, "an id that is not the content address")
	_, err = s.PutSnapshot(ctx, store.Snapshot{})
	require.Error(t, err)

	// Beyond MaxSnapshots, the oldest go, but for the one a hold pins;
	// other stacks keep theirs.
	newStack(ctx, t, s, "acme", "web")
	in := desired("acme", "web", "h-web")
	in.Hold = &store.Hold{Restored: "v1.0.0", Snapshot: b.ID, Until: time.Now().Add(time.Hour), By: "ops", At: at(0)}
	apply(ctx, t, s, in)
	var newest []string
	for i := range store.MaxSnapshots {
		sn := mkSnapshot("acme", "web", fmt.Sprintf("v1.%d.0", i+2), fmt.Sprintf("d%d", i+3), at(time.Duration(i+2)*time.Minute))
		_, err := s.PutSnapshot(ctx, sn)
		require.NoError(t, err)
		newest = append([]string{sn.ID}, newest...)
	}
	list, err = s.ListSnapshots(ctx, "acme", "web")
	require.NoError(t, err)
	require.Equal(t, append(newest, b.ID), snapshotIDs(list))
	_, err = s.GetSnapshot(ctx, a.ID)
	require.ErrorIs(t, err, store.ErrNotFound, "pruned")
	list, err = s.ListSnapshots(ctx, "acme", "shop")
	require.NoError(t, err)
	require.Equal(t, []string{other.ID}, snapshotIDs(list))
}

// testConcurrentSnapshots: the snapshots of many verified passes put at
// once (drivers may write them together) are each stored and returned as
// stored; a known one among them is confirmed, not duplicated.
func testConcurrentSnapshots(ctx context.Context, t *testing.T, s store.Store) {
	known := mkSnapshot("acme", "s00", "v1.0.0", "d0", at(0))
	_, err := s.PutSnapshot(ctx, known)
	require.NoError(t, err)
	const n = 40
	want := make([]store.Snapshot, n)
	got := make([]store.Snapshot, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		want[i] = mkSnapshot("acme", fmt.Sprintf("s%02d", i), "v1.0.0", fmt.Sprintf("d%d", i), at(time.Duration(i)*time.Second))
		if i == 0 {
			want[i] = known
			want[i].ConfirmedAt = at(time.Hour)
		}
		wg.Go(func() { got[i], errs[i] = s.PutSnapshot(ctx, want[i]) })
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i], "snapshot %d", i)
		w := want[i]
		w.TakenAt, w.ConfirmedAt = store.Truncate(w.TakenAt), store.Truncate(w.ConfirmedAt)
		if w.ConfirmedAt.IsZero() {
			w.ConfirmedAt = w.TakenAt
		}
		require.Equal(t, w, got[i], "snapshot %d as stored", i)
		list, err := s.ListSnapshots(ctx, "acme", w.StackID)
		require.NoError(t, err)
		require.Equal(t, []string{w.ID}, snapshotIDs(list), "stack %s", w.StackID)
	}
}

// testSnapshotsAmongPasses: snapshots put while passes commit (drivers
// may write them in one transaction) are each stored, even when a pass
// beside them fails (a stale revision) or two of them are one snapshot;
// the failed pass writes nothing and the others commit.
func testSnapshotsAmongPasses(ctx context.Context, t *testing.T, s store.Store) {
	const stacks = 12
	states := make([]store.StateRecord, stacks)
	for i := range states {
		states[i] = newStack(ctx, t, s, "acme", fmt.Sprintf("s%02d", i))
	}
	stale := states[3]
	stale.Revision-- // its pass fails with ErrConflict
	snaps := make([]store.Snapshot, stacks+1)
	for i := range stacks {
		snaps[i] = mkSnapshot("acme", states[i].StackID, "v1.0.0", fmt.Sprintf("d%d", i), at(time.Duration(i)*time.Second))
	}
	snaps[stacks] = snaps[5] // the same snapshot twice at once
	passErrs, snapErrs := make([]error, stacks), make([]error, len(snaps))
	got := make([]store.Snapshot, len(snaps))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range stacks {
		st := states[i]
		if i == 3 {
			st = stale
		}
		wg.Go(func() {
			<-start
			_, passErrs[i] = s.CommitPass(ctx, store.Pass{State: st,
				Result: result(fmt.Sprintf("r-%d", i), "acme", st.StackID, at(time.Minute))})
		})
	}
	for i := range snaps {
		wg.Go(func() {
			<-start
			got[i], snapErrs[i] = s.PutSnapshot(ctx, snaps[i])
		})
	}
	close(start)
	wg.Wait()
	for i := range stacks {
		stack := states[i].StackID
		if i == 3 {
			require.ErrorIs(t, passErrs[i], store.ErrConflict, "the stale pass")
			require.Equal(t, states[i].Revision, getState(ctx, t, s, "acme", stack).Revision, "the stale pass wrote nothing")
		} else {
			require.NoError(t, passErrs[i], "pass %d", i)
			require.Equal(t, states[i].Revision+1, getState(ctx, t, s, "acme", stack).Revision, stack)
		}
	}
	require.Len(t, allReconciliations(ctx, t, s, "acme", "", 0), stacks-1)
	for i, snap := range snaps {
		require.NoError(t, snapErrs[i], "snapshot %d", i)
		require.Equal(t, snap.ID, got[i].ID, "snapshot %d", i)
		list, err := s.ListSnapshots(ctx, "acme", snap.StackID)
		require.NoError(t, err)
		require.Equal(t, []string{snap.ID}, snapshotIDs(list), "stack %s", snap.StackID)
	}
}

// testRollbackRecords: insert, update progress, list by stack, client and
// running, bad input.
func testRollbackRecords(ctx context.Context, t *testing.T, s store.Store) {
	step := func(c, o string) store.RollbackStep { return store.RollbackStep{Component: c, Outcome: o} }
	r := store.RollbackRecord{ID: "rb-1", ClientID: "acme", StackID: "web", SnapshotID: "snap-1", RestoredVersion: "v1.0.0",
		Hold: "2h", By: "ops", Status: store.RollbackRunning, Steps: []store.RollbackStep{step("desired_state", "pending"), step("build", "pending")},
		StartedAt: at(0), UpdatedAt: at(0)}
	require.NoError(t, s.PutRollback(ctx, r))
	done := at(time.Second)
	r.NewVersion, r.Steps[0] = "v1.3.0", store.RollbackStep{Component: "desired_state", Outcome: "restored", Detail: "v1.3.0", At: &done}
	r.UpdatedAt = done
	require.NoError(t, s.PutRollback(ctx, r))
	other := store.RollbackRecord{ID: "rb-2", ClientID: "acme", StackID: "shop", SnapshotID: "snap-2", RestoredVersion: "v1.0.0",
		By: "ops", Status: store.RollbackVerified, StartedAt: at(time.Minute), UpdatedAt: at(time.Minute)}
	require.NoError(t, s.PutRollback(ctx, other))
	globex := other
	globex.ID, globex.ClientID, globex.Status = "rb-3", "globex", store.RollbackFailed
	require.NoError(t, s.PutRollback(ctx, globex))

	list, err := s.ListRollbacks(ctx, "acme", "web", false)
	require.NoError(t, err)
	require.Len(t, list, 1)
	got := list[0]
	require.Equal(t, "v1.3.0", got.NewVersion)
	require.Equal(t, "restored", got.Steps[0].Outcome)
	require.Equal(t, store.Truncate(done), *got.Steps[0].At)
	require.Equal(t, store.Truncate(at(0)), got.StartedAt)
	require.Equal(t, store.Truncate(done), got.UpdatedAt)
	require.Equal(t, "2h", got.Hold)

	ids := func(rs []store.RollbackRecord) []string {
		out := []string{}
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	list, err = s.ListRollbacks(ctx, "acme", "", false)
	require.NoError(t, err)
	require.Equal(t, []string{"rb-2", "rb-1"}, ids(list))
	list, err = s.ListRollbacks(ctx, "", "", true)
	require.NoError(t, err)
	require.Equal(t, []string{"rb-1"}, ids(list), "running only, every client")

	require.Error(t, s.PutRollback(ctx, store.RollbackRecord{ID: "rb-x", ClientID: "acme", StackID: "web", SnapshotID: "s", Status: "odd", StartedAt: at(0)}))
	require.Error(t, s.PutRollback(ctx, store.RollbackRecord{ID: "rb-y"}))
}
