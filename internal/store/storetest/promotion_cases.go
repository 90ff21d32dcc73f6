package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/store"
)

// testPromotions: pipelines upsert per (client, app); a promotion is
// created with its approval request and audit in one write, at most one
// unfinished per target stack; updates are optimistic; lists are newest
// first, per client or the unfinished ones of every client, and page.
func testPromotions(ctx context.Context, t *testing.T, s store.Store) {
	// Pipelines.
	require.NoError(t, s.PutPipeline(ctx, store.PipelineRecord{ClientID: "acme", App: "shop", Document: json.RawMessage(`{"stages":[]}`), UpdatedAt: at(0)}))
	require.NoError(t, s.PutPipeline(ctx, store.PipelineRecord{ClientID: "acme", App: "shop", Document: json.RawMessage(`{"stages":[{"environment":"prod"}]}`), UpdatedAt: at(time.Second)}))
	require.NoError(t, s.PutPipeline(ctx, store.PipelineRecord{ClientID: "acme", App: "blog", Document: json.RawMessage(`{}`), UpdatedAt: at(0)}))
	require.NoError(t, s.PutPipeline(ctx, store.PipelineRecord{ClientID: "other", App: "shop", Document: json.RawMessage(`{}`), UpdatedAt: at(0)}))
	pls, err := s.ListPipelines(ctx, "acme")
	require.NoError(t, err)
	require.Len(t, pls, 2)
	require.Equal(t, "blog", pls[0].App)
	require.JSONEq(t, `{"stages":[{"environment":"prod"}]}`, string(pls[1].Document))
	require.Equal(t, store.Truncate(at(time.Second)), pls[1].UpdatedAt)

	// A promotion awaiting approval, with its request and audit.
	p := store.Promotion{
		ID: "prom-1", ClientID: "acme", App: "shop", From: "staging", To: "prod", FromStack: "shop-staging", ToStack: "shop-prod",
		FromVersion: "v1.3.0", PreviousVersion: "v1.1.0", Status: store.PromotionAwaitingApproval, ApprovalID: "appr-prom-1",
		Plan: json.RawMessage(`{"changed":["resources.site"]}`), RequestedBy: "ops", CreatedAt: at(0), UpdatedAt: at(0),
	}
	appr := &store.Approval{ID: "appr-prom-1", ClientID: "acme", StackID: "shop-prod", DriftID: "promotion:prom-1",
		Code: "environment_divergence", Component: "promotion", Action: "promote", Class: "promotion",
		TriggeredBy: "ops", Status: store.ApprovalPending, CreatedAt: at(0), ExpiresAt: at(time.Hour)}
	audit := []store.AuditEntry{{Timestamp: at(0), Action: "promotion_requested", ClientID: "acme", StackID: "shop-prod", TriggeredBy: "ops", Success: true}}
	got, err := s.CreatePromotion(ctx, p, appr, audit)
	require.NoError(t, err)
	require.Equal(t, int64(1), got.Revision)
	require.NotZero(t, audit[0].Seq, "the audit entry is chained")
	stored, err := s.GetApproval(ctx, "appr-prom-1")
	require.NoError(t, err)
	require.Equal(t, "promotion", stored.Class)

	// A second unfinished promotion into the same stack is refused, and
	// writes nothing.
	dup := p
	dup.ID = "prom-2"
	_, err = s.CreatePromotion(ctx, dup, nil, []store.AuditEntry{{Timestamp: at(0), Action: "promotion_requested", ClientID: "acme", TriggeredBy: "ops"}})
	require.ErrorIs(t, err, store.ErrPromotionOpen)
	_, err = s.GetPromotion(ctx, "acme", "prom-2")
	require.ErrorIs(t, err, store.ErrNotFound)

	// Updates: optimistic, and the record round-trips.
	got.Status, got.NewVersion, got.UpdatedAt = store.PromotionVerifying, "v1.2.0", at(time.Minute)
	upd, err := s.UpdatePromotion(ctx, got, nil)
	require.NoError(t, err)
	require.Equal(t, int64(2), upd.Revision)
	_, err = s.UpdatePromotion(ctx, got, nil)
	require.ErrorIs(t, err, store.ErrConflict)
	missing := got
	missing.ID = "prom-none"
	_, err = s.UpdatePromotion(ctx, missing, nil)
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.GetPromotion(ctx, "other", "prom-1")
	require.ErrorIs(t, err, store.ErrNotFound, "another client's promotion is not found")
	read, err := s.GetPromotion(ctx, "acme", "prom-1")
	require.NoError(t, err)
	require.Equal(t, upd, read)
	require.Equal(t, store.Truncate(at(0)), read.CreatedAt)

	// Finished, the target is free for the next promotion.
	done := at(2 * time.Minute)
	read.Status, read.CompletedAt, read.Evidence = store.PromotionSucceeded, &done, json.RawMessage(`{"reconciliation_id":"r1"}`)
	_, err = s.UpdatePromotion(ctx, read, []store.AuditEntry{{Timestamp: done, Action: "promotion_succeeded", ClientID: "acme", StackID: "shop-prod", TriggeredBy: "ops", Success: true}})
	require.NoError(t, err)
	dup.CreatedAt, dup.Status = at(3*time.Minute), store.PromotionApplying
	_, err = s.CreatePromotion(ctx, dup, nil, nil)
	require.NoError(t, err)
	other := p
	other.ID, other.ClientID, other.ApprovalID, other.CreatedAt, other.Status = "prom-3", "other", "", at(4*time.Minute), store.PromotionVerifying
	_, err = s.CreatePromotion(ctx, other, nil, nil)
	require.NoError(t, err)

	// Lists.
	list, next, err := s.ListPromotions(ctx, store.PromotionQuery{ClientID: "acme", Limit: 1})
	require.NoError(t, err)
	require.Equal(t, []string{"prom-2"}, promotionIDs(list))
	list, next, err = s.ListPromotions(ctx, store.PromotionQuery{ClientID: "acme", Cursor: next, Limit: 1})
	require.NoError(t, err)
	require.Equal(t, []string{"prom-1"}, promotionIDs(list))
	require.Equal(t, store.PromotionSucceeded, list[0].Status)
	require.JSONEq(t, `{"reconciliation_id":"r1"}`, string(list[0].Evidence))
	require.Empty(t, next, "the last page")
	list, _, err = s.ListPromotions(ctx, store.PromotionQuery{Unfinished: true})
	require.NoError(t, err)
	require.Equal(t, []string{"prom-3", "prom-2"}, promotionIDs(list))
	list, _, err = s.ListPromotions(ctx, store.PromotionQuery{ClientID: "acme", App: "blog"})
	require.NoError(t, err)
	require.Empty(t, list)
	_, _, err = s.ListPromotions(ctx, store.PromotionQuery{})
	require.Error(t, err, "a client is required")
	_, _, err = s.ListPromotions(ctx, store.PromotionQuery{ClientID: "acme", Cursor: "nope"})
	require.ErrorIs(t, err, store.ErrInvalidCursor)
}

func promotionIDs(ps []store.Promotion) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	return out
}
