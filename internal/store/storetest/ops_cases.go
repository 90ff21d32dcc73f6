package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/store"
)

// opsCases are the cases of store.Ops. Copy needs two stores, so they take
// newStore rather than one store.
func opsCases(ctx context.Context, t *testing.T, newStore func(t *testing.T) store.Store, except []string) {
	t.Helper()
	for _, c := range []struct {
		name string
		run  func(ctx context.Context, t *testing.T, newStore func(t *testing.T) store.Store)
	}{
		{"SchemaVersion", testSchemaVersion},
		{"CopyRoundTrip", testCopyRoundTrip},
		{"CopyRefusesNonEmpty", testCopyRefusesNonEmpty},
		{"ImportRowsFailsWhole", testImportRowsFailsWhole},
	} {
		if slices.Contains(except, c.name) {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(ctx, t, newStore)
		})
	}
}

func testSchemaVersion(ctx context.Context, t *testing.T, newStore func(t *testing.T) store.Store) {
	s := newStore(t)
	v, err := s.SchemaVersion(ctx)
	require.NoError(t, err)
	require.Positive(t, v)
	ms, err := s.Migrations(ctx)
	require.NoError(t, err)
	require.Len(t, ms, v, "one applied migration per version")
	for i, m := range ms {
		require.Equal(t, i+1, m.Version, "migrations are numbered without gaps")
		require.NotEmpty(t, m.Name)
		require.False(t, m.AppliedAt.IsZero())
	}
}

// populate writes rows into every table CopyTables lists, through the
// Store's methods.
func populate(ctx context.Context, t *testing.T, s store.Store) {
	t.Helper()
	apply(ctx, t, s, desired("acme", "shop", "h1"), desired("acme", "blog", "h1"), desired("globex", "site", "h1"))
	apply(ctx, t, s, desired("acme", "shop", "h2")) // a second version
	require.NoError(t, s.PutPolicy(ctx, store.PolicyRecord{ClientID: "acme", Document: json.RawMessage(`{"auto_heal":{"enabled":true}}`), UpdatedAt: at(0)}))
	require.NoError(t, s.PutPolicy(ctx, store.PolicyRecord{ClientID: "acme", StackID: "shop", Document: json.RawMessage(`{"schedule":{"interval":"1m"}}`), UpdatedAt: at(time.Second)}))

	noPayload := event("e-nopayload", "acme", "shop", "generic", "build.succeeded", at(3*time.Second))
	noPayload.Payload = nil
	insert(ctx, t, s,
		event("e1", "acme", "shop", "shopify", "products/update", at(0)),
		event("e2", "acme", "", "sanity", "document.publish", at(time.Second)),
		noPayload,
	)
	ingest(ctx, t, s,
		delivery("d1", "p1", at(time.Minute), 1, false),
		delivery("d2", "p2", at(time.Minute), 3, false),
		delivery("d3", "p2", at(2*time.Minute), 0, true), // tombstone
	)

	rep, err := s.EventActivity(ctx, "acme", "shop", at(0))
	require.NoError(t, err)
	require.NotZero(t, rep.Mark)
	state := getState(ctx, t, s, "acme", "shop")
	d1 := mkDrift("acme", "shop", "shopify.webhook.products/update", at(time.Second))
	d2 := mkDrift("acme", "shop", "site.tls", at(time.Second))
	d2.Code, d2.Type, d2.Severity = drift.ResourceUnhealthy, drift.TypeResource, drift.SeverityCritical
	d2.Observed = map[string]any{"days_left": float64(3)}
	d2.Cause = "shopify.webhook.products/update"
	d2.Confirmed = true
	r1 := result("r1", "acme", "shop", at(time.Second))
	r1.Status, r1.DriftDetected, r1.DriftCount, r1.Errors = store.ResultPartial, true, 2, []string{"rebuild: 502"}
	state.Status = store.StatusDriftDetected
	state.DriftDetails = []drift.Drift{d2}
	state.LastVerified = ptr(r1.CompletedAt)
	commit(ctx, t, s, &state, store.Pass{
		Drifts: []drift.Drift{d1, d2}, Result: r1, CheckedThrough: rep.Mark,
		Audit: []store.AuditEntry{{Timestamp: at(time.Second), Action: "drift_detected", ClientID: "acme", StackID: "shop",
			TriggeredBy: "reconciler", Success: true, ReconciliationID: "r1", DriftID: d2.ID,
			ChangesMade: json.RawMessage(`{"b": 1,  "a":[ 2 ]}`)}},
	})
	// d1 resolves in the next pass.
	r2 := result("r2", "acme", "shop", at(time.Minute))
	commit(ctx, t, s, &state, store.Pass{Drifts: []drift.Drift{d2}, Result: r2})
	_, err = s.AcknowledgeDrift(ctx, store.Acknowledge{ClientID: "acme", DriftID: d2.ID, By: "alice", At: at(2 * time.Minute)})
	require.NoError(t, err)
	require.NoError(t, s.AppendAudit(ctx, []store.AuditEntry{
		{Timestamp: at(3 * time.Minute), Action: "approve", ClientID: "acme", StackID: "shop", TriggeredBy: "api:bob",
			Success: true, ApprovalRequired: true, Approver: "bob", DriftID: d2.ID},
		{Timestamp: at(4 * time.Minute), Action: "apply", ClientID: "globex", TriggeredBy: "cli:carol"},
	}))
}

