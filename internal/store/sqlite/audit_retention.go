package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/blackwellio/blackwell/internal/store"
)

// AuditCheckpoint returns the latest checkpoint, or store.ErrNotFound.
func (s *Store) AuditCheckpoint(ctx context.Context) (store.AuditCheckpoint, error) {
	st, err := s.read(ctx, `SELECT seq, hash, count, created_at, key_id, signature FROM audit_checkpoint`)
	if err != nil {
		return store.AuditCheckpoint{}, fmt.Errorf("read audit checkpoint: %w", err)
	}
	cp, err := scanCheckpoint(st.QueryRowContext(ctx))
	if err != nil {
		return store.AuditCheckpoint{}, fmt.Errorf("read audit checkpoint: %w", err)
	}
	return cp, nil
}

func scanCheckpoint(row scanner) (store.AuditCheckpoint, error) {
	var (
		cp      store.AuditCheckpoint
		created int64
	)
	if err := row.Scan(&cp.Seq, &cp.Hash, &cp.Count, &created, &cp.KeyID, &cp.Signature); err != nil {
		return store.AuditCheckpoint{}, translate(err)
	}
	cp.CreatedAt = fromMicros(created)
	return cp, nil
}

// PruneAudit deletes the entries up to cp.Seq behind the checkpoint cp, in
// one transaction (the writer's lock keeps appends out meanwhile).
func (s *Store) PruneAudit(ctx context.Context, prevSeq int64, cp store.AuditCheckpoint) (int, error) {
	if cp.Seq <= prevSeq {
		return 0, fmt.Errorf("prune audit to %d: %w: not after the checkpoint at %d", cp.Seq, store.ErrConflict, prevSeq)
	}
	cp.CreatedAt = store.Truncate(cp.CreatedAt)
	var n int64
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var stored int64
		err := tx.QueryRowContext(ctx, `SELECT seq FROM audit_checkpoint`).Scan(&stored)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if stored != prevSeq {
			return fmt.Errorf("%w: the checkpoint is at %d, not %d", store.ErrConflict, stored, prevSeq)
		}
		var hash string
		var head int64
		err = tx.QueryRowContext(ctx, `SELECT hash, (SELECT max(seq) FROM audit) FROM audit WHERE seq = ?`, cp.Seq).Scan(&hash, &head)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: no entry %d", store.ErrConflict, cp.Seq)
		}
		if err != nil {
			return err
		}
		if hash != cp.Hash {
			return fmt.Errorf("%w: entry %d has another hash", store.ErrConflict, cp.Seq)
		}
		if cp.Seq >= head {
			return fmt.Errorf("%w: entry %d is the head of the chain", store.ErrConflict, cp.Seq)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM audit WHERE seq <= ?`, cp.Seq)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		// The checkpoint, signed too, stands for the heads it covers.
		if _, err := tx.ExecContext(ctx, `DELETE FROM audit_heads WHERE seq <= ?`, cp.Seq); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO audit_checkpoint (one, seq, hash, count, created_at, key_id, signature)
VALUES (1, ?, ?, ?, ?, ?, ?)
ON CONFLICT (one) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, count = excluded.count,
	created_at = excluded.created_at, key_id = excluded.key_id, signature = excluded.signature`,
			cp.Seq, cp.Hash, cp.Count, micros(cp.CreatedAt), cp.KeyID, cp.Signature)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune audit to %d: %w", cp.Seq, err)
	}
	return int(n), nil
}
