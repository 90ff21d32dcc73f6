package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
	"github.com/blackwellio/blackwell/internal/store"
)

func testCommitPass(ctx context.Context, t *testing.T, s store.Store) {
	state := newStack(ctx, t, s, "acme", "shop")
	other := newStack(ctx, t, s, "acme", "blog")
	blogDrift := mkDrift("acme", "blog", "netlify.build_hook", at(0))
	commit(ctx, t, s, &other, store.Pass{Drifts: []drift.Drift{blogDrift}, Result: result("rb", "acme", "blog", at(0))})

	d1 := mkDrift("acme", "shop", "shopify.webhook.products/update", at(time.Second))
	d2 := mkDrift("acme", "shop", "site.tls", at(time.Second))
	d2.Code, d2.Type, d2.Severity = drift.ResourceUnhealthy, drift.TypeResource, drift.SeverityCritical
	d2.Observed = map[string]any{"days_left": float64(3)}
	d2.Cause = "shopify.webhook.products/update"
	r1 := result("r1", "acme", "shop", at(time.Second))
	r1.Status, r1.DriftDetected, r1.DriftCount = store.ResultPartial, true, 2
	r1.AutoHealAttempted, r1.AutoHealSuccessCount = true, 1
	r1.Errors = []string{"rebuild: 502"}

	next := state
	next.Status = store.StatusDriftDetected
	next.LastVerified = ptr(r1.CompletedAt)
	next.DriftDetails = []drift.Drift{d1, d2}
	p1 := store.Pass{
		State:  next,
		Drifts: []drift.Drift{d1, d2},
		Result: r1,
		Audit: []store.AuditEntry{
			{Timestamp: at(time.Second), Action: "drift_detected", ClientID: "acme", StackID: "shop", TriggeredBy: "reconciler",
				Success: true, ReconciliationID: "r1", DriftID: d1.ID},
			{Timestamp: at(2 * time.Second), Action: "auto_heal", ClientID: "acme", StackID: "shop", TriggeredBy: "reconciler",
				Success: false, ChangesMade: json.RawMessage(`{"rebuild": "requested"}`), ReconciliationID: "r1", DriftID: d2.ID},
		},
	}
	got, err := s.CommitPass(ctx, p1)
	require.NoError(t, err)
	require.Equal(t, state.Revision+1, got.Revision)
	require.Equal(t, store.StatusDriftDetected, got.Status)
	require.Equal(t, ptr(store.Truncate(r1.CompletedAt)), got.LastVerified)
	require.Equal(t, []drift.Drift{stored(d1), stored(d2)}, got.DriftDetails)
	require.Equal(t, getState(ctx, t, s, "acme", "shop"), got, "CommitPass returns the state as stored")
	state = got

	require.Equal(t, sortDrifts([]drift.Drift{stored(d1), stored(d2)}),
		listDrifts(ctx, t, s, store.DriftQuery{ClientID: "acme", StackID: "shop"}))
	require.Equal(t, []store.ReconciliationResult{storedResult(r1)}, allReconciliations(ctx, t, s, "acme", "shop", 0))
	audit := allAudit(ctx, t, s, store.AuditQuery{ClientID: "acme", Action: "auto_heal"})
	require.Len(t, audit, 1)
	require.Equal(t, `{"rebuild": "requested"}`, string(audit[0].ChangesMade))
	require.Equal(t, d2.ID, audit[0].DriftID)
	require.Equal(t, audit[0].Hash, p1.Audit[1].Hash, "CommitPass fills the entries' chain fields")

	// Pass 2: d2 is still there, d1 is gone: it is resolved at the pass's
	// CompletedAt. The other stack's drift is left alone.
	d2b := d2
	d2b.LastSeen, d2b.Observations, d2b.Confirmed = at(time.Minute), 2, true
	r2 := result("r2", "acme", "shop", at(time.Minute))
	commit(ctx, t, s, &state, store.Pass{Drifts: []drift.Drift{d2b}, Result: r2})

	require.Equal(t, []drift.Drift{stored(d2b)}, listDrifts(ctx, t, s, store.DriftQuery{ClientID: "acme", StackID: "shop"}))
	resolved := stored(d1)
	resolved.ResolvedAt = ptr(store.Truncate(r2.CompletedAt))
	require.Equal(t, sortDrifts([]drift.Drift{resolved, stored(d2b)}),
		listDrifts(ctx, t, s, store.DriftQuery{ClientID: "acme", StackID: "shop", IncludeResolved: true}))
	require.Equal(t, []drift.Drift{stored(blogDrift)}, listDrifts(ctx, t, s, store.DriftQuery{ClientID: "acme", StackID: "blog"}))

	// Pass 3: d1 comes back under its stable id and is open again.
	d1c := d1
	d1c.FirstSeen, d1c.LastSeen, d1c.DetectedAt = at(2*time.Minute), at(2*time.Minute), at(2*time.Minute)
	commit(ctx, t, s, &state, store.Pass{Drifts: []drift.Drift{d1c, d2b}, Result: result("r3", "acme", "shop", at(2*time.Minute))})
	require.Equal(t, sortDrifts([]drift.Drift{stored(d1c), stored(d2b)}),
		listDrifts(ctx, t, s, store.DriftQuery{ClientID: "acme", StackID: "shop"}))

	// Pass 4: nothing open.
	commit(ctx, t, s, &state, store.Pass{Result: result("r4", "acme", "shop", at(3*time.Minute))})
	require.Empty(t, listDrifts(ctx, t, s, store.DriftQuery{ClientID: "acme", StackID: "shop"}))
	require.Len(t, listDrifts(ctx, t, s, store.DriftQuery{ClientID: "acme", StackID: "shop", IncludeResolved: true}), 2)
	require.Len(t, allReconciliations(ctx, t, s, "acme", "shop", 0), 4)
	require.Equal(t, state, getState(ctx, t, s, "acme", "shop"))
}

