package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/store"
)

// healCases runs the cases of store.Heals and of the healing part of
// CommitPass, each on a fresh store.
func healCases(ctx context.Context, t *testing.T, newStore func(t *testing.T) store.Store) {
	for _, c := range []struct {
		name string
		run  func(ctx context.Context, t *testing.T, s store.Store, h store.Heals)
	}{
		{"HealInsertIdempotent", testHealInsertIdempotent},
		{"HealApprovalLinked", testHealApprovalLinked},
		{"HealUpdates", testHealUpdates},
		{"HealClaim", testHealClaim},
		{"HealClaimConcurrent", testHealClaimConcurrent},
		{"HealFinish", testHealFinish},
		{"HealPassConflictWritesNothing", testHealPassConflict},
		{"DriftReturns", testDriftReturns},
		{"ListHeals", testListHeals},
		{"ListApprovals", testListApprovals},
		{"DecideApproval", testDecideApproval},
		{"ExpireApprovals", testExpireApprovals},
		{"RetireApprovals", testRetireApprovals},
		{"DriftHealStatus", testDriftHealStatus},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			c.run(ctx, t, s, s)
		})
	}
}

// healAt is an attempt of a drift of acme/shop created at created, due at
// once.
func healAt(driftID string, attempt int, created time.Time) store.HealAttempt {
	return store.HealAttempt{
		ID:               fmt.Sprintf("%s/%d", driftID, attempt),
		DriftID:          driftID,
		ClientID:         "acme",
		StackID:          "shop",
		Code:             drift.WebhookBroken,
		Component:        "shopify.webhook.products/update",
		Provider:         "shopify",
		Action:           "recreate_subscription",
		Attempt:          attempt,
		Status:           store.HealPending,
		ReconciliationID: "r-heal",
		TriggeredBy:      "reconciler",
		Drift:            json.RawMessage(`{"code": "webhook_broken", "observed": null}`),
		NotBefore:        created,
		CreatedAt:        created,
	}
}

// storedHeal is how an attempt reads back: times truncated.
func storedHeal(h store.HealAttempt) store.HealAttempt {
	h.NotBefore, h.CreatedAt = store.Truncate(h.NotBefore), store.Truncate(h.CreatedAt)
	for _, p := range []**time.Time{&h.LeaseUntil, &h.StartedAt, &h.CompletedAt, &h.VerifiedAt} {
		if *p != nil {
			*p = ptr(store.Truncate(**p))
		}
	}
	return h
}

// approvalAt is a pending request for a drift of acme/shop.
func approvalAt(id, driftID string, created, expires time.Time) store.Approval {
	return store.Approval{
		ID:               id,
		ClientID:         "acme",
		StackID:          "shop",
		DriftID:          driftID,
		Code:             drift.ResourceMissing,
		Component:        "site.bucket",
		Action:           "recreate_resource",
		Class:            "resource_replacement",
		Diff:             json.RawMessage(`{"action": "recreate_resource", "expected": {"bucket": "b"}, "observed": null}`),
		TriggeredBy:      "reconciler",
		ReconciliationID: "r-approval",
		Status:           store.ApprovalPending,
		CreatedAt:        created,
		ExpiresAt:        expires,
	}
}

func storedApproval(a store.Approval) store.Approval {
	a.CreatedAt, a.ExpiresAt = store.Truncate(a.CreatedAt), store.Truncate(a.ExpiresAt)
	if a.DecidedAt != nil {
		a.DecidedAt = ptr(store.Truncate(*a.DecidedAt))
	}
	return a
}

// healPasses commits passes on one stack, each with a fresh reconciliation
// id.
type healPasses struct {
	s     store.Store
	state store.StateRecord
	n     int
}

func newHealPasses(ctx context.Context, t *testing.T, s store.Store, client, stack string) *healPasses {
	return &healPasses{s: s, state: newStack(ctx, t, s, client, stack)}
}

// commit commits p on the stack; its result starts at start.
func (hp *healPasses) commit(ctx context.Context, t *testing.T, start time.Time, p store.Pass) {
	t.Helper()
	hp.n++
	p.Result = result(fmt.Sprintf("%s-%s-r%d", hp.state.ClientID, hp.state.StackID, hp.n), hp.state.ClientID, hp.state.StackID, start)
	commit(ctx, t, hp.s, &hp.state, p)
}

func allHeals(ctx context.Context, t *testing.T, h store.Heals, q store.HealQuery) []store.HealAttempt {
	t.Helper()
	return drain(t, "ListHeals", q.Cursor, q.Limit, func(cursor string) ([]store.HealAttempt, string, error) {
		q.Cursor = cursor
		return h.ListHeals(ctx, q)
	})
}

func allApprovals(ctx context.Context, t *testing.T, h store.Heals, q store.ApprovalQuery) []store.Approval {
	t.Helper()
	return drain(t, "ListApprovals", q.Cursor, q.Limit, func(cursor string) ([]store.Approval, string, error) {
		q.Cursor = cursor
		return h.ListApprovals(ctx, q)
	})
}

func getHeal(ctx context.Context, t *testing.T, h store.Heals, id string) store.HealAttempt {
	t.Helper()
	for _, a := range allHeals(ctx, t, h, store.HealQuery{}) {
		if a.ID == id {
			return a
		}
	}
	t.Fatalf("heal attempt %s is not stored", id)
	return store.HealAttempt{}
}

func getApproval(ctx context.Context, t *testing.T, h store.Heals, id string) store.Approval {
	t.Helper()
	a, err := h.GetApproval(ctx, id)
	require.NoError(t, err)
	return a
}

