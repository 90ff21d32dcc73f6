package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/blackwellio/blackwell/internal/store"
)

const auditHeadColumns = `seq, hash, signed_at, key_id, signature`

func scanAuditHead(row pgx.Row) (store.AuditHead, error) {
	var h store.AuditHead
	if err := row.Scan(&h.Seq, &h.Hash, &h.SignedAt, &h.KeyID, &h.Signature); err != nil {
		return store.AuditHead{}, translate(err)
	}
	h.SignedAt = utc(h.SignedAt)
	return h, nil
}

// AuditChainHead returns the newest entry's seq and hash, or
// store.ErrNotFound.
func (s *Store) AuditChainHead(ctx context.Context) (store.AuditHead, error) {
	var h store.AuditHead
	err := s.pool.QueryRow(ctx, `SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&h.Seq, &h.Hash)
	if err != nil {
		return store.AuditHead{}, fmt.Errorf("read audit head: %w", translate(err))
	}
	return h, nil
}

// qAddAuditHead inserts a signed head when entry $1 is stored with hash $2,
// keeping a head stored already for (seq, key_id). It answers the entry's
// stored hash (NULL when there is none) and whether a row was inserted, in
// one statement.
const qAddAuditHead = `WITH e AS (SELECT hash FROM audit WHERE seq = $1),
ins AS (
	INSERT INTO audit_heads (seq, key_id, hash, signed_at, signature)
	SELECT $1, $3, $2, $4, $5 FROM e WHERE e.hash = $2
	ON CONFLICT (seq, key_id) DO NOTHING
	RETURNING 1
)
SELECT (SELECT hash FROM e), EXISTS (SELECT 1 FROM ins)`

// AddAuditHead stores a signed head of an entry that is stored with its
// hash; the first head per (seq, key_id) is kept.
func (s *Store) AddAuditHead(ctx context.Context, h store.AuditHead) (bool, error) {
	var (
		hash  *string
		added bool
	)
	err := s.pool.QueryRow(ctx, qAddAuditHead, h.Seq, h.Hash, h.KeyID, ts(h.SignedAt), h.Signature).Scan(&hash, &added)
	switch {
	case err != nil:
		return false, fmt.Errorf("add audit head %d: %w", h.Seq, translate(err))
	case hash == nil:
		return false, fmt.Errorf("add audit head %d: %w: no entry %d", h.Seq, store.ErrConflict, h.Seq)
	case *hash != h.Hash:
		return false, fmt.Errorf("add audit head %d: %w: entry %d has another hash", h.Seq, store.ErrConflict, h.Seq)
	}
	return added, nil
}

// ListAuditHeads lists signed heads by seq, then key id.
func (s *Store) ListAuditHeads(ctx context.Context, cursor string, limit int) ([]store.AuditHead, store.Page, error) {
	var (
		afterSeq int64 = -1
		afterKey string
	)
	if cursor != "" {
		if err := store.DecodeCursor(cursor, &afterSeq, &afterKey); err != nil {
			return nil, "", fmt.Errorf("list audit heads: %w", err)
		}
	}
	limit = store.PageLimit(limit)
	rows, err := s.pool.Query(ctx, `SELECT `+auditHeadColumns+` FROM audit_heads
WHERE (seq, key_id) > ($1, $2) ORDER BY seq, key_id LIMIT $3`, afterSeq, afterKey, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list audit heads: %w", err)
	}
	defer rows.Close()
	out, err := store.CollectRows(rows, func(r store.Rows) (store.AuditHead, error) { return scanAuditHead(r) })
	if err != nil {
		return nil, "", fmt.Errorf("list audit heads: %w", err)
	}
	out, next := store.NextPage(out, limit, store.AuditHeadKey)
	return out, next, nil
}

// LatestAuditHead returns keyID's head of the highest seq, or
// store.ErrNotFound.
func (s *Store) LatestAuditHead(ctx context.Context, keyID string) (store.AuditHead, error) {
	h, err := scanAuditHead(s.pool.QueryRow(ctx, `SELECT `+auditHeadColumns+` FROM audit_heads
WHERE key_id = $1 ORDER BY seq DESC LIMIT 1`, keyID))
	if err != nil {
		return store.AuditHead{}, fmt.Errorf("read latest audit head: %w", err)
	}
	return h, nil
}