// snapshot is everything a pass may write, to check that a failed pass wrote
// nothing.
type snapshot struct {
	states  []store.StateRecord
	drifts  []drift.Drift
	results []store.ReconciliationResult
	audit   []store.AuditEntry
	events  []store.Event
}

func takeSnapshot(ctx context.Context, t *testing.T, s store.Store) snapshot {
	t.Helper()
	states, err := store.AllStates(ctx, s, "")
	require.NoError(t, err)
	return snapshot{
		states:  states,
		drifts:  listDrifts(ctx, t, s, store.DriftQuery{ClientID: "acme", IncludeResolved: true}),
		results: allReconciliations(ctx, t, s, "acme", "", 0),
		audit:   allAudit(ctx, t, s, store.AuditQuery{}),
		events:  allEvents(ctx, t, s, store.EventQuery{}),
	}
}

func testCommitPassConflict(ctx context.Context, t *testing.T, s store.Store) {
	state := newStack(ctx, t, s, "acme", "shop")
	stale := state
	d1 := mkDrift("acme", "shop", "a", at(0))
	insert(ctx, t, s, event("e1", "acme", "shop", "shopify", "t", at(0)))
	rep1, err := s.EventActivity(ctx, "acme", "shop", at(0))
	require.NoError(t, err)
	insert(ctx, t, s, event("e2", "acme", "shop", "shopify", "t", at(0)))
	rep2, err := s.EventActivity(ctx, "acme", "shop", at(0))
	require.NoError(t, err)
	commit(ctx, t, s, &state, store.Pass{
		Drifts:         []drift.Drift{d1},
		Result:         result("r1", "acme", "shop", at(0)),
		Audit:          []store.AuditEntry{{Timestamp: at(0), Action: "drift_detected", ClientID: "acme", StackID: "shop"}},
		CheckedThrough: rep1.Mark,
	})
	before := takeSnapshot(ctx, t, s)
	require.Len(t, before.audit, 1)

	// A pass computed from the stale state: resolving d1, adding d2, a
	// result, audit and a checked event. None of it may be written.
	stale.Status = store.StatusError
	_, err = s.CommitPass(ctx, store.Pass{
		State:          stale,
		Drifts:         []drift.Drift{mkDrift("acme", "shop", "b", at(time.Minute))},
		Result:         result("r-stale", "acme", "shop", at(time.Minute)),
		Audit:          []store.AuditEntry{{Timestamp: at(time.Minute), Action: "auto_heal", ClientID: "acme", StackID: "shop"}},
		CheckedThrough: rep2.Mark,
	})
	require.ErrorIs(t, err, store.ErrConflict)
	require.Equal(t, before, takeSnapshot(ctx, t, s), "a conflicting pass writes nothing")

	// The chain continues from the last committed entry.
	commit(ctx, t, s, &state, store.Pass{
		Result: result("r2", "acme", "shop", at(2*time.Minute)),
		Audit:  []store.AuditEntry{{Timestamp: at(2 * time.Minute), Action: "reconciled", ClientID: "acme", StackID: "shop"}},
	})
	audit := allAudit(ctx, t, s, store.AuditQuery{})
	require.Len(t, audit, 2)
	require.Equal(t, audit[0].Hash, audit[1].PrevHash)
}

