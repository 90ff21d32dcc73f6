package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/blackwellio/blackwell/internal/store"
)

const auditHeadColumns = `seq, hash, signed_at, key_id, signature`

func scanAuditHead(row scanner) (store.AuditHead, error) {
	var (
		h      store.AuditHead
		signed int64
	)
	if err := row.Scan(&h.Seq, &h.Hash, &signed, &h.KeyID, &h.Signature); err != nil {
		return store.AuditHead{}, translate(err)
	}
	h.SignedAt = fromMicros(signed)
	return h, nil
}

// AuditChainHead returns the newest entry's seq and hash, or
// store.ErrNotFound.
func (s *Store) AuditChainHead(ctx context.Context) (store.AuditHead, error) {
	st, err := s.read(ctx, qAuditHead)
	if err != nil {
		return store.AuditHead{}, fmt.Errorf("read audit head: %w", err)
	}
	var h store.AuditHead
	if err := st.QueryRowContext(ctx).Scan(&h.Seq, &h.Hash); err != nil {
		return store.AuditHead{}, fmt.Errorf("read audit head: %w", translate(err))
	}
	return h, nil
}

// AddAuditHead stores a signed head of an entry that is stored with its
// hash; the first head per (seq, key_id) is kept.
func (s *Store) AddAuditHead(ctx context.Context, h store.AuditHead) (bool, error) {
	var added bool
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var hash string
		err := tx.QueryRowContext(ctx, `SELECT hash FROM audit WHERE seq = ?`, h.Seq).Scan(&hash)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: no entry %d", store.ErrConflict, h.Seq)
		}
		if err != nil {
			return err
		}
		if hash != h.Hash {
			return fmt.Errorf("%w: entry %d has another hash", store.ErrConflict, h.Seq)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO audit_heads (seq, key_id, hash, signed_at, signature)
VALUES (?, ?, ?, ?, ?) ON CONFLICT (seq, key_id) DO NOTHING`, h.Seq, h.KeyID, h.Hash, micros(h.SignedAt), h.Signature)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		added = n == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("add audit head %d: %w", h.Seq, err)
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
	st, err := s.read(ctx, `SELECT `+auditHeadColumns+` FROM audit_heads
WHERE (seq, key_id) > (?, ?) ORDER BY seq, key_id LIMIT ?`)
	if err != nil {
		return nil, "", fmt.Errorf("list audit heads: %w", err)
	}
	rows, err := st.QueryContext(ctx, afterSeq, afterKey, limit+1)
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
	st, err := s.read(ctx, `SELECT `+auditHeadColumns+` FROM audit_heads WHERE key_id = ? ORDER BY seq DESC LIMIT 1`)
	if err != nil {
		return store.AuditHead{}, fmt.Errorf("read latest audit head: %w", err)
	}
	h, err := scanAuditHead(st.QueryRowContext(ctx, keyID))
	if err != nil {
		return store.AuditHead{}, fmt.Errorf("read latest audit head: %w", err)
	}
	return h, nil
}
