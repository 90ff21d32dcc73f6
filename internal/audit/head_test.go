package audit_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/audit"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

func TestHeadSignature(t *testing.T) {
	t.Parallel()
	k, err := audit.GenerateKey()
	require.NoError(t, err)
	other, err := audit.GenerateKey()
	require.NoError(t, err)
	h := k.SignHead(store.AuditHead{Seq: 7, Hash: "abc", SignedAt: time.Date(2026, 1, 2, 3, 4, 5, 678901234, time.UTC)})
	require.NoError(t, audit.VerifyHead(k.Public(), h))
	require.Equal(t, k.ID(), h.KeyID)

	cases := []struct {
		name   string
		tamper func(*store.AuditHead)
		want   string
	}{
		{"seq", func(h *store.AuditHead) { h.Seq = 8 }, "does not verify"},
		{"hash", func(h *store.AuditHead) { h.Hash = "abd" }, "does not verify"},
		{"time", func(h *store.AuditHead) { h.SignedAt = h.SignedAt.Add(time.Microsecond) }, "does not verify"},
		{"signature", func(h *store.AuditHead) { h.Signature = "AAAA" + h.Signature[4:] }, "does not verify"},
		{"garbage signature", func(h *store.AuditHead) { h.Signature = "!" }, "does not verify"},
		{"key id", func(h *store.AuditHead) { h.KeyID = other.ID() }, "not by key"},
		{"resigned by another key", func(h *store.AuditHead) { *h = other.SignHead(*h) }, "not by key"},
		{"a checkpoint's signature", func(h *store.AuditHead) {
			cp := k.Sign(store.AuditCheckpoint{Seq: h.Seq, Hash: h.Hash, Count: h.Seq, CreatedAt: h.SignedAt})
			h.Signature = cp.Signature
		}, "does not verify"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := h
			tc.tamper(&c)
			err := audit.VerifyHead(k.Public(), c)
			var br *audit.Break
			require.True(t, errors.As(err, &br), "want a break, got %v", err)
			require.Equal(t, c.Seq, br.Seq)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// headSetup is a SQLite store holding n entries, its file, and a signer
// with a fresh key.
func headSetup(t *testing.T, n int) (*sqlite.Store, *audit.HeadSigner, string) {
	t.Helper()
	db, p, _, path := pruneSetupFile(t, n)
	return db, &audit.HeadSigner{Store: db, Key: p.Key, Now: func() time.Time { return time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC) }}, path
}

func appendN(t *testing.T, db *sqlite.Store, n int) {
	t.Helper()
	var in []store.AuditEntry
	for range n {
		in = append(in, store.AuditEntry{Timestamp: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), Action: "more", ClientID: "c"})
	}
	require.NoError(t, db.AppendAudit(context.Background(), in))
}

func sign(t *testing.T, s *audit.HeadSigner, wantSeq int64) {
	t.Helper()
	h, added, err := s.Sign(context.Background())
	require.NoError(t, err)
	require.True(t, added)
	require.Equal(t, wantSeq, h.Seq)
}

// verifyWithHeads reads the store as audit verify does: the checkpoint,
// the signed heads (signatures checked with pub), then the chain.
func verifyWithHeads(t *testing.T, db *sqlite.Store, k *audit.Key) (*audit.HeadCheck, error) {
	t.Helper()
	ctx := context.Background()
	v := &audit.Verifier{}
	var cpp *store.AuditCheckpoint
	if cp, err := db.AuditCheckpoint(ctx); err == nil {
		require.NoError(t, audit.VerifyCheckpoint(k.Public(), cp))
		v, cpp = audit.FromCheckpoint(cp), &cp
	}
	heads, _, err := db.ListAuditHeads(ctx, "", 1000)
	require.NoError(t, err)
	hc, err := audit.NewHeadCheck(k.Public(), heads, cpp)
	if err != nil {
		return nil, err
	}
	es, _, err := db.ListAudit(ctx, store.AuditQuery{Limit: 1000})
	require.NoError(t, err)
	for _, e := range es {
		if err := v.Add(e); err != nil {
			return hc, err
		}
		if err := hc.Add(e); err != nil {
			return hc, err
		}
	}
	seq, _, _ := v.Head()
	return hc, hc.Finish(seq)
}

// rewrite changes entry seq's action and recomputes every hash from it to
// the end, writing the rows behind the store's back: what an attacker with
// the database does so that the chain still verifies.
func rewrite(t *testing.T, db *sqlite.Store, path string, seq int64) {
	t.Helper()
	es, _, err := db.ListAudit(context.Background(), store.AuditQuery{Limit: 1000})
	require.NoError(t, err)
	raw, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer raw.Close()
	prev := ""
	for _, e := range es {
		if e.Seq < seq {
			prev = e.Hash
			continue
		}
		if e.Seq == seq {
			e.Action = "nothing_happened"
		}
		e.PrevHash = prev
		e.Hash = store.ChainHash(e)
		prev = e.Hash
		_, err := raw.Exec(`UPDATE audit SET action = ?, prev_hash = ?, hash = ? WHERE seq = ?`, e.Action, e.PrevHash, e.Hash, e.Seq)
		require.NoError(t, err)
	}
}

func requireBreak(t *testing.T, err error, seq int64, because string) {
	t.Helper()
	var br *audit.Break
	require.True(t, errors.As(err, &br), "want a break, got %v", err)
	require.Equal(t, seq, br.Seq, "%v", err)
	require.ErrorContains(t, err, because)
}

func TestSignedHeadsRevealARewrittenChain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, signer, path := headSetup(t, 10)
	sign(t, signer, 10)
	appendN(t, db, 5)
	sign(t, signer, 15)
	hc, err := verifyWithHeads(t, db, signer.Key)
	require.NoError(t, err)
	newest, checked, _ := hc.Newest()
	require.Equal(t, int64(15), newest.Seq)
	require.Equal(t, 2, checked)

	rewrite(t, db, path, 5)
	es, _, err := db.ListAudit(ctx, store.AuditQuery{Limit: 1000})
	require.NoError(t, err)
	require.NoError(t, audit.Verify(es), "the rewritten chain verifies on its own")

	_, err = verifyWithHeads(t, db, signer.Key)
	requireBreak(t, err, 10, "the chain at or before entry 10 was rewritten")

	_, _, err = signer.Sign(ctx)
	requireBreak(t, err, 15, "rewritten; not signing")
	fresh := &audit.HeadSigner{Store: db, Key: signer.Key}
	appendN(t, db, 1)
	_, _, err = fresh.Sign(ctx)
	requireBreak(t, err, 15, "rewritten; not signing")

	_, err = (&audit.Pruner{Store: db, Key: signer.Key}).Prune(ctx, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), 1000)
	requireBreak(t, err, 10, "rewritten")
	es, _, err = db.ListAudit(ctx, store.AuditQuery{Limit: 1000})
	require.NoError(t, err)
	require.Len(t, es, 16, "the pruner deleted nothing")
}