func testCommitPassNotFound(ctx context.Context, t *testing.T, s store.Store) {
	newStack(ctx, t, s, "acme", "shop")
	before := takeSnapshot(ctx, t, s)
	_, err := s.CommitPass(ctx, store.Pass{
		State:  store.StateRecord{ClientID: "acme", StackID: "ghost", Revision: 1},
		Drifts: []drift.Drift{mkDrift("acme", "ghost", "a", at(0))},
		Result: result("r1", "acme", "ghost", at(0)),
		Audit:  []store.AuditEntry{{Timestamp: at(0), Action: "drift_detected", ClientID: "acme", StackID: "ghost"}},
	})
	require.ErrorIs(t, err, store.ErrNotFound)
	require.Equal(t, before, takeSnapshot(ctx, t, s))
	require.Empty(t, listDrifts(ctx, t, s, store.DriftQuery{ClientID: "acme", StackID: "ghost", IncludeResolved: true}))
}

func testAcknowledgeDrift(ctx context.Context, t *testing.T, s store.Store) {
	state := newStack(ctx, t, s, "acme", "shop")
	d1 := mkDrift("acme", "shop", "a", at(0))
	d2 := mkDrift("acme", "shop", "b", at(0))
	commit(ctx, t, s, &state, store.Pass{Drifts: []drift.Drift{d1, d2}, Result: result("r1", "acme", "shop", at(0))})

	got, err := s.AcknowledgeDrift(ctx, store.Acknowledge{ClientID: "acme", DriftID: d1.ID, By: "alice", At: at(time.Minute)})
	require.NoError(t, err)
	want := stored(d1)
	want.Acknowledged, want.AcknowledgedBy = true, "alice"
	require.Equal(t, want, got)
	require.Equal(t, sortDrifts([]drift.Drift{want, stored(d2)}), listDrifts(ctx, t, s, store.DriftQuery{ClientID: "acme"}))

	_, err = s.AcknowledgeDrift(ctx, store.Acknowledge{ClientID: "globex", DriftID: d2.ID, By: "mallory", At: at(time.Minute)})
	require.ErrorIs(t, err, store.ErrNotFound, "another client's drift")
	_, err = s.AcknowledgeDrift(ctx, store.Acknowledge{ClientID: "acme", DriftID: "no-such-drift", By: "alice", At: at(time.Minute)})
	require.ErrorIs(t, err, store.ErrNotFound)

	// A pass that read d1 before it was acknowledged does not undo the
	// acknowledgement.
	d1b := d1
	d1b.Observations = 2
	commit(ctx, t, s, &state, store.Pass{Drifts: []drift.Drift{d1b, d2}, Result: result("r2", "acme", "shop", at(2*time.Minute))})
	open := listDrifts(ctx, t, s, store.DriftQuery{ClientID: "acme", StackID: "shop"})
	require.Len(t, open, 2)
	for _, d := range open {
		if d.ID == d1.ID {
			require.True(t, d.Acknowledged)
			require.Equal(t, "alice", d.AcknowledgedBy)
			require.Equal(t, 2, d.Observations)
		} else {
			require.False(t, d.Acknowledged)
		}
	}

	// Once resolved, a drift cannot be acknowledged.
	commit(ctx, t, s, &state, store.Pass{Drifts: []drift.Drift{d1b}, Result: result("r3", "acme", "shop", at(3*time.Minute))})
	_, err = s.AcknowledgeDrift(ctx, store.Acknowledge{ClientID: "acme", DriftID: d2.ID, By: "alice", At: at(4 * time.Minute)})
	require.ErrorIs(t, err, store.ErrNotFound, "a resolved drift")
}