// everything is what the Store's read methods answer about a store.
type everything struct {
	States          []store.StateRecord
	Versions        map[string][]store.DesiredVersion
	Policies        []store.PolicyRecord
	Events          []store.Event
	Content         []store.ContentItem
	Drifts          []drift.Drift
	Reconciliations []store.ReconciliationResult
	Audit           []store.AuditEntry
	// Activity is each stack's EventActivity over two days, its mark left
	// out (a driver's own).
	Activity map[string]store.ActivityReport
}

func readEverything(ctx context.Context, t *testing.T, s store.Store) everything {
	t.Helper()
	var e everything
	e.States = drain(t, "ListStates", "", 2, func(c string) ([]store.StateRecord, string, error) { return s.ListStates(ctx, "", c, 2) })
	e.Versions = map[string][]store.DesiredVersion{}
	e.Activity = map[string]store.ActivityReport{}
	policy := func(client, stack string) {
		p, err := s.GetPolicy(ctx, client, stack)
		if errors.Is(err, store.ErrNotFound) {
			return
		}
		require.NoError(t, err)
		e.Policies = append(e.Policies, p)
	}
	for i, st := range e.States {
		vs, err := s.ListDesiredVersions(ctx, st.ClientID, st.StackID)
		require.NoError(t, err)
		e.Versions[st.Key()] = vs
		if i == 0 || e.States[i-1].ClientID != st.ClientID {
			policy(st.ClientID, "")
		}
		policy(st.ClientID, st.StackID)
		e.Drifts = append(e.Drifts, listDrifts(ctx, t, s, store.DriftQuery{ClientID: st.ClientID, StackID: st.StackID, IncludeResolved: true})...)
		e.Reconciliations = append(e.Reconciliations, allReconciliations(ctx, t, s, st.ClientID, st.StackID, 1)...)
		rep, err := s.EventActivity(ctx, st.ClientID, st.StackID, at(-48*time.Hour))
		require.NoError(t, err)
		rep.Mark = ""
		e.Activity[st.Key()] = rep
	}
	e.Events = allEvents(ctx, t, s, store.EventQuery{Limit: 2})
	e.Content = allContent(ctx, t, s, store.ContentQuery{IncludeDeleted: true, Limit: 2})
	e.Audit = allAudit(ctx, t, s, store.AuditQuery{Limit: 2})
	return e
}

