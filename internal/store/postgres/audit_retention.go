package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/blackwellio/blackwell/internal/store"
)

// AuditCheckpoint returns the latest checkpoint, or store.ErrNotFound.
func (s *Store) AuditCheckpoint(ctx context.Context) (store.AuditCheckpoint, error) {
	var cp store.AuditCheckpoint
	err := s.pool.QueryRow(ctx, `SELECT seq, hash, count, created_at, key_id, signature FROM audit_checkpoint`).
		Scan(&cp.Seq, &cp.Hash, &cp.Count, &cp.CreatedAt, &cp.KeyID, &cp.Signature)
	if err != nil {
		return store.AuditCheckpoint{}, fmt.Errorf("read audit checkpoint: %w", translate(err))
	}
	cp.CreatedAt = utc(cp.CreatedAt)
	return cp, nil
}

// qPruneLock locks the head of the chain, as an append does, so pruning and
// appending take turns, and two pruners too. qPruneCheck then reads, in a
// statement of its own (READ COMMITTED: a snapshot taken after the lock was
// granted), the stored checkpoint's seq (0 when none) and the hash of entry
// $1 (NULL when there is none).
const (
	qPruneLock  = `SELECT seq FROM audit_head FOR UPDATE`
	qPruneCheck = `SELECT COALESCE((SELECT seq FROM audit_checkpoint), 0), (SELECT hash FROM audit WHERE seq = $1)`
)

// PruneAudit deletes the entries up to cp.Seq behind the checkpoint cp, in
// one transaction.
func (s *Store) PruneAudit(ctx context.Context, prevSeq int64, cp store.AuditCheckpoint) (int, error) {
	if cp.Seq <= prevSeq {
		return 0, fmt.Errorf("prune audit to %d: %w: not after the checkpoint at %d", cp.Seq, store.ErrConflict, prevSeq)
	}
	var n int64
	err := s.inTx(ctx, func(ctx context.Context, tx *txn) error {
		var (
			head, stored int64
			hash         *string
		)
		b := tx.batch()
		b.Queue(qPruneLock).QueryRow(func(row pgx.Row) error { return row.Scan(&head) })
		b.Queue(qPruneCheck, cp.Seq).QueryRow(func(row pgx.Row) error { return row.Scan(&stored, &hash) })
		if err := tx.send(ctx, b); err != nil {
			return err
		}
		switch {
		case stored != prevSeq:
			return fmt.Errorf("%w: the checkpoint is at %d, not %d", store.ErrConflict, stored, prevSeq)
		case hash == nil:
			return fmt.Errorf("%w: no entry %d", store.ErrConflict, cp.Seq)
		case *hash != cp.Hash:
			return fmt.Errorf("%w: entry %d has another hash", store.ErrConflict, cp.Seq)
		case cp.Seq >= head:
			return fmt.Errorf("%w: entry %d is the head of the chain", store.ErrConflict, cp.Seq)
		}
		b = tx.batch()
		b.Queue(`DELETE FROM audit WHERE seq <= $1`, cp.Seq).Exec(func(ct pgconn.CommandTag) error {
			n = ct.RowsAffected()
			return nil
		})
		// The checkpoint, signed too, stands for the heads it covers.
		b.Queue(`DELETE FROM audit_heads WHERE seq <= $1`, cp.Seq)
		b.Queue(`INSERT INTO audit_checkpoint (one, seq, hash, count, created_at, key_id, signature)
VALUES (true, $1, $2, $3, $4, $5, $6)
ON CONFLICT (one) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, count = excluded.count,
	created_at = excluded.created_at, key_id = excluded.key_id, signature = excluded.signature`,
			cp.Seq, cp.Hash, cp.Count, ts(cp.CreatedAt), cp.KeyID, cp.Signature)
		return tx.commit(ctx, b)
	})
	if err != nil {
		return 0, fmt.Errorf("prune audit to %d: %w", cp.Seq, err)
	}
	return int(n), nil
}