func testListDrifts(ctx context.Context, t *testing.T, s store.Store) {
	var want []drift.Drift
	for _, stack := range []string{"zeta", "alpha", "mid"} {
		state := newStack(ctx, t, s, "acme", stack)
		ds := []drift.Drift{mkDrift("acme", stack, "x", at(0)), mkDrift("acme", stack, "y", at(0)), mkDrift("acme", stack, "z", at(0))}
		commit(ctx, t, s, &state, store.Pass{Drifts: ds, Result: result("r-"+stack, "acme", stack, at(0))})
		for _, d := range ds {
			want = append(want, stored(d))
		}
	}
	other := newStack(ctx, t, s, "globex", "alpha")
	commit(ctx, t, s, &other, store.Pass{Drifts: []drift.Drift{mkDrift("globex", "alpha", "x", at(0))}, Result: result("r-g", "globex", "alpha", at(0))})

	require.Equal(t, sortDrifts(want), listDrifts(ctx, t, s, store.DriftQuery{ClientID: "acme"}), "ordered by stack then id")
	require.Len(t, listDrifts(ctx, t, s, store.DriftQuery{ClientID: "acme", StackID: "mid"}), 3)
	require.Len(t, listDrifts(ctx, t, s, store.DriftQuery{ClientID: "globex"}), 1)
	require.Empty(t, listDrifts(ctx, t, s, store.DriftQuery{ClientID: "initech"}))
}

func testListReconciliations(ctx context.Context, t *testing.T, s store.Store) {
	states := map[string]*store.StateRecord{}
	for _, k := range []string{"acme/a", "acme/b", "globex/a"} {
		client, stack, _ := strings.Cut(k, "/")
		st := newStack(ctx, t, s, client, stack)
		states[k] = &st
	}
	// 12 passes over three stacks; several share a start time.
	var acme, acmeA []store.ReconciliationResult
	for i := range 12 {
		k := []string{"acme/a", "acme/b", "globex/a"}[i%3]
		client, stack, _ := strings.Cut(k, "/")
		r := result(fmt.Sprintf("r%02d", i), client, stack, at(time.Duration(i/2)*time.Minute))
		commit(ctx, t, s, states[k], store.Pass{Result: r})
		if client == "acme" {
			acme = append(acme, storedResult(r))
			if stack == "a" {
				acmeA = append(acmeA, storedResult(r))
			}
		}
	}
	check := func(want, got []store.ReconciliationResult) {
		t.Helper()
		require.Len(t, got, len(want))
		seen := map[string]bool{}
		for i, r := range got {
			require.False(t, seen[r.ReconciliationID], "%s listed twice", r.ReconciliationID)
			seen[r.ReconciliationID] = true
			if i > 0 {
				require.False(t, r.StartedAt.After(got[i-1].StartedAt), "newest first")
			}
		}
		require.ElementsMatch(t, want, got)
	}
	for _, limit := range []int{0, 1, 2, 3, 8} {
		check(acme, allReconciliations(ctx, t, s, "acme", "", limit))
		check(acmeA, allReconciliations(ctx, t, s, "acme", "a", limit))
	}
	got := allReconciliations(ctx, t, s, "acme", "a", 0)
	require.Equal(t, "r09", got[0].ReconciliationID)
	require.Equal(t, "r00", got[len(got)-1].ReconciliationID)
	require.Empty(t, allReconciliations(ctx, t, s, "initech", "", 0))

	_, _, err := s.ListReconciliations(ctx, "acme", "", "%%%", 2)
	require.ErrorIs(t, err, store.ErrInvalidCursor)
}

// testDeleteReconciliations: retention deletes old results in bounded
// batches, oldest first, and leaves newer ones and the stack alone.
func testDeleteReconciliations(ctx context.Context, t *testing.T, s store.Store) {
	st := newStack(ctx, t, s, "acme", "web")
	for i := range 5 {
		commit(ctx, t, s, &st, store.Pass{Result: result(fmt.Sprintf("r%d", i), "acme", "web", at(time.Duration(i)*time.Hour))})
	}
	n, err := s.DeleteReconciliations(ctx, store.HistoryPrune{Before: at(3 * time.Hour)}, 2)
	require.NoError(t, err)
	require.Equal(t, 2, n, "bounded by limit")
	n, err = s.DeleteReconciliations(ctx, store.HistoryPrune{Before: at(3 * time.Hour)}, 2)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	n, err = s.DeleteReconciliations(ctx, store.HistoryPrune{Before: at(3 * time.Hour)}, 2)
	require.NoError(t, err)
	require.Zero(t, n)
	var ids []string
	for _, r := range allReconciliations(ctx, t, s, "acme", "", 0) {
		ids = append(ids, r.ReconciliationID)
	}
	require.Equal(t, []string{"r4", "r3"}, ids)
	_, err = s.GetState(ctx, "acme", "web")
	require.NoError(t, err)
}