func testHealInsertIdempotent(ctx context.Context, t *testing.T, s store.Store, h store.Heals) {
	hp := newHealPasses(ctx, t, s, "acme", "shop")
	a1 := healAt("d1", 1, at(time.Second))
	a1.NotBefore = at(time.Minute)
	a2 := healAt("d2", 1, at(time.Second))
	a2.Status, a2.Drift, a2.Provider = store.HealDryRun, nil, ""
	hp.commit(ctx, t, at(0), store.Pass{Heals: []store.HealAttempt{a1, a2, a1}})
	require.Equal(t, []store.HealAttempt{storedHeal(a1), storedHeal(a2)}, allHeals(ctx, t, h, store.HealQuery{}),
		"a duplicate within a pass is stored once; every field round-trips")
	require.JSONEq(t, string(a1.Drift), string(allHeals(ctx, t, h, store.HealQuery{})[0].Drift))

	// A retried decision stores nothing new: the stored attempt is kept.
	again := a1
	again.Status, again.Detail, again.NotBefore = store.HealFailed, "changed", at(time.Hour)
	hp.commit(ctx, t, at(time.Minute), store.Pass{Heals: []store.HealAttempt{again}})
	require.Equal(t, []store.HealAttempt{storedHeal(a1), storedHeal(a2)}, allHeals(ctx, t, h, store.HealQuery{}))

	// Defaults: the pass's stack and reconciliation id, pending, due when
	// created.
	bare := store.HealAttempt{ID: "d3/1", DriftID: "d3", Attempt: 1, CreatedAt: at(2 * time.Minute)}
	hp.commit(ctx, t, at(2*time.Minute), store.Pass{Heals: []store.HealAttempt{bare}})
	got := getHeal(ctx, t, h, "d3/1")
	require.Equal(t, "acme", got.ClientID)
	require.Equal(t, "shop", got.StackID)
	require.Equal(t, store.HealPending, got.Status)
	require.Equal(t, "acme-shop-r3", got.ReconciliationID)
	require.Equal(t, store.Truncate(bare.CreatedAt), got.NotBefore)

	// An attempt of another stack, or without an id, fails the whole pass.
	for _, bad := range []store.HealAttempt{
		{ID: "x/1", DriftID: "x", ClientID: "acme", StackID: "blog"},
		{DriftID: "x"},
		{ID: "x/1", DriftID: "x", Drift: json.RawMessage(`{`)},
	} {
		p := store.Pass{State: hp.state, Heals: []store.HealAttempt{bad}, Result: result("bad", "acme", "shop", at(time.Hour))}
		_, err := s.CommitPass(ctx, p)
		require.Error(t, err, "%+v", bad)
	}
	require.Len(t, allHeals(ctx, t, h, store.HealQuery{}), 3)
	require.Equal(t, hp.state, getState(ctx, t, s, "acme", "shop"), "a failed pass writes no state")
}

func testHealApprovalLinked(ctx context.Context, t *testing.T, s store.Store, h store.Heals) {
	hp := newHealPasses(ctx, t, s, "acme", "shop")
	ap := approvalAt("ap1", "d1", at(0), at(time.Hour))
	hp.commit(ctx, t, at(0), store.Pass{Approvals: []store.Approval{ap}})
	require.Equal(t, storedApproval(ap), getApproval(ctx, t, h, "ap1"))

	// A second request for the drift while one is pending is not written.
	hp.commit(ctx, t, at(time.Second), store.Pass{Approvals: []store.Approval{approvalAt("ap2", "d1", at(time.Second), at(time.Hour))}})
	_, err := h.GetApproval(ctx, "ap2")
	require.ErrorIs(t, err, store.ErrNotFound, "a drift has one pending request at a time")

	// An attempt for a pending approval is not stored.
	att := healAt("d1", 1, at(2*time.Second))
	att.ApprovalID = "ap1"
	hp.commit(ctx, t, at(2*time.Second), store.Pass{Heals: []store.HealAttempt{att}})
	require.Empty(t, allHeals(ctx, t, h, store.HealQuery{}))
	require.Equal(t, store.ApprovalPending, getApproval(ctx, t, h, "ap1").Status)

	_, err = h.DecideApproval(ctx, store.ApprovalDecision{ID: "ap1", Approve: true, By: "api:bob", Reason: "looks right", At: at(time.Minute)})
	require.NoError(t, err)

	// Still one request while it is approved.
	hp.commit(ctx, t, at(2*time.Minute), store.Pass{Approvals: []store.Approval{approvalAt("ap3", "d1", at(2*time.Minute), at(time.Hour))}})
	_, err = h.GetApproval(ctx, "ap3")
	require.ErrorIs(t, err, store.ErrNotFound, "a drift with an approved request gets no other")

	// Approved: the attempt is stored and the approval executed, once.
	att.CreatedAt, att.NotBefore = at(3*time.Minute), at(3*time.Minute)
	hp.commit(ctx, t, at(3*time.Minute), store.Pass{Heals: []store.HealAttempt{att}})
	require.Equal(t, []store.HealAttempt{storedHeal(att)}, allHeals(ctx, t, h, store.HealQuery{}))
	got := getApproval(ctx, t, h, "ap1")
	require.Equal(t, store.ApprovalExecuted, got.Status)
	require.Equal(t, att.ID, got.HealID)

	second := healAt("d1", 2, at(4*time.Minute))
	second.ApprovalID = "ap1"
	hp.commit(ctx, t, at(4*time.Minute), store.Pass{Heals: []store.HealAttempt{second, att}})
	require.Equal(t, []store.HealAttempt{storedHeal(att)}, allHeals(ctx, t, h, store.HealQuery{}),
		"an approval executes once")
	require.Equal(t, att.ID, getApproval(ctx, t, h, "ap1").HealID)

	// Once executed, the drift may be asked about again; another drift may
	// always be.
	hp.commit(ctx, t, at(5*time.Minute), store.Pass{Approvals: []store.Approval{
		approvalAt("ap4", "d1", at(5*time.Minute), at(time.Hour)),
		approvalAt("ap5", "d2", at(5*time.Minute), at(time.Hour)),
	}})
	require.Equal(t, store.ApprovalPending, getApproval(ctx, t, h, "ap4").Status)
	require.Equal(t, store.ApprovalPending, getApproval(ctx, t, h, "ap5").Status)

	// A rejected approval executes nothing.
	_, err = h.DecideApproval(ctx, store.ApprovalDecision{ID: "ap5", Approve: false, By: "api:bob", Reason: "no", At: at(6 * time.Minute)})
	require.NoError(t, err)
	rejected := healAt("d2", 1, at(7*time.Minute))
	rejected.ApprovalID = "ap5"
	hp.commit(ctx, t, at(7*time.Minute), store.Pass{Heals: []store.HealAttempt{rejected}})
	require.Len(t, allHeals(ctx, t, h, store.HealQuery{}), 1)
	require.Equal(t, store.ApprovalRejected, getApproval(ctx, t, h, "ap5").Status)
}

// requireClaimed requires got to be exactly the attempts ids, in order.
func requireClaimed(t *testing.T, got []store.HealAttempt, ids ...string) {
	t.Helper()
	gotIDs := make([]string, len(got))
	for i, a := range got {
		gotIDs[i] = a.ID
	}
	if len(ids) == 0 {
		ids = []string{}
	}
	require.Equal(t, ids, gotIDs)
}

