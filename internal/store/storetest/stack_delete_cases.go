package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
	"github.com/blackwellio/blackwell/internal/store"
)

// testDeleteStack: DeleteStack removes the record and the stack's own
// policy, resolves its open drifts, cancels its pending heals, closes its
// pending approvals and appends its audit entries, all at once; history
// stays; another stack is untouched; a missing stack is ErrNotFound with
// nothing written.
func testDeleteStack(ctx context.Context, t *testing.T, s store.Store) {
	hp := newHealPasses(ctx, t, s, "acme", "shop")
	other := newStack(ctx, t, s, "acme", "blog")
	d1 := mkDrift("acme", "shop", "shopify.webhook.products/update", at(0))
	d1.Confirmed = true
	running, pending := healAt("d1", 1, at(0)), healAt("d2", 1, at(0))
	hp.commit(ctx, t, at(0), store.Pass{Drifts: append(hp.state.DriftDetails, d1), Heals: []store.HealAttempt{running, pending},
		Approvals: []store.Approval{approvalAt("ap1", "d3", at(0), at(time.Hour))}})
	claimed, err := s.ClaimHeals(ctx, store.Claim{Owner: "worker", Now: at(time.Second), Lease: time.Minute, Limit: 1})
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	blogDrift := mkDrift("acme", "blog", "c", at(0))
	commit(ctx, t, s, &other, store.Pass{Drifts: []drift.Drift{blogDrift}, Result: result("blog-r1", "acme", "blog", at(0))})
	require.NoError(t, s.PutPolicy(ctx, store.PolicyRecord{ClientID: "acme", StackID: "shop", Document: json.RawMessage(`{"a":1}`), UpdatedAt: at(0)}))
	require.NoError(t, s.PutPolicy(ctx, store.PolicyRecord{ClientID: "acme", Document: json.RawMessage(`{"a":2}`), UpdatedAt: at(0)}))
	versions, err := s.ListDesiredVersions(ctx, "acme", "shop")
	require.NoError(t, err)
	_, err = s.WriteForecasts(ctx, store.ForecastWrite{Raise: []forecast.Forecast{
		mkForecast("fc-shop", "acme", "shop", drift.ResourceUnhealthy, "cert", at(0)),
		mkForecast("fc-blog", "acme", "blog", drift.ResourceUnhealthy, "cert", at(0))}})
	require.NoError(t, err)

	when := at(time.Hour)
	var seen store.StackDeleted
	got, err := s.DeleteStack(ctx, store.StackDeletion{ClientID: "acme", StackID: "shop", At: when, By: "ops",
		Audit: func(d store.StackDeleted) []store.AuditEntry {
			seen = d
			return []store.AuditEntry{{Timestamp: when, Action: "stack_deleted", ClientID: "acme", StackID: "shop", TriggeredBy: "ops", Success: true}}
		}})
	require.NoError(t, err)
	require.Equal(t, seen, got, "Audit sees what the deletion did")
	require.Equal(t, hp.state.StateVersion, got.StateVersion)
	require.Equal(t, hp.state.DesiredHash, got.DesiredHash)
	require.Len(t, got.Drifts, 1)
	require.Equal(t, d1.ID, got.Drifts[0].ID)
	require.NotNil(t, got.Drifts[0].ResolvedAt)
	require.Equal(t, store.Truncate(when), *got.Drifts[0].ResolvedAt)
	notClaimed := pending.ID
	if claimed[0].ID == pending.ID {
		notClaimed = running.ID
	}
	require.Equal(t, []string{notClaimed}, got.HealsCancelled, "only the pending attempt; a running one finishes")
	require.Equal(t, []string{"ap1"}, got.ApprovalsClosed)
	require.True(t, got.PolicyDeleted)

	_, err = s.GetState(ctx, "acme", "shop")
	require.ErrorIs(t, err, store.ErrNotFound)
	require.Empty(t, listDrifts(ctx, t, s, store.DriftQuery{ClientID: "acme", StackID: "shop"}), "no open drift")
	require.Len(t, listDrifts(ctx, t, s, store.DriftQuery{ClientID: "acme", StackID: "shop", IncludeResolved: true}), 1, "kept, resolved")
	require.Equal(t, store.HealCancelled, getHeal(ctx, t, s, notClaimed).Status)
	require.Equal(t, store.HealRunning, getHeal(ctx, t, s, claimed[0].ID).Status)
	ap := getApproval(ctx, t, s, "ap1")
	require.Equal(t, store.ApprovalRejected, ap.Status)
	require.Equal(t, "ops", ap.DecidedBy)
	require.Equal(t, store.StackDeletedReason, ap.Reason)
	fcs := listForecasts(ctx, t, s, store.ForecastQuery{ClientID: "acme", IncludeCleared: true})
	require.Equal(t, []string{"fc-blog", "fc-shop"}, forecastIDs(fcs))
	require.Nil(t, fcs[0].ClearedAt, "another stack's forecast stays open")
	require.NotNil(t, fcs[1].ClearedAt, "the deleted stack's forecast is cleared")
	require.Equal(t, store.Truncate(when), *fcs[1].ClearedAt)
	_, err = s.GetPolicy(ctx, "acme", "shop")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.GetPolicy(ctx, "acme", "")
	require.NoError(t, err, "the client-wide policy stays")
	kept, err := s.ListDesiredVersions(ctx, "acme", "shop")
	require.NoError(t, err)
	require.Equal(t, versions, kept, "desired versions are history: kept")
	results, _, err := s.ListReconciliations(ctx, "acme", "shop", "", 10)
	require.NoError(t, err)
	require.NotEmpty(t, results, "reconciliation results are kept")
	entries, _, err := s.ListAudit(ctx, store.AuditQuery{Action: "stack_deleted"})
	require.NoError(t, err)
	require.Len(t, entries, 1)

	// The other stack is untouched.
	require.Equal(t, other, getState(ctx, t, s, "acme", "blog"))
	require.Len(t, listDrifts(ctx, t, s, store.DriftQuery{ClientID: "acme", StackID: "blog"}), 1)

	// Again, or a stack that never was: ErrNotFound, no audit entry.
	for _, stack := range []string{"shop", "ghost"} {
		_, err = s.DeleteStack(ctx, store.StackDeletion{ClientID: "acme", StackID: stack, At: when,
			Audit: func(store.StackDeleted) []store.AuditEntry {
				return []store.AuditEntry{{Timestamp: when, Action: "stack_deleted", ClientID: "acme", StackID: stack}}
			}})
		require.ErrorIs(t, err, store.ErrNotFound)
	}
	entries, _, err = s.ListAudit(ctx, store.AuditQuery{Action: "stack_deleted"})
	require.NoError(t, err)
	require.Len(t, entries, 1)

	// A stack applied again under the same key continues its versions
	// after the kept ones.
	res := apply(ctx, t, s, desired("acme", "shop", "h-new"))
	require.True(t, res[0].Created)
	next, err := store.NextMinorVersion(versions[0].Version)
	require.NoError(t, err)
	require.Equal(t, next, res[0].Version)
	rec := getState(ctx, t, s, "acme", "shop")
	require.Equal(t, next, rec.StateVersion)
	require.Empty(t, rec.PreviousVersions)
	kept, err = s.ListDesiredVersions(ctx, "acme", "shop")
	require.NoError(t, err)
	require.Len(t, kept, len(versions)+1)
}