// testDeleteReconciliationsScoped: per-client and per-stack retention. A
// prune of every client skips the excepted clients; a client's skips its
// excepted stacks and touches no other client; a stack's touches that stack
// only.
func testDeleteReconciliationsScoped(ctx context.Context, t *testing.T, s store.Store) {
	for _, k := range [][2]string{{"acme", "web"}, {"acme", "shop"}, {"initech", "web"}, {"umbrella", "web"}} {
		st := newStack(ctx, t, s, k[0], k[1])
		for i := range 3 {
			id := fmt.Sprintf("%s-%s-%d", k[0], k[1], i)
			commit(ctx, t, s, &st, store.Pass{Result: result(id, k[0], k[1], at(time.Duration(i)*time.Hour))})
		}
	}
	ids := func(client string) []string {
		var out []string
		for _, r := range allReconciliations(ctx, t, s, client, "", 0) {
			out = append(out, r.ReconciliationID)
		}
		slices.Sort(out)
		return out
	}
	del := func(q store.HistoryPrune, want int) {
		t.Helper()
		n, err := s.DeleteReconciliations(ctx, q, 0)
		require.NoError(t, err)
		require.Equal(t, want, n, "%+v", q)
	}

	// Every client but acme and initech: umbrella's two oldest.
	del(store.HistoryPrune{Before: at(2 * time.Hour), Except: []string{"acme", "initech"}}, 2)
	require.Equal(t, []string{"umbrella-web-2"}, ids("umbrella"))
	require.Len(t, ids("acme"), 6)
	require.Len(t, ids("initech"), 3)

	// One stack: acme/shop's oldest only.
	del(store.HistoryPrune{Before: at(time.Hour), ClientID: "acme", StackID: "shop"}, 1)
	require.Equal(t, []string{"acme-shop-1", "acme-shop-2", "acme-web-0", "acme-web-1", "acme-web-2"}, ids("acme"))

	// One client but its stack shop: acme/web's, no other client's.
	del(store.HistoryPrune{Before: at(3 * time.Hour), ClientID: "acme", Except: []string{"shop"}}, 3)
	require.Equal(t, []string{"acme-shop-1", "acme-shop-2"}, ids("acme"))
	require.Len(t, ids("initech"), 3)

	// One client, nothing excepted.
	del(store.HistoryPrune{Before: at(3 * time.Hour), ClientID: "initech"}, 3)
	require.Empty(t, ids("initech"))
	require.Len(t, ids("acme"), 2)
	require.Len(t, ids("umbrella"), 1)
}