func testHealUpdates(ctx context.Context, t *testing.T, s store.Store, h store.Heals) {
	hp := newHealPasses(ctx, t, s, "acme", "shop")
	hp.commit(ctx, t, at(0), store.Pass{Heals: []store.HealAttempt{
		healAt("d1", 1, at(0)), healAt("d2", 1, at(0)), healAt("d3", 1, at(0)),
	}})
	claimed, err := h.ClaimHeals(ctx, store.Claim{Owner: "w1", Now: at(time.Second), Lease: time.Minute, Limit: 2})
	require.NoError(t, err)
	requireClaimed(t, claimed, "d1/1", "d2/1")
	_, err = h.FinishHeal(ctx, store.FinishHeal{ID: "d1/1", Owner: "w1", Status: store.HealExecuted, Detail: "recreated", At: at(2 * time.Second)})
	require.NoError(t, err)
	_, err = h.FinishHeal(ctx, store.FinishHeal{ID: "d2/1", Owner: "w1", Status: store.HealExecuted, Detail: "recreated", At: at(2 * time.Second)})
	require.NoError(t, err)

	// Verdicts apply only from the listed statuses.
	executed := []store.HealStatus{store.HealExecuted}
	hp.commit(ctx, t, at(time.Minute), store.Pass{HealUpdates: []store.HealUpdate{
		{ID: "d1/1", From: executed, Status: store.HealSucceeded, At: at(time.Minute)},
		{ID: "d2/1", From: executed, Status: store.HealFailed, At: at(time.Minute), Error: "drift still present"},
		{ID: "d3/1", From: executed, Status: store.HealSucceeded, At: at(time.Minute)},
		{ID: "no-such/1", From: executed, Status: store.HealSucceeded, At: at(time.Minute)},
	}})
	d1 := getHeal(ctx, t, h, "d1/1")
	require.Equal(t, store.HealSucceeded, d1.Status)
	require.Equal(t, ptr(store.Truncate(at(time.Minute))), d1.VerifiedAt)
	require.Equal(t, ptr(store.Truncate(at(2*time.Second))), d1.CompletedAt, "a verdict keeps the completion time")
	require.Equal(t, "recreated", d1.Detail)
	d2 := getHeal(ctx, t, h, "d2/1")
	require.Equal(t, store.HealFailed, d2.Status)
	require.Equal(t, "drift still present", d2.Error)
	require.Equal(t, ptr(store.Truncate(at(time.Minute))), d2.VerifiedAt)
	d3 := getHeal(ctx, t, h, "d3/1")
	require.Equal(t, store.HealPending, d3.Status, "a pending attempt is not verified")
	require.Nil(t, d3.VerifiedAt)

	// Cancelling: from pending only; a verified attempt stays verified.
	pending := []store.HealStatus{store.HealPending}
	hp.commit(ctx, t, at(2*time.Minute), store.Pass{HealUpdates: []store.HealUpdate{
		{ID: "d3/1", From: pending, Status: store.HealCancelled, At: at(2 * time.Minute)},
		{ID: "d1/1", From: pending, Status: store.HealCancelled, At: at(2 * time.Minute)},
	}})
	d3 = getHeal(ctx, t, h, "d3/1")
	require.Equal(t, store.HealCancelled, d3.Status)
	require.Equal(t, ptr(store.Truncate(at(2*time.Minute))), d3.CompletedAt)
	require.Nil(t, d3.VerifiedAt)
	require.Equal(t, store.HealSucceeded, getHeal(ctx, t, h, "d1/1").Status)
	claimed, err = h.ClaimHeals(ctx, store.Claim{Owner: "w1", Now: at(time.Hour), Lease: time.Minute, Limit: 10})
	require.NoError(t, err)
	require.Empty(t, claimed, "a cancelled attempt is not claimed")

	// A running attempt cancelled under its worker fences the worker off.
	hp.commit(ctx, t, at(3*time.Minute), store.Pass{Heals: []store.HealAttempt{healAt("d4", 1, at(3*time.Minute))}})
	claimed, err = h.ClaimHeals(ctx, store.Claim{Owner: "w2", Now: at(3 * time.Minute), Lease: time.Minute, Limit: 10})
	require.NoError(t, err)
	requireClaimed(t, claimed, "d4/1")
	hp.commit(ctx, t, at(3*time.Minute), store.Pass{HealUpdates: []store.HealUpdate{
		{ID: "d4/1", From: []store.HealStatus{store.HealPending, store.HealRunning}, Status: store.HealCancelled, At: at(3 * time.Minute)},
	}})
	_, err = h.FinishHeal(ctx, store.FinishHeal{ID: "d4/1", Owner: "w2", Status: store.HealExecuted, At: at(3 * time.Minute)})
	require.ErrorIs(t, err, store.ErrConflict)
	require.Equal(t, store.HealCancelled, getHeal(ctx, t, h, "d4/1").Status)

	// A verdict on another stack's attempt does nothing.
	blog := newHealPasses(ctx, t, s, "acme", "blog")
	blog.commit(ctx, t, at(4*time.Minute), store.Pass{HealUpdates: []store.HealUpdate{
		{ID: "d2/1", From: []store.HealStatus{store.HealFailed}, Status: store.HealCancelled, At: at(4 * time.Minute)},
	}})
	require.Equal(t, store.HealFailed, getHeal(ctx, t, h, "d2/1").Status)

	// A verdict without from statuses is refused with the pass.
	_, err = s.CommitPass(ctx, store.Pass{State: hp.state, Result: result("bad", "acme", "shop", at(time.Hour)),
		HealUpdates: []store.HealUpdate{{ID: "d2/1", Status: store.HealCancelled, At: at(time.Hour)}}})
	require.Error(t, err)
}

