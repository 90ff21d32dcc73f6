package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/store"
)

func allAuditHeads(ctx context.Context, t *testing.T, s store.Store, limit int) []store.AuditHead {
	t.Helper()
	return drain(t, "ListAuditHeads", "", limit, func(cursor string) ([]store.AuditHead, string, error) {
		return s.ListAuditHeads(ctx, cursor, limit)
	})
}

func testAuditHeads(ctx context.Context, t *testing.T, s store.Store) {
	_, err := s.AuditChainHead(ctx)
	require.ErrorIs(t, err, store.ErrNotFound, "an empty chain has no head")
	_, err = s.LatestAuditHead(ctx, "k1")
	require.ErrorIs(t, err, store.ErrNotFound)

	var in []store.AuditEntry
	for i := range 6 {
		in = append(in, store.AuditEntry{Timestamp: at(time.Duration(i) * time.Minute), Action: "head", ClientID: "h"})
	}
	require.NoError(t, s.AppendAudit(ctx, in))
	head, err := s.AuditChainHead(ctx)
	require.NoError(t, err)
	require.Equal(t, store.AuditHead{Seq: in[5].Seq, Hash: in[5].Hash}, head)

	sign := func(e store.AuditEntry, key, sig string, d time.Duration) store.AuditHead {
		return store.AuditHead{Seq: e.Seq, Hash: e.Hash, SignedAt: at(d), KeyID: key, Signature: sig}
	}
	// Refused, storing nothing: another hash, no such entry.
	bad := sign(in[2], "k1", "s", 0)
	bad.Hash = "not-the-hash"
	_, err = s.AddAuditHead(ctx, bad)
	require.ErrorIs(t, err, store.ErrConflict)
	bad = sign(in[5], "k1", "s", 0)
	bad.Seq += 10
	_, err = s.AddAuditHead(ctx, bad)
	require.ErrorIs(t, err, store.ErrConflict, "a head beyond the chain's end")
	require.Empty(t, allAuditHeads(ctx, t, s, 0))

	// Idempotent per (seq, key): the first stays.
	h3 := sign(in[2], "k1", "first", time.Hour)
	added, err := s.AddAuditHead(ctx, h3)
	require.NoError(t, err)
	require.True(t, added)
	added, err = s.AddAuditHead(ctx, sign(in[2], "k1", "second", 2*time.Hour))
	require.NoError(t, err)
	require.False(t, added, "the same key's head at the same seq is kept")
	h3b := sign(in[2], "k2", "other key", time.Hour)
	added, err = s.AddAuditHead(ctx, h3b)
	require.NoError(t, err)
	require.True(t, added, "another key's head at the same seq is its own")

	// Replicas signing the same head at once: one row.
	h5 := sign(in[4], "k1", "five", 3*time.Hour)
	var wg sync.WaitGroup
	res := make([]bool, 4)
	errs := make([]error, 4)
	for i := range res {
		wg.Go(func() { res[i], errs[i] = s.AddAuditHead(ctx, h5) })
	}
	wg.Wait()
	wins := 0
	for i := range res {
		require.NoError(t, errs[i])
		if res[i] {
			wins++
		}
	}
	require.Equal(t, 1, wins, "exactly one replica stores the head")

	want := func(h store.AuditHead) store.AuditHead { h.SignedAt = store.Truncate(h.SignedAt); return h }
	for _, limit := range []int{1, 2, 3, 0} {
		require.Equal(t, []store.AuditHead{want(h3), want(h3b), want(h5)}, allAuditHeads(ctx, t, s, limit), "limit %d", limit)
	}
	latest, err := s.LatestAuditHead(ctx, "k1")
	require.NoError(t, err)
	require.Equal(t, want(h5), latest)
	latest, err = s.LatestAuditHead(ctx, "k2")
	require.NoError(t, err)
	require.Equal(t, want(h3b), latest)
	_, err = s.LatestAuditHead(ctx, "k3")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, _, err = s.ListAuditHeads(ctx, "!", 10)
	require.ErrorIs(t, err, store.ErrInvalidCursor)

	// AuditCursor resumes the chain after a known entry.
	got, _, err := s.ListAudit(ctx, store.AuditQuery{Cursor: store.AuditCursor(in[2].Seq), Limit: 10})
	require.NoError(t, err)
	require.Equal(t, allAudit(ctx, t, s, store.AuditQuery{})[3:], got)

	// Pruning drops the heads the checkpoint stands for.
	cp := store.AuditCheckpoint{Seq: in[2].Seq, Hash: in[2].Hash, Count: in[2].Seq, CreatedAt: at(4 * time.Hour), KeyID: "k1", Signature: "cp"}
	_, err = s.PruneAudit(ctx, 0, cp)
	require.NoError(t, err)
	require.Equal(t, []store.AuditHead{want(h5)}, allAuditHeads(ctx, t, s, 0))
	_, err = s.AddAuditHead(ctx, sign(in[1], "k1", "pruned", 5*time.Hour))
	require.ErrorIs(t, err, store.ErrConflict, "no head of a pruned entry")
}