// testCopyRoundTrip: Copy moves every row; the target answers every read
// as the source does, its audit chain verifies, and it goes on from where
// the source was (identities and the chain continue).
func testCopyRoundTrip(ctx context.Context, t *testing.T, newStore func(t *testing.T) store.Store) {
	src, dst := newStore(t), newStore(t)
	populate(ctx, t, src)

	rep, err := store.Copy(ctx, src, dst)
	require.NoError(t, err)
	v, err := store.RowsSchemaVersion(ctx, src)
	require.NoError(t, err)
	require.Equal(t, v, rep.SchemaVersion)
	rows := map[string]int64{}
	var total int64
	for _, tc := range rep.Tables {
		rows[tc.Table] = tc.Rows
		total += tc.Rows
	}
	require.Equal(t, total, rep.Rows)
	require.Equal(t, map[string]int64{
		"states": 3, "desired_versions": 4, "policies": 2, "events": 6, "content": 2,
		"drifts": 2, "reconciliations": 2, "audit": 3,
	}, onlyKnown(rows), "rows copied per table")

	want := readEverything(ctx, t, src)
	require.Equal(t, want, readEverything(ctx, t, dst), "the target answers as the source")
	requireChain(t, want.Audit)
	srcDigest, err := store.Digest(ctx, src)
	require.NoError(t, err)
	dstDigest, err := store.Digest(ctx, dst)
	require.NoError(t, err)
	require.Equal(t, srcDigest, dstDigest)
	require.Equal(t, rep.Tables, srcDigest)

	// The target continues: a new desired version is the newest, a new
	// event and result get fresh insertion numbers, the chain links on.
	apply(ctx, t, dst, desired("acme", "shop", "h3"))
	vs, err := dst.ListDesiredVersions(ctx, "acme", "shop")
	require.NoError(t, err)
	require.Equal(t, "h3", vs[0].Hash, "the new version lists first")
	insert(ctx, t, dst, event("e-new", "acme", "shop", "shopify", "products/update", at(-time.Hour)))
	evs := allEvents(ctx, t, dst, store.EventQuery{ClientID: "acme"})
	require.Len(t, evs, len(want.Events)+1)
	state := getState(ctx, t, dst, "acme", "blog")
	commit(ctx, t, dst, &state, store.Pass{Result: result("r-new", "acme", "blog", at(time.Hour)),
		Audit: []store.AuditEntry{{Timestamp: at(time.Hour), Action: "reconcile", ClientID: "acme", StackID: "blog", TriggeredBy: "reconciler", Success: true}}})
	audit := allAudit(ctx, t, dst, store.AuditQuery{})
	require.Len(t, audit, len(want.Audit)+1)
	require.Equal(t, want.Audit[len(want.Audit)-1].Seq+1, audit[len(audit)-1].Seq)
	requireChain(t, audit)
}

// onlyKnown keeps the tables this suite populates (tables added later are
// compared by Copy itself).
func onlyKnown(rows map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for _, k := range []string{"states", "desired_versions", "policies", "events", "content", "drifts", "reconciliations", "audit"} {
		out[k] = rows[k]
	}
	return out
}

func testCopyRefusesNonEmpty(ctx context.Context, t *testing.T, newStore func(t *testing.T) store.Store) {
	src, dst := newStore(t), newStore(t)
	populate(ctx, t, src)
	require.NoError(t, dst.AppendAudit(ctx, []store.AuditEntry{{Timestamp: at(0), Action: "apply", ClientID: "x", TriggeredBy: "cli"}}))
	before := readEverything(ctx, t, dst)

	_, err := store.Copy(ctx, src, dst)
	require.ErrorIs(t, err, store.ErrNotEmpty)
	require.Equal(t, before, readEverything(ctx, t, dst), "nothing was written")
}

// testImportRowsFailsWhole: a row that fails, or a source that fails,
// leaves the target empty.
func testImportRowsFailsWhole(ctx context.Context, t *testing.T, newStore func(t *testing.T) store.Store) {
	src, dst := newStore(t), newStore(t)
	populate(ctx, t, src)
	tables := store.CopyTables()
	boom := errors.New("source failed")
	err := dst.ImportRows(ctx, tables, func(emit func(store.Table, []any) error) error {
		n := 0
		err := src.ExportRows(ctx, tables, func(tb store.Table, row []any) error {
			if n++; n == 10 {
				return boom
			}
			return emit(tb, row)
		})
		return err
	})
	require.ErrorIs(t, err, boom)
	empty := readEverything(ctx, t, dst)
	require.Empty(t, empty.States)
	require.Empty(t, empty.Events)

	// A value of the wrong kind is refused.
	err = dst.ImportRows(ctx, tables, func(emit func(store.Table, []any) error) error {
		states := tables[0]
		row := make([]any, len(states.Columns))
		for i := range row {
			row[i] = "x"
		}
		return emit(states, row)
	})
	require.Error(t, err)
	require.Empty(t, readEverything(ctx, t, dst).States)

	// The target is still empty, so a whole copy works.
	_, err = store.Copy(ctx, src, dst)
	require.NoError(t, err)
}