func testHealClaim(ctx context.Context, t *testing.T, s store.Store, h store.Heals) {
	hp := newHealPasses(ctx, t, s, "acme", "shop")
	later := healAt("d0", 1, at(0))
	later.NotBefore = at(10 * time.Minute) // oldest, but not due before 10m
	dry := healAt("dry", 1, at(0))
	dry.Status = store.HealDryRun
	hp.commit(ctx, t, at(0), store.Pass{Heals: []store.HealAttempt{
		healAt("d3", 1, at(3*time.Second)), healAt("d1", 1, at(time.Second)), later, dry,
		healAt("d2", 1, at(2*time.Second)), healAt("d2b", 1, at(2*time.Second)),
	}})

	// Oldest first by (CreatedAt, ID), only due ones, up to limit.
	now := at(time.Minute)
	got, err := h.ClaimHeals(ctx, store.Claim{Owner: "w1", Now: now, Lease: 30 * time.Second, Limit: 3})
	require.NoError(t, err)
	requireClaimed(t, got, "d1/1", "d2/1", "d2b/1")
	for _, a := range got {
		require.Equal(t, store.HealRunning, a.Status)
		require.Equal(t, "w1", a.Owner)
		require.Equal(t, ptr(store.Truncate(now.Add(30*time.Second))), a.LeaseUntil)
		require.Equal(t, ptr(store.Truncate(now)), a.StartedAt)
		require.Equal(t, 1, a.Claims)
		require.Equal(t, a, getHeal(ctx, t, h, a.ID), "ClaimHeals returns the attempt as stored")
	}
	got, err = h.ClaimHeals(ctx, store.Claim{Owner: "w2", Now: now, Lease: 30 * time.Second, Limit: 10})
	require.NoError(t, err)
	requireClaimed(t, got, "d3/1")

	// A lease that has not lapsed (even one ending exactly now) keeps the
	// attempt; nothing else is due.
	got, err = h.ClaimHeals(ctx, store.Claim{Owner: "w2", Now: now.Add(30 * time.Second), Lease: 30 * time.Second, Limit: 10})
	require.NoError(t, err)
	requireClaimed(t, got)

	// w1 dies: after its lease lapses, another worker re-claims its
	// attempts; StartedAt stays the first claim's, Claims counts.
	_, err = h.FinishHeal(ctx, store.FinishHeal{ID: "d2/1", Owner: "w1", Status: store.HealExecuted, At: now.Add(10 * time.Second)})
	require.NoError(t, err)
	reclaim := now.Add(31 * time.Second)
	got, err = h.ClaimHeals(ctx, store.Claim{Owner: "w3", Now: reclaim, Lease: time.Minute, Limit: 1})
	require.NoError(t, err)
	requireClaimed(t, got, "d1/1")
	require.Equal(t, 2, got[0].Claims)
	require.Equal(t, "w3", got[0].Owner)
	require.Equal(t, ptr(store.Truncate(now)), got[0].StartedAt)
	require.Equal(t, ptr(store.Truncate(reclaim.Add(time.Minute))), got[0].LeaseUntil)
	got, err = h.ClaimHeals(ctx, store.Claim{Owner: "w3", Now: reclaim, Lease: time.Hour, Limit: 0})
	require.NoError(t, err)
	requireClaimed(t, got, "d2b/1", "d3/1") // d2/1 was finished: not claimed again

	// The not-yet-due attempt becomes due at its NotBefore (d1/1's lease
	// has lapsed by then too); dry runs never.
	got, err = h.ClaimHeals(ctx, store.Claim{Owner: "w4", Now: at(10 * time.Minute).Add(-time.Microsecond), Lease: time.Hour, Limit: 0})
	require.NoError(t, err)
	requireClaimed(t, got, "d1/1")
	require.Equal(t, 3, got[0].Claims)
	got, err = h.ClaimHeals(ctx, store.Claim{Owner: "w4", Now: at(10 * time.Minute), Lease: time.Hour, Limit: 0})
	require.NoError(t, err)
	requireClaimed(t, got, "d0/1")
	require.Equal(t, store.HealDryRun, getHeal(ctx, t, h, "dry/1").Status)

	_, err = h.ClaimHeals(ctx, store.Claim{Owner: "", Now: now, Lease: time.Minute, Limit: 1})
	require.Error(t, err, "an owner is required")
	_, err = h.ClaimHeals(ctx, store.Claim{Owner: "w1", Now: now, Lease: 0, Limit: 1})
	require.Error(t, err, "a lease is required")
}

