package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/store"
)

// testBatchLimits: a limit means the same to every method (store.MaxLimit's
// doc): <= 0 is store.DefaultLimit; above store.MaxLimit, a method that
// does not page refuses the call with store.ErrInvalid naming the cap
// instead of answering fewer rows than asked for.
func testBatchLimits(ctx context.Context, t *testing.T, s store.Store) {
	over := store.MaxLimit + 1
	now := at(0)
	refused := map[string]func() error{
		"ClaimHeals": func() error {
			_, err := s.ClaimHeals(ctx, store.Claim{Owner: "w1", Now: now, Lease: time.Minute, Limit: over})
			return err
		},
		"ExpireApprovals": func() error { _, err := s.ExpireApprovals(ctx, now, over); return err },
		"DeleteExpiredEvents": func() error {
			_, err := s.DeleteExpiredEvents(ctx, now, over)
			return err
		},
		"DeleteReconciliations": func() error {
			_, err := s.DeleteReconciliations(ctx, store.HistoryPrune{Before: now}, over)
			return err
		},
		"AuditAfter": func() error { _, err := s.AuditAfter(ctx, 0, over); return err },
		"PendingOutbox": func() error {
			_, err := s.PendingOutbox(ctx, store.OutboxQuery{Subscriber: "notify", Limit: over})
			return err
		},
		"ScanPayloads": func() error {
			_, err := s.ScanPayloads(ctx, store.PayloadScan{Table: store.PayloadEvents, Limit: over})
			return err
		},
		"OpenDriftCounts": func() error { _, err := s.OpenDriftCounts(ctx, "", over); return err },
		"RecentDrifts": func() error {
			_, err := s.RecentDrifts(ctx, store.RecentQuery{ClientID: "acme", Since: now, Limit: over})
			return err
		},
		"RecentHeals": func() error {
			_, err := s.RecentHeals(ctx, store.RecentQuery{ClientID: "acme", Since: now, Limit: over})
			return err
		},
	}
	for name, call := range refused {
		err := call()
		require.ErrorIs(t, err, store.ErrInvalid, name)
		require.ErrorContains(t, err, fmt.Sprintf("limit %d is above the store's cap of %d", over, store.MaxLimit), name)
	}

	// At the cap, and at 0 (the default), the same calls answer.
	var entries []store.AuditEntry
	for i := range store.DefaultLimit + 5 {
		entries = append(entries, store.AuditEntry{Timestamp: at(time.Duration(i) * time.Second), Action: "drift_detected",
			ClientID: "acme", StackID: "shop", DriftID: fmt.Sprint("d", i)})
	}
	require.NoError(t, s.AppendAudit(ctx, entries))
	got, err := s.AuditAfter(ctx, 0, store.MaxLimit)
	require.NoError(t, err)
	require.Len(t, got, len(entries))
	got, err = s.AuditAfter(ctx, 0, 0)
	require.NoError(t, err)
	require.Len(t, got, store.DefaultLimit, "limit 0 is the default")
	_, err = s.DeleteExpiredEvents(ctx, now, store.MaxLimit)
	require.NoError(t, err)
}