// testCommitPassConcurrent races two passes per stack, computed from the same
// state, over several stacks at once: exactly one pass per stack commits,
// whole; the loser writes nothing (no drift, result or audit entry).
func testCommitPassConcurrent(ctx context.Context, t *testing.T, s store.Store) {
	const stacks = 6
	states := make([]store.StateRecord, stacks)
	for i := range states {
		states[i] = newStack(ctx, t, s, "acme", fmt.Sprintf("s%d", i))
	}
	type attempt struct {
		stack, racer int
		err          error
	}
	attempts := make([]attempt, 0, 2*stacks)
	for i := range stacks {
		attempts = append(attempts, attempt{stack: i, racer: 0}, attempt{stack: i, racer: 1})
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for k := range attempts {
		a := &attempts[k]
		wg.Go(func() {
			st := states[a.stack]
			name := fmt.Sprintf("s%d-racer%d", a.stack, a.racer)
			p := store.Pass{
				State:  st,
				Drifts: []drift.Drift{mkDrift("acme", st.StackID, name, at(0))},
				Result: result("r-"+name, "acme", st.StackID, at(time.Duration(k)*time.Second)),
				Audit:  []store.AuditEntry{{Timestamp: at(0), Action: "reconcile", ClientID: "acme", StackID: st.StackID, ReconciliationID: "r-" + name}},
			}
			<-start
			_, a.err = s.CommitPass(ctx, p)
		})
	}
	close(start)
	wg.Wait()

	winners := map[string]bool{}
	for i := range stacks {
		a, b := attempts[2*i], attempts[2*i+1]
		require.True(t, (a.err == nil) != (b.err == nil), "stack %d: exactly one pass commits (%v, %v)", i, a.err, b.err)
		for _, x := range []attempt{a, b} {
			if x.err == nil {
				winners[fmt.Sprintf("s%d-racer%d", x.stack, x.racer)] = true
			} else {
				require.ErrorIs(t, x.err, store.ErrConflict)
			}
		}
		require.Equal(t, states[i].Revision+1, getState(ctx, t, s, "acme", fmt.Sprintf("s%d", i)).Revision)
	}

	gotResults := map[string]bool{}
	for _, r := range allReconciliations(ctx, t, s, "acme", "", 0) {
		gotResults[r.ReconciliationID[len("r-"):]] = true
	}
	require.Equal(t, winners, gotResults)
	gotDrifts := map[string]bool{}
	for _, d := range listDrifts(ctx, t, s, store.DriftQuery{ClientID: "acme", IncludeResolved: true}) {
		gotDrifts[d.Component] = true
	}
	require.Equal(t, winners, gotDrifts)
	audit := allAudit(ctx, t, s, store.AuditQuery{})
	require.Len(t, audit, stacks)
	requireChain(t, audit)
	for _, e := range audit {
		require.True(t, winners[e.ReconciliationID[len("r-"):]])
	}
}

// testCommitPassFailsWhole: a pass that fails after its state was written
// (here: its result reuses a stored reconciliation id) writes nothing, and
// passes committed alongside it are unaffected.
func testCommitPassFailsWhole(ctx context.Context, t *testing.T, s store.Store) {
	first := newStack(ctx, t, s, "acme", "first")
	commit(ctx, t, s, &first, store.Pass{Result: result("r-taken", "acme", "first", at(0))})

	const stacks = 8
	states := make([]store.StateRecord, stacks)
	for i := range states {
		states[i] = newStack(ctx, t, s, "acme", fmt.Sprintf("s%d", i))
	}
	errs := make([]error, stacks)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range stacks {
		wg.Go(func() {
			st := states[i]
			id := fmt.Sprintf("r-%d", i)
			if i%2 == 1 {
				id = "r-taken" // fails at the result, after state and drifts
			}
			p := store.Pass{
				State:  st,
				Drifts: []drift.Drift{mkDrift("acme", st.StackID, "c", at(0))},
				Result: result(id, "acme", st.StackID, at(time.Second)),
				Audit:  []store.AuditEntry{{Timestamp: at(0), Action: "reconcile", ClientID: "acme", StackID: st.StackID}},
			}
			p.State.Status = store.StatusDriftDetected
			<-start
			_, errs[i] = s.CommitPass(ctx, p)
		})
	}
	close(start)
	wg.Wait()

	for i := range stacks {
		stack := fmt.Sprintf("s%d", i)
		got := getState(ctx, t, s, "acme", stack)
		ds := listDrifts(ctx, t, s, store.DriftQuery{ClientID: "acme", StackID: stack, IncludeResolved: true})
		if i%2 == 1 {
			require.Error(t, errs[i], "stack %d", i)
			require.Equal(t, states[i], got, "stack %d: a failed pass leaves the state", i)
			require.Empty(t, ds, "stack %d: a failed pass writes no drift", i)
		} else {
			require.NoError(t, errs[i], "stack %d", i)
			require.Equal(t, states[i].Revision+1, got.Revision)
			require.Len(t, ds, 1)
		}
	}
	audit := allAudit(ctx, t, s, store.AuditQuery{})
	require.Len(t, audit, stacks/2)
	requireChain(t, audit)
	require.Len(t, allReconciliations(ctx, t, s, "acme", "", 0), 1+stacks/2)
}

// testLoadPass: LoadPass answers what GetState, ListDrifts (open, of the
// stack), EventActivity and ListForecasts (open, of the stack) answer, for concurrent calls too (a driver may
// read them together), and ErrNotFound for a missing stack without
// failing the others.
func testLoadPass(ctx context.Context, t *testing.T, s store.Store) {
	keys := commitLoadPassStacks(ctx, t, s)
	since := at(0)
	wants := map[passKey]store.PassInput{}
	for _, k := range keys {
		wants[k] = wantPassInput(ctx, t, s, k, since)
		got, err := s.LoadPass(ctx, k.client, k.stack, since)
		require.NoError(t, err)
		require.NoError(t, samePassInput(wants[k], got))
	}
	require.Equal(t, []string{"f1", "f2"}, forecastIDs(wants[keys[0]].Forecasts), "open forecasts, oldest first")
	require.Equal(t, []string{"f4"}, forecastIDs(wants[keys[2]].Forecasts))
	require.Len(t, wants[keys[0]].Drifts, 2)
	require.Empty(t, wants[keys[1]].Drifts, "the resolved drift is not loaded")
	require.Equal(t, 2, wants[keys[0]].Activity.Unchecked, "its own event and the client-wide one")
	require.Empty(t, wants[keys[2]].Activity.Activity, "globex's event is older than since")
	require.Equal(t, 1, wants[keys[2]].Activity.Unchecked)

	_, err := s.LoadPass(ctx, "acme", "nope", since)
	require.ErrorIs(t, err, store.ErrNotFound)

	loadPassesConcurrently(ctx, t, s, wants, keys, since)

	// The mark covers what was loaded: committed, the events are checked.
	got, err := s.LoadPass(ctx, "acme", "shop", since)
	require.NoError(t, err)
	require.NotEmpty(t, got.Activity.Mark)
	st := got.State
	commit(ctx, t, s, &st, store.Pass{Drifts: got.Drifts, CheckedThrough: got.Activity.Mark,
		Result: result("r3-acme-shop", "acme", "shop", at(2*time.Minute))})
	after, err := s.LoadPass(ctx, "acme", "shop", since)
	require.NoError(t, err)
	require.Zero(t, after.Activity.Unchecked)
	require.Empty(t, after.Activity.Mark)
}

type passKey struct{ client, stack string }

// commitLoadPassStacks makes four stacks (acme/shop, acme/blog,
// globex/shop, acme/quiet) and commits their drifts: two open on
// acme/shop, one resolved on acme/blog (second pass without it), one open
// on globex/shop; and events of acme (one client-wide) after at(0), of
// globex before it.
func commitLoadPassStacks(ctx context.Context, t *testing.T, s store.Store) []passKey {
	keys := []passKey{{"acme", "shop"}, {"acme", "blog"}, {"globex", "shop"}, {"acme", "quiet"}}
	states := map[passKey]store.StateRecord{}
	for _, k := range keys {
		states[k] = newStack(ctx, t, s, k.client, k.stack)
	}
	for _, k := range keys[:3] {
		st := states[k]
		commit(ctx, t, s, &st, store.Pass{
			Drifts: []drift.Drift{mkDrift(k.client, k.stack, "a", at(0)), mkDrift(k.client, k.stack, "b", at(0))},
			Result: result("r1-"+k.client+"-"+k.stack, k.client, k.stack, at(0))})
		states[k] = st
	}
	st := states[keys[1]]
	commit(ctx, t, s, &st, store.Pass{Result: result("r2-acme-blog", "acme", "blog", at(time.Minute))})
	st = states[keys[2]]
	commit(ctx, t, s, &st, store.Pass{Drifts: []drift.Drift{mkDrift("globex", "shop", "b", at(0))},
		Result: result("r2-globex-shop", "globex", "shop", at(time.Minute))})

	ev := func(id, client, stack string, ts time.Duration) store.Event {
		e := event(id, client, stack, "shopify", "products/update", at(ts))
		e.ReceivedAt = at(ts + time.Second)
		return e
	}
	insert(ctx, t, s, ev("e1", "acme", "shop", time.Minute), ev("e2", "acme", "", 2*time.Minute),
		ev("e3", "acme", "blog", 3*time.Minute), ev("e4", "globex", "shop", -2*time.Hour))

	// Open forecasts of acme/shop and globex/shop; acme/shop's third is
	// cleared (not loaded).
	_, err := s.WriteForecasts(ctx, store.ForecastWrite{Raise: []forecast.Forecast{
		mkForecast("f1", "acme", "shop", drift.ResourceUnhealthy, "cert", at(0)),
		mkForecast("f2", "acme", "shop", drift.WebhookBroken, "orders", at(time.Minute)),
		mkForecast("f3", "acme", "shop", drift.IntegrationMismatch, "orders", at(time.Minute)),
		mkForecast("f4", "globex", "shop", drift.ResourceUnhealthy, "cert", at(0)),
	}})
	require.NoError(t, err)
	cleared := at(2 * time.Minute)
	_, err = s.WriteForecasts(ctx, store.ForecastWrite{Clear: []forecast.Forecast{{ID: "f3", ClearedAt: &cleared}}})
	require.NoError(t, err)
	return keys
}

// wantPassInput is what LoadPass should answer for k: what GetState,
// ListDrifts and EventActivity answer.
func wantPassInput(ctx context.Context, t *testing.T, s store.Store, k passKey, since time.Time) store.PassInput {
	t.Helper()
	act, err := s.EventActivity(ctx, k.client, k.stack, since)
	require.NoError(t, err)
	return store.PassInput{State: getState(ctx, t, s, k.client, k.stack),
		Drifts: listDrifts(ctx, t, s, store.DriftQuery{ClientID: k.client, StackID: k.stack}), Activity: act,
		Forecasts: listForecasts(ctx, t, s, store.ForecastQuery{ClientID: k.client, StackID: k.stack})}
}

// samePassInput says how got differs from want. Marks are opaque and may
// differ between reads; both are set or neither.
func samePassInput(want, got store.PassInput) error {
	if (want.Activity.Mark == "") != (got.Activity.Mark == "") {
		return fmt.Errorf("mark %q, want one like %q", got.Activity.Mark, want.Activity.Mark)
	}
	want.Activity.Mark, got.Activity.Mark = "", ""
	if len(want.Drifts) == 0 {
		want.Drifts = nil
	}
	if len(got.Drifts) == 0 {
		got.Drifts = nil
	}
	if len(want.Forecasts) == 0 {
		want.Forecasts = nil
	}
	if len(got.Forecasts) == 0 {
		got.Forecasts = nil
	}
	if !assert.ObjectsAreEqual(want, got) {
		return fmt.Errorf("LoadPass of %s/%s:\n got %+v\nwant %+v", want.State.ClientID, want.State.StackID, got, want)
	}
	return nil
}

// loadPassesConcurrently loads the stacks 200 times at once, with missing
// stacks among them: each answers as alone.
func loadPassesConcurrently(ctx context.Context, t *testing.T, s store.Store, wants map[passKey]store.PassInput, keys []passKey, since time.Time) {
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 200 {
		wg.Go(func() {
			if i%10 == 9 {
				if _, err := s.LoadPass(ctx, "acme", fmt.Sprintf("missing-%d", i), since); !errors.Is(err, store.ErrNotFound) {
					errs <- fmt.Errorf("missing stack: %v", err)
				}
				return
			}
			k := keys[i%len(keys)]
			got, err := s.LoadPass(ctx, k.client, k.stack, since)
			if err == nil {
				err = samePassInput(wants[k], got)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// testCommitPassConcurrentResolves commits passes of many stacks at once
// (a driver may write them in one transaction, with one statement for all
// their drifts) over stacks with the same open drifts: each pass resolves
// exactly its own stack's unreported drifts, at its own completion, and
// the results of every pass are stored.
func testCommitPassConcurrentResolves(ctx context.Context, t *testing.T, s store.Store) {
	const stacks = 12
	states := make([]store.StateRecord, stacks)
	for i := range states {
		st := newStack(ctx, t, s, "acme", fmt.Sprintf("s%02d", i))
		// Every stack has drifts on components a and b, open.
		commit(ctx, t, s, &st, store.Pass{
			Drifts: []drift.Drift{mkDrift("acme", st.StackID, "a", at(0)), mkDrift("acme", st.StackID, "b", at(0))},
			Result: result(fmt.Sprintf("r0-%d", i), "acme", st.StackID, at(0)),
		})
		states[i] = st
	}
	// Then each reports one of them: a for even stacks, b for odd ones.
	kept := func(i int) string { return []string{"a", "b"}[i%2] }
	var wg sync.WaitGroup
	errs := make([]error, stacks)
	start := make(chan struct{})
	for i := range stacks {
		wg.Go(func() {
			st := states[i]
			p := store.Pass{
				State:  st,
				Drifts: []drift.Drift{mkDrift("acme", st.StackID, kept(i), at(time.Minute))},
				Result: result(fmt.Sprintf("r1-%d", i), "acme", st.StackID, at(time.Duration(i+1)*time.Minute)),
			}
			<-start
			_, errs[i] = s.CommitPass(ctx, p)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "stack %d", i)
	}
	for i := range stacks {
		stack := fmt.Sprintf("s%02d", i)
		open := map[string]bool{}
		for _, d := range listDrifts(ctx, t, s, store.DriftQuery{ClientID: "acme", StackID: stack, IncludeResolved: true}) {
			if d.ResolvedAt == nil {
				open[d.Component] = true
				continue
			}
			// Resolved at its own pass's completion, not another's.
			want := result("", "acme", stack, at(time.Duration(i+1)*time.Minute)).CompletedAt
			require.True(t, d.ResolvedAt.Equal(store.Truncate(want)), "%s %s resolved at %s, want %s", stack, d.Component, d.ResolvedAt, want)
		}
		require.Equal(t, map[string]bool{kept(i): true}, open, stack)
		require.Equal(t, states[i].Revision+1, getState(ctx, t, s, "acme", stack).Revision, stack)
	}
	require.Len(t, allReconciliations(ctx, t, s, "acme", "", 0), 2*stacks)
}