func testHealClaimConcurrent(ctx context.Context, t *testing.T, s store.Store, h store.Heals) {
	const attempts, workers = 100, 8
	hp := newHealPasses(ctx, t, s, "acme", "shop")
	var in []store.HealAttempt
	for i := range attempts {
		in = append(in, healAt(fmt.Sprintf("d%03d", i), 1, at(time.Duration(i)*time.Millisecond)))
	}
	hp.commit(ctx, t, at(0), store.Pass{Heals: in})

	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		claimed = map[string]string{}
		errs    = make(chan error, workers)
	)
	for w := range workers {
		owner := fmt.Sprintf("w%d", w)
		wg.Go(func() {
			for {
				got, err := h.ClaimHeals(ctx, store.Claim{Owner: owner, Now: at(time.Minute), Lease: time.Hour, Limit: 3})
				if err != nil {
					errs <- err
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, a := range got {
					if prev, ok := claimed[a.ID]; ok {
						mu.Unlock()
						errs <- fmt.Errorf("%s claimed by %s and %s", a.ID, prev, owner)
						return
					}
					claimed[a.ID] = owner
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Len(t, claimed, attempts, "every attempt is claimed exactly once")
	for _, a := range allHeals(ctx, t, h, store.HealQuery{Limit: 33}) {
		require.Equal(t, 1, a.Claims, a.ID)
		require.Equal(t, claimed[a.ID], a.Owner, a.ID)
	}
}

func testHealFinish(ctx context.Context, t *testing.T, s store.Store, h store.Heals) {
	hp := newHealPasses(ctx, t, s, "acme", "shop")
	hp.commit(ctx, t, at(0), store.Pass{Heals: []store.HealAttempt{healAt("d1", 1, at(0)), healAt("d2", 1, at(0)), healAt("d3", 1, at(0))}})

	_, err := h.FinishHeal(ctx, store.FinishHeal{ID: "d1/1", Owner: "w1", Status: store.HealExecuted, At: at(time.Second)})
	require.ErrorIs(t, err, store.ErrConflict, "a pending attempt is held by no one")
	_, err = h.FinishHeal(ctx, store.FinishHeal{ID: "nope/1", Owner: "w1", Status: store.HealExecuted, At: at(time.Second)})
	require.ErrorIs(t, err, store.ErrNotFound)

	_, err = h.ClaimHeals(ctx, store.Claim{Owner: "w1", Now: at(time.Second), Lease: time.Minute, Limit: 10})
	require.NoError(t, err)
	_, err = h.FinishHeal(ctx, store.FinishHeal{ID: "d1/1", Owner: "w2", Status: store.HealExecuted, At: at(2 * time.Second)})
	require.ErrorIs(t, err, store.ErrConflict, "another worker's attempt")
	_, err = h.FinishHeal(ctx, store.FinishHeal{ID: "d1/1", Owner: "w1", Status: store.HealSucceeded, At: at(2 * time.Second)})
	require.Error(t, err, "a worker finishes as executed, failed or cancelled only")
	require.NotErrorIs(t, err, store.ErrConflict)

	got, err := h.FinishHeal(ctx, store.FinishHeal{ID: "d1/1", Owner: "w1", Status: store.HealExecuted, Detail: "subscription 42 created", At: at(2 * time.Second)})
	require.NoError(t, err)
	require.Equal(t, store.HealExecuted, got.Status)
	require.Equal(t, "subscription 42 created", got.Detail)
	require.Equal(t, ptr(store.Truncate(at(2*time.Second))), got.CompletedAt)
	require.Equal(t, "w1", got.Owner, "the attempt keeps who ran it")
	require.Nil(t, got.LeaseUntil, "the lease ends")
	require.Equal(t, got, getHeal(ctx, t, h, "d1/1"))
	_, err = h.FinishHeal(ctx, store.FinishHeal{ID: "d1/1", Owner: "w1", Status: store.HealExecuted, At: at(3 * time.Second)})
	require.ErrorIs(t, err, store.ErrConflict, "finished once")

	got, err = h.FinishHeal(ctx, store.FinishHeal{ID: "d2/1", Owner: "w1", Status: store.HealFailed, Detail: "", Error: "502 from shopify", At: at(2 * time.Second)})
	require.NoError(t, err)
	require.Equal(t, store.HealFailed, got.Status)
	require.Equal(t, "502 from shopify", got.Error)

	// d3: w1's lease lapses. Until someone else claims it, w1 may still
	// finish; once w2 has re-claimed it, w1 is fenced off.
	_, err = h.ClaimHeals(ctx, store.Claim{Owner: "w2", Now: at(2 * time.Minute), Lease: time.Minute, Limit: 10})
	require.NoError(t, err)
	_, err = h.FinishHeal(ctx, store.FinishHeal{ID: "d3/1", Owner: "w1", Status: store.HealExecuted, Detail: "late", At: at(2 * time.Minute)})
	require.ErrorIs(t, err, store.ErrConflict, "lapsed and re-claimed")
	got, err = h.FinishHeal(ctx, store.FinishHeal{ID: "d3/1", Owner: "w2", Status: store.HealExecuted, At: at(2 * time.Minute)})
	require.NoError(t, err)
	require.Equal(t, 2, got.Claims)

	hp.commit(ctx, t, at(3*time.Minute), store.Pass{Heals: []store.HealAttempt{healAt("d4", 1, at(3*time.Minute))}})
	_, err = h.ClaimHeals(ctx, store.Claim{Owner: "w1", Now: at(3 * time.Minute), Lease: time.Second, Limit: 10})
	require.NoError(t, err)
	got, err = h.FinishHeal(ctx, store.FinishHeal{ID: "d4/1", Owner: "w1", Status: store.HealExecuted, At: at(time.Hour)})
	require.NoError(t, err, "a lapsed lease no one took over still lets its worker finish")
	require.Equal(t, store.HealExecuted, got.Status)

	// The outcome and its audit entry commit together; a worker that is
	// fenced off writes neither. Cancelled is an outcome too.
	hp.commit(ctx, t, at(2*time.Hour), store.Pass{Heals: []store.HealAttempt{healAt("d5", 1, at(2*time.Hour))}})
	_, err = h.ClaimHeals(ctx, store.Claim{Owner: "w1", Now: at(2 * time.Hour), Lease: time.Minute, Limit: 10})
	require.NoError(t, err)
	entry := func() []store.AuditEntry {
		return []store.AuditEntry{{Timestamp: at(2 * time.Hour), Action: "heal_cancelled", ClientID: "acme", StackID: "shop",
			TriggeredBy: "policy", DriftID: "d5", ChangesMade: []byte(`{"heal_id":"d5/1"}`)}}
	}
	_, err = h.FinishHeal(ctx, store.FinishHeal{ID: "d5/1", Owner: "w2", Status: store.HealCancelled, At: at(2 * time.Hour), Audit: entry()})
	require.ErrorIs(t, err, store.ErrConflict)
	cancelled, _, err := s.ListAudit(ctx, store.AuditQuery{ClientID: "acme", Action: "heal_cancelled"})
	require.NoError(t, err)
	require.Empty(t, cancelled, "a fenced-off finish appends no audit entry")
	audit := entry()
	got, err = h.FinishHeal(ctx, store.FinishHeal{ID: "d5/1", Owner: "w1", Status: store.HealCancelled, At: at(2 * time.Hour), Audit: audit})
	require.NoError(t, err)
	require.Equal(t, store.HealCancelled, got.Status)
	require.NotZero(t, audit[0].Seq, "the entry is numbered once committed")
	cancelled, _, err = s.ListAudit(ctx, store.AuditQuery{ClientID: "acme", Action: "heal_cancelled"})
	require.NoError(t, err)
	require.Len(t, cancelled, 1)
	require.Equal(t, audit[0].Seq, cancelled[0].Seq)
	require.Equal(t, audit[0].Hash, cancelled[0].Hash)
}

func testHealPassConflict(ctx context.Context, t *testing.T, s store.Store, h store.Heals) {
	hp := newHealPasses(ctx, t, s, "acme", "shop")
	stale := hp.state
	d := mkDrift("acme", "shop", "a", at(0))
	hp.commit(ctx, t, at(0), store.Pass{Drifts: []drift.Drift{d}, Heals: []store.HealAttempt{healAt(d.ID, 1, at(0))}})
	hp.commit(ctx, t, at(time.Minute), store.Pass{}) // d resolved

	_, err := s.CommitPass(ctx, store.Pass{
		State:       stale,
		Drifts:      []drift.Drift{d},
		Result:      result("stale", "acme", "shop", at(2*time.Minute)),
		Heals:       []store.HealAttempt{healAt(d.ID, 2, at(2*time.Minute))},
		HealUpdates: []store.HealUpdate{{ID: d.ID + "/1", From: []store.HealStatus{store.HealPending}, Status: store.HealCancelled, At: at(2 * time.Minute)}},
		Approvals:   []store.Approval{approvalAt("ap1", d.ID, at(2*time.Minute), at(time.Hour))},
	})
	require.ErrorIs(t, err, store.ErrConflict)
	heals := allHeals(ctx, t, h, store.HealQuery{})
	require.Len(t, heals, 1)
	require.Equal(t, store.HealPending, heals[0].Status)
	require.Empty(t, allApprovals(ctx, t, h, store.ApprovalQuery{}))
	returns, err := h.DriftReturns(ctx, "acme", "shop", at(-time.Hour))
	require.NoError(t, err)
	require.Empty(t, returns, "a stale pass records no return")
}

func testDriftReturns(ctx context.Context, t *testing.T, s store.Store, h store.Heals) {
	hp := newHealPasses(ctx, t, s, "acme", "shop")
	blog := newHealPasses(ctx, t, s, "acme", "blog")
	d1 := mkDrift("acme", "shop", "site.build", at(0))
	d2 := mkDrift("acme", "shop", "site.tls", at(0))
	b1 := mkDrift("acme", "blog", "site.build", at(0))

	returns := func(client, stack string, since time.Time) map[string]int {
		t.Helper()
		got, err := h.DriftReturns(ctx, client, stack, since)
		require.NoError(t, err)
		require.NotNil(t, got)
		return got
	}

	// New drifts, and drifts that stay open, are no returns.
	hp.commit(ctx, t, at(0), store.Pass{Drifts: []drift.Drift{d1, d2}})
	hp.commit(ctx, t, at(time.Minute), store.Pass{Drifts: []drift.Drift{d1, d2}})
	require.Empty(t, returns("acme", "shop", at(-time.Hour)))

	// d1 clears and comes back twice; d2 once; each return at the
	// reopening pass's CompletedAt.
	for i := range 2 {
		base := at(time.Duration(10*(i+1)) * time.Minute)
		hp.commit(ctx, t, base, store.Pass{})
		ds := []drift.Drift{d1}
		if i == 1 {
			ds = append(ds, d2)
		}
		hp.commit(ctx, t, base.Add(time.Minute), store.Pass{Drifts: ds})
	}
	require.Equal(t, map[string]int{d1.ID: 2, d2.ID: 1}, returns("acme", "shop", at(-time.Hour)))
	// The first return was recorded at 11m + 1.5s (CompletedAt), the second at 21m + 1.5s.
	first := at(11*time.Minute + 1500*time.Millisecond)
	require.Equal(t, map[string]int{d1.ID: 2, d2.ID: 1}, returns("acme", "shop", first))
	require.Equal(t, map[string]int{d1.ID: 1, d2.ID: 1}, returns("acme", "shop", first.Add(time.Microsecond)))
	require.Empty(t, returns("acme", "shop", at(time.Hour)))
	require.Equal(t, []drift.Drift{stored(d1), stored(d2)}, sortDrifts(listDrifts(ctx, t, s, store.DriftQuery{ClientID: "acme", StackID: "shop"})),
		"returned drifts are open")

	// Other stacks count apart.
	require.Empty(t, returns("acme", "blog", at(-time.Hour)))
	blog.commit(ctx, t, at(0), store.Pass{Drifts: []drift.Drift{b1}})
	blog.commit(ctx, t, at(time.Minute), store.Pass{})
	blog.commit(ctx, t, at(2*time.Minute), store.Pass{Drifts: []drift.Drift{b1}})
	require.Equal(t, map[string]int{b1.ID: 1}, returns("acme", "blog", at(-time.Hour)))
	require.Equal(t, map[string]int{d1.ID: 2, d2.ID: 1}, returns("acme", "shop", at(-time.Hour)))
	require.Empty(t, returns("globex", "shop", at(-time.Hour)))
}

func testListHeals(ctx context.Context, t *testing.T, s store.Store, h store.Heals) {
	shop := newHealPasses(ctx, t, s, "acme", "shop")
	blog := newHealPasses(ctx, t, s, "acme", "blog")
	other := newHealPasses(ctx, t, s, "globex", "shop")
	var all []store.HealAttempt
	add := func(hp *healPasses, driftID string, attempt int, created time.Time, status store.HealStatus) {
		a := healAt(driftID, attempt, created)
		a.ClientID, a.StackID, a.Status = hp.state.ClientID, hp.state.StackID, status
		hp.commit(ctx, t, created, store.Pass{Heals: []store.HealAttempt{a}})
		all = append(all, a)
	}
	// Same CreatedAt for several: ID breaks the tie.
	add(shop, "d1", 1, at(0), store.HealFailed)
	add(blog, "b1", 1, at(0), store.HealPending)
	add(shop, "d1", 2, at(time.Minute), store.HealPending)
	add(other, "g1", 1, at(time.Minute), store.HealDryRun)
	add(shop, "d2", 1, at(time.Minute), store.HealSucceeded)
	add(blog, "b1", 2, at(2*time.Minute), store.HealPending)
	sort.SliceStable(all, func(i, j int) bool {
		if !all[i].CreatedAt.Equal(all[j].CreatedAt) {
			return all[i].CreatedAt.Before(all[j].CreatedAt)
		}
		return all[i].ID < all[j].ID
	})
	want := func(keep func(a store.HealAttempt) bool) []store.HealAttempt {
		var out []store.HealAttempt
		for _, a := range all {
			if keep(a) {
				out = append(out, storedHeal(a))
			}
		}
		return out
	}
	for _, limit := range []int{0, 1, 2, 5, 6, 7} {
		require.Equal(t, want(func(store.HealAttempt) bool { return true }), allHeals(ctx, t, h, store.HealQuery{Limit: limit}), "limit %d", limit)
		require.Equal(t, want(func(a store.HealAttempt) bool { return a.ClientID == "acme" }),
			allHeals(ctx, t, h, store.HealQuery{ClientID: "acme", Limit: limit}))
		require.Equal(t, want(func(a store.HealAttempt) bool { return a.ClientID == "acme" && a.StackID == "shop" }),
			allHeals(ctx, t, h, store.HealQuery{ClientID: "acme", StackID: "shop", Limit: limit}))
		require.Equal(t, want(func(a store.HealAttempt) bool { return a.DriftID == "b1" }),
			allHeals(ctx, t, h, store.HealQuery{DriftID: "b1", Limit: limit}))
		require.Equal(t, want(func(a store.HealAttempt) bool {
			return a.Status == store.HealPending || a.Status == store.HealFailed
		}), allHeals(ctx, t, h, store.HealQuery{Status: []store.HealStatus{store.HealPending, store.HealFailed}, Limit: limit}))
		require.Equal(t, want(func(a store.HealAttempt) bool {
			return !store.Truncate(a.CreatedAt).Before(store.Truncate(at(time.Minute)))
		}),
			allHeals(ctx, t, h, store.HealQuery{Since: at(time.Minute), Limit: limit}))
	}
	require.Equal(t, want(func(a store.HealAttempt) bool { return a.ID == "d1/2" }),
		allHeals(ctx, t, h, store.HealQuery{ClientID: "acme", StackID: "shop", Status: []store.HealStatus{store.HealPending}, Since: at(time.Second)}))
	require.Empty(t, allHeals(ctx, t, h, store.HealQuery{ClientID: "initech"}))
	_, _, err := h.ListHeals(ctx, store.HealQuery{Cursor: "!"})
	require.ErrorIs(t, err, store.ErrInvalidCursor)
}

func testListApprovals(ctx context.Context, t *testing.T, s store.Store, h store.Heals) {
	shop := newHealPasses(ctx, t, s, "acme", "shop")
	other := newHealPasses(ctx, t, s, "globex", "shop")
	var all []store.Approval
	add := func(hp *healPasses, id, driftID string, created time.Time) {
		a := approvalAt(id, driftID, created, created.Add(time.Hour))
		a.ClientID, a.StackID = hp.state.ClientID, hp.state.StackID
		hp.commit(ctx, t, created, store.Pass{Approvals: []store.Approval{a}})
		all = append(all, a)
	}
	add(shop, "a1", "d1", at(0))
	add(shop, "a2", "d2", at(time.Minute))
	add(other, "a3", "g1", at(time.Minute))
	add(shop, "a4", "d3", at(2*time.Minute))
	add(other, "a5", "g2", at(3*time.Minute))
	decided, err := h.DecideApproval(ctx, store.ApprovalDecision{ID: "a2", Approve: false, By: "api:bob", Reason: "no", At: at(4 * time.Minute)})
	require.NoError(t, err)
	all[1] = decided
	sort.SliceStable(all, func(i, j int) bool {
		if !all[i].CreatedAt.Equal(all[j].CreatedAt) {
			return all[i].CreatedAt.After(all[j].CreatedAt)
		}
		return all[i].ID > all[j].ID
	})
	want := func(keep func(a store.Approval) bool) []store.Approval {
		var out []store.Approval
		for _, a := range all {
			if keep(a) {
				out = append(out, storedApproval(a))
			}
		}
		return out
	}
	require.Equal(t, "a5", all[0].ID, "newest first")
	for _, limit := range []int{0, 1, 2, 4, 5, 6} {
		require.Equal(t, want(func(store.Approval) bool { return true }), allApprovals(ctx, t, h, store.ApprovalQuery{Limit: limit}), "limit %d", limit)
		require.Equal(t, want(func(a store.Approval) bool { return a.ClientID == "acme" }),
			allApprovals(ctx, t, h, store.ApprovalQuery{ClientID: "acme", StackID: "shop", Limit: limit}))
		require.Equal(t, want(func(a store.Approval) bool { return a.Status == store.ApprovalPending }),
			allApprovals(ctx, t, h, store.ApprovalQuery{Status: []store.ApprovalStatus{store.ApprovalPending}, Limit: limit}))
		require.Equal(t, want(func(a store.Approval) bool { return a.DriftID == "g2" }),
			allApprovals(ctx, t, h, store.ApprovalQuery{DriftID: "g2", Limit: limit}))
	}
	require.Equal(t, want(func(a store.Approval) bool { return a.ID == "a2" }),
		allApprovals(ctx, t, h, store.ApprovalQuery{ClientID: "acme", Status: []store.ApprovalStatus{store.ApprovalRejected, store.ApprovalExpired}}))
	require.Empty(t, allApprovals(ctx, t, h, store.ApprovalQuery{ClientID: "initech"}))
	_, _, err = h.ListApprovals(ctx, store.ApprovalQuery{Cursor: "!"})
	require.ErrorIs(t, err, store.ErrInvalidCursor)
}

func testDecideApproval(ctx context.Context, t *testing.T, s store.Store, h store.Heals) {
	hp := newHealPasses(ctx, t, s, "acme", "shop")
	require.NoError(t, s.AppendAudit(ctx, []store.AuditEntry{{Timestamp: at(0), Action: "apply", ClientID: "acme"}}))
	hp.commit(ctx, t, at(0), store.Pass{Approvals: []store.Approval{
		approvalAt("ok", "d1", at(0), at(time.Hour)),
		approvalAt("no", "d2", at(0), at(time.Hour)),
		approvalAt("late", "d3", at(0), at(time.Minute)),
		approvalAt("edge", "d4", at(0), at(time.Minute)),
	}})

	got, err := h.DecideApproval(ctx, store.ApprovalDecision{ID: "ok", Approve: true, By: "api:bob", Reason: "planned migration", At: at(30 * time.Second)})
	require.NoError(t, err)
	want := storedApproval(approvalAt("ok", "d1", at(0), at(time.Hour)))
	want.Status, want.DecidedAt, want.DecidedBy, want.Reason = store.ApprovalApproved, ptr(store.Truncate(at(30*time.Second))), "api:bob", "planned migration"
	require.Equal(t, want, got)
	require.Equal(t, want, getApproval(ctx, t, h, "ok"))

	got, err = h.DecideApproval(ctx, store.ApprovalDecision{ID: "no", Approve: false, By: "api:carol", Reason: "not now", At: at(40 * time.Second)})
	require.NoError(t, err)
	require.Equal(t, store.ApprovalRejected, got.Status)
	require.Equal(t, "api:carol", got.DecidedBy)
	require.Equal(t, got, getApproval(ctx, t, h, "no"))

	// Decided once: a second decision, either way, is a conflict.
	for _, approve := range []bool{true, false} {
		_, err = h.DecideApproval(ctx, store.ApprovalDecision{ID: "ok", Approve: approve, By: "api:mallory", Reason: "", At: at(time.Minute)})
		require.ErrorIs(t, err, store.ErrConflict)
		_, err = h.DecideApproval(ctx, store.ApprovalDecision{ID: "no", Approve: approve, By: "api:mallory", Reason: "", At: at(time.Minute)})
		require.ErrorIs(t, err, store.ErrConflict)
	}
	require.Equal(t, want, getApproval(ctx, t, h, "ok"))

	// Expired: after ExpiresAt, and at ExpiresAt exactly.
	_, err = h.DecideApproval(ctx, store.ApprovalDecision{ID: "late", Approve: true, By: "api:bob", Reason: "", At: at(2 * time.Minute)})
	require.ErrorIs(t, err, store.ErrExpired)
	require.Equal(t, store.ApprovalExpired, getApproval(ctx, t, h, "late").Status, "the expiry is recorded")
	_, err = h.DecideApproval(ctx, store.ApprovalDecision{ID: "edge", Approve: false, By: "api:bob", Reason: "", At: at(time.Minute)})
	require.ErrorIs(t, err, store.ErrExpired)
	_, err = h.DecideApproval(ctx, store.ApprovalDecision{ID: "late", Approve: true, By: "api:bob", Reason: "", At: at(2 * time.Minute)})
	require.ErrorIs(t, err, store.ErrConflict, "an expired approval is no longer pending")
	_, err = h.DecideApproval(ctx, store.ApprovalDecision{ID: "nope", Approve: true, By: "api:bob", Reason: "", At: at(time.Minute)})
	require.ErrorIs(t, err, store.ErrNotFound)

	// One audit entry per decision, chained with the rest of the log.
	audit := allAudit(ctx, t, s, store.AuditQuery{})
	requireChain(t, audit)
	require.Len(t, audit, 3)
	granted, rejected := audit[1], audit[2]
	require.Equal(t, "approval_granted", granted.Action)
	require.Equal(t, "acme", granted.ClientID)
	require.Equal(t, "shop", granted.StackID)
	require.Equal(t, "d1", granted.DriftID)
	require.Equal(t, "api:bob", granted.TriggeredBy)
	require.Equal(t, "api:bob", granted.Approver)
	require.True(t, granted.ApprovalRequired)
	require.True(t, granted.Success)
	require.Equal(t, store.Truncate(at(30*time.Second)), granted.Timestamp)
	var changes map[string]any
	require.NoError(t, json.Unmarshal(granted.ChangesMade, &changes))
	require.Equal(t, "ok", changes["approval_id"])
	require.Equal(t, "planned migration", changes["reason"])
	require.Equal(t, "approval_rejected", rejected.Action)
	require.Equal(t, "d2", rejected.DriftID)
	require.Equal(t, "api:carol", rejected.Approver)
	require.NoError(t, json.Unmarshal(rejected.ChangesMade, &changes))
	require.Equal(t, "no", changes["approval_id"])
	require.Equal(t, "not now", changes["reason"])
}

func testExpireApprovals(ctx context.Context, t *testing.T, s store.Store, h store.Heals) {
	hp := newHealPasses(ctx, t, s, "acme", "shop")
	hp.commit(ctx, t, at(0), store.Pass{Approvals: []store.Approval{
		approvalAt("e1", "d1", at(0), at(time.Minute)),
		approvalAt("e2", "d2", at(0), at(2*time.Minute)),
		approvalAt("e3", "d3", at(0), at(3*time.Minute)),
		approvalAt("later", "d4", at(0), at(time.Hour)),
		approvalAt("approved", "d5", at(0), at(time.Minute)),
	}})
	_, err := h.DecideApproval(ctx, store.ApprovalDecision{ID: "approved", Approve: true, By: "api:bob", Reason: "", At: at(30 * time.Second)})
	require.NoError(t, err)

	n, err := h.ExpireApprovals(ctx, at(3*time.Minute), 2)
	require.NoError(t, err)
	require.Equal(t, 2, n, "bounded by limit")
	n, err = h.ExpireApprovals(ctx, at(3*time.Minute), 0)
	require.NoError(t, err)
	require.Equal(t, 1, n, "ExpiresAt equal to now has expired")
	n, err = h.ExpireApprovals(ctx, at(3*time.Minute), 0)
	require.NoError(t, err)
	require.Zero(t, n)
	for id, status := range map[string]store.ApprovalStatus{
		"e1": store.ApprovalExpired, "e2": store.ApprovalExpired, "e3": store.ApprovalExpired,
		"later": store.ApprovalPending, "approved": store.ApprovalApproved,
	} {
		require.Equal(t, status, getApproval(ctx, t, h, id).Status, id)
	}
	_, err = h.DecideApproval(ctx, store.ApprovalDecision{ID: "e1", Approve: true, By: "api:bob", Reason: "", At: at(30 * time.Second)})
	require.ErrorIs(t, err, store.ErrConflict, "an expired approval cannot be decided")

	// An expired request frees the drift for a new one.
	hp.commit(ctx, t, at(4*time.Minute), store.Pass{Approvals: []store.Approval{approvalAt("e1b", "d1", at(4*time.Minute), at(time.Hour))}})
	require.Equal(t, store.ApprovalPending, getApproval(ctx, t, h, "e1b").Status)
}

// testRetireApprovals: a pass retires requests that no longer apply
// (pending or approved ones of its own stack), in time for a new request
// of the same drift in the same pass.
func testRetireApprovals(ctx context.Context, t *testing.T, s store.Store, h store.Heals) {
	hp := newHealPasses(ctx, t, s, "acme", "shop")
	other := newHealPasses(ctx, t, s, "acme", "blog")
	hp.commit(ctx, t, at(0), store.Pass{Approvals: []store.Approval{
		approvalAt("p1", "d1", at(0), at(time.Hour)),
		approvalAt("a2", "d2", at(0), at(time.Hour)),
		approvalAt("r3", "d3", at(0), at(time.Hour)),
	}})
	theirs := approvalAt("o1", "d1", at(0), at(time.Hour))
	theirs.StackID = "blog"
	other.commit(ctx, t, at(0), store.Pass{Approvals: []store.Approval{theirs}})
	_, err := h.DecideApproval(ctx, store.ApprovalDecision{ID: "a2", Approve: true, By: "api:bob", Reason: "", At: at(time.Second)})
	require.NoError(t, err)
	_, err = h.DecideApproval(ctx, store.ApprovalDecision{ID: "r3", Approve: false, By: "api:bob", Reason: "no", At: at(time.Second)})
	require.NoError(t, err)

	hp.commit(ctx, t, at(time.Minute), store.Pass{
		RetiredApprovals: []string{"p1", "a2", "r3", "o1", "missing"},
		Approvals:        []store.Approval{approvalAt("p1b", "d1", at(time.Minute), at(time.Hour))},
	})
	for id, status := range map[string]store.ApprovalStatus{
		"p1": store.ApprovalExpired, "a2": store.ApprovalExpired,
		"r3":  store.ApprovalRejected, // decided: stays as it was
		"o1":  store.ApprovalPending,  // another stack's: untouched
		"p1b": store.ApprovalPending,  // the new request of d1, written after the retirement
	} {
		require.Equal(t, status, getApproval(ctx, t, h, id).Status, id)
	}
}

func testDriftHealStatus(ctx context.Context, t *testing.T, s store.Store, _ store.Heals) {
	hp := newHealPasses(ctx, t, s, "acme", "shop")
	d := mkDrift("acme", "shop", "site.build", at(0))
	d.HealStatus = "heal_exhausted"
	hp.commit(ctx, t, at(0), store.Pass{Drifts: []drift.Drift{d}})
	require.Equal(t, []drift.Drift{stored(d)}, listDrifts(ctx, t, s, store.DriftQuery{ClientID: "acme"}))

	acked, err := s.AcknowledgeDrift(ctx, store.Acknowledge{ClientID: "acme", DriftID: d.ID, By: "alice", At: at(time.Second)})
	require.NoError(t, err)
	require.Equal(t, "heal_exhausted", acked.HealStatus)

	d.HealStatus = ""
	hp.commit(ctx, t, at(time.Minute), store.Pass{Drifts: []drift.Drift{d}})
	got := listDrifts(ctx, t, s, store.DriftQuery{ClientID: "acme"})
	require.Len(t, got, 1)
	require.Empty(t, got[0].HealStatus, "a pass sets heal_status")
	require.True(t, got[0].Acknowledged)
}