func TestSignedHeadsNarrowTheRewrite(t *testing.T) {
	t.Parallel()
	db, signer, path := headSetup(t, 4)
	sign(t, signer, 4)
	appendN(t, db, 4)
	sign(t, signer, 8)
	rewrite(t, db, path, 6)
	_, err := verifyWithHeads(t, db, signer.Key)
	requireBreak(t, err, 8, "after entry 4, whose signed head still matches")
}

func TestSignedHeadsCannotSeeARewriteAfterTheNewest(t *testing.T) {
	t.Parallel()
	db, signer, path := headSetup(t, 5)
	sign(t, signer, 5)
	appendN(t, db, 3)
	rewrite(t, db, path, 7)
	hc, err := verifyWithHeads(t, db, signer.Key)
	require.NoError(t, err, "the documented limit: entries after the newest signed head are only hash-chained")
	newest, _, _ := hc.Newest()
	require.Equal(t, int64(5), newest.Seq)
}

func TestForgedSignedHeadFails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, signer, path := headSetup(t, 6)
	sign(t, signer, 6)
	es, _, err := db.ListAudit(ctx, store.AuditQuery{Limit: 100})
	require.NoError(t, err)

	// A head written straight into the table with a made-up signature.
	tamper(t, path, `INSERT INTO audit_heads (seq, key_id, hash, signed_at, signature) VALUES (3, '`+signer.Key.ID()+`', '`+es[2].Hash+`', 0, 'Zm9yZ2Vk')`)
	_, err = verifyWithHeads(t, db, signer.Key)
	requireBreak(t, err, 3, "signature does not verify")

	// A head signed with the attacker's own key.
	db2, signer2, _ := headSetup(t, 6)
	other, err := audit.GenerateKey()
	require.NoError(t, err)
	es2, _, err := db2.ListAudit(ctx, store.AuditQuery{Limit: 100})
	require.NoError(t, err)
	_, err = db2.AddAuditHead(ctx, other.SignHead(store.AuditHead{Seq: 4, Hash: es2[3].Hash, SignedAt: time.Now()}))
	require.NoError(t, err)
	_, err = verifyWithHeads(t, db2, signer2.Key)
	requireBreak(t, err, 4, "not by key")

	// A genuine head moved to another entry.
	tamper(t, path, `DELETE FROM audit_heads WHERE seq = 3`)
	_, err = verifyWithHeads(t, db, signer.Key)
	require.NoError(t, err)
	tamper(t, path, `UPDATE audit_heads SET seq = 5, hash = '`+es[4].Hash+`' WHERE seq = 6`)
	_, err = verifyWithHeads(t, db, signer.Key)
	requireBreak(t, err, 5, "signature does not verify")
}

func TestTruncationBelowASignedHeadFails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, signer, path := headSetup(t, 8)
	sign(t, signer, 8)
	tamper(t, path, `DELETE FROM audit WHERE seq > 6`)
	es, _, err := db.ListAudit(ctx, store.AuditQuery{Limit: 100})
	require.NoError(t, err)
	require.NoError(t, audit.Verify(es), "a cut end verifies on its own")
	_, err = verifyWithHeads(t, db, signer.Key)
	requireBreak(t, err, 8, "the chain ends at entry 6")
	_, _, err = signer.Sign(ctx)
	requireBreak(t, err, 8, "entries removed from the end")
}

func TestSignerDetectsDeletedHeads(t *testing.T) {
	t.Parallel()
	db, signer, path := headSetup(t, 3)
	sign(t, signer, 3)
	tamper(t, path, `DELETE FROM audit_heads`)
	appendN(t, db, 1)
	_, _, err := signer.Sign(context.Background())
	requireBreak(t, err, 3, "signed heads deleted")
}

func TestSignerIsIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, signer, _ := headSetup(t, 3)
	sign(t, signer, 3)
	h, added, err := signer.Sign(ctx)
	require.NoError(t, err)
	require.False(t, added, "the head did not move")
	require.Equal(t, int64(3), h.Seq)

	// Replicas with the same key sign the same head at once: one row.
	appendN(t, db, 2)
	var wg sync.WaitGroup
	adds := make([]bool, 3)
	for i := range adds {
		s := &audit.HeadSigner{Store: db, Key: signer.Key}
		wg.Go(func() {
			_, a, err := s.Sign(ctx)
			require.NoError(t, err)
			adds[i] = a
		})
	}
	wg.Wait()
	heads, _, err := db.ListAuditHeads(ctx, "", 100)
	require.NoError(t, err)
	require.Len(t, heads, 2)
	require.Equal(t, int64(5), heads[1].Seq)
	n := 0
	for _, a := range adds {
		if a {
			n++
		}
	}
	require.Equal(t, 1, n)

	empty, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "e.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = empty.Close() })
	h, added, err = (&audit.HeadSigner{Store: empty, Key: signer.Key}).Sign(ctx)
	require.NoError(t, err)
	require.False(t, added, "an empty chain has no head to sign")
	require.Zero(t, h.Seq)
}

func TestSignedHeadsAfterPruning(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, signer, _ := headSetup(t, 10)
	sign(t, signer, 10)
	appendN(t, db, 5)
	p := &audit.Pruner{Store: db, Key: signer.Key}
	n, err := p.Prune(ctx, time.Date(2026, 1, 1, 0, 8, 0, 0, time.UTC), 1000)
	require.NoError(t, err)
	require.Equal(t, 8, n)
	hc, err := verifyWithHeads(t, db, signer.Key)
	require.NoError(t, err)
	newest, _, _ := hc.Newest()
	require.Equal(t, int64(10), newest.Seq)
	sign(t, signer, 15)

	// Pruned past the last signed head (the store drops the heads the
	// checkpoint stands for): the signer goes on from the checkpoint.
	appendN(t, db, 2)
	n, err = p.Prune(ctx, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), 1000)
	require.NoError(t, err)
	require.Equal(t, 8, n)
	heads, _, err := db.ListAuditHeads(ctx, "", 100)
	require.NoError(t, err)
	require.Empty(t, heads)
	appendN(t, db, 1)
	sign(t, signer, 18)
	appendN(t, db, 1)
	sign(t, &audit.HeadSigner{Store: db, Key: signer.Key}, 19)
	_, err = verifyWithHeads(t, db, signer.Key)
	require.NoError(t, err)
}
