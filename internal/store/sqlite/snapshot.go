package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/blackwellio/blackwell/internal/store"
)

const snapshotColumns = `id, client_id, stack_id, state_version, desired_hash, components, reconciliation_id, taken_at, confirmed_at`

func scanSnapshot(row scanner) (store.Snapshot, error) {
	var (
		s                store.Snapshot
		comps            string
		taken, confirmed int64
	)
	if err := row.Scan(&s.ID, &s.ClientID, &s.StackID, &s.Version, &s.DesiredHash, &comps, &s.ReconciliationID, &taken, &confirmed); err != nil {
		return store.Snapshot{}, translate(err)
	}
	c, err := store.SnapshotComponentsOf(comps)
	if err != nil {
		return store.Snapshot{}, fmt.Errorf("snapshot %s: %w", s.ID, err)
	}
	s.Components, s.TakenAt, s.ConfirmedAt = c, fromMicros(taken), fromMicros(confirmed)
	return s, nil
}

// PutSnapshot inserts a snapshot or confirms a known one, and prunes the
// stack's oldest beyond store.MaxSnapshots, in one transaction.
func (s *Store) PutSnapshot(ctx context.Context, snap store.Snapshot) (store.Snapshot, error) {
	if err := store.CheckSnapshot(snap); err != nil {
		return store.Snapshot{}, fmt.Errorf("put snapshot: %w", err)
	}
	comps, err := store.SnapshotComponentsJSON(snap.Components)
	if err != nil {
		return store.Snapshot{}, fmt.Errorf("put snapshot: %w", err)
	}
	confirmed := snap.ConfirmedAt
	if confirmed.IsZero() {
		confirmed = snap.TakenAt
	}
	var out store.Snapshot
	err = s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		got, err := scanSnapshot(tx.QueryRowContext(ctx, `INSERT INTO snapshots (`+snapshotColumns+`)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET confirmed_at = max(confirmed_at, excluded.confirmed_at)
RETURNING `+snapshotColumns,
			snap.ID, snap.ClientID, snap.StackID, snap.Version, snap.DesiredHash, comps, snap.ReconciliationID,
			micros(snap.TakenAt), micros(confirmed)))
		if err != nil {
			return err
		}
		out = got
		// The snapshot a hold pins is kept (a heal of the pinned stack
		// restores it).
		_, err = tx.ExecContext(ctx, `DELETE FROM snapshots WHERE client_id = ? AND stack_id = ? AND id NOT IN (
	SELECT id FROM snapshots WHERE client_id = ? AND stack_id = ? ORDER BY taken_at DESC, id DESC LIMIT ?)
AND id IS NOT (SELECT json_extract(hold, '$.snapshot') FROM states WHERE client_id = ? AND stack_id = ? AND hold != '')`,
			snap.ClientID, snap.StackID, snap.ClientID, snap.StackID, store.MaxSnapshots, snap.ClientID, snap.StackID)
		return err
	})
	if err != nil {
		return store.Snapshot{}, fmt.Errorf("put snapshot %s: %w", snap.ID, err)
	}
	return out, nil
}

// GetSnapshot returns a snapshot by id.
func (s *Store) GetSnapshot(ctx context.Context, id string) (store.Snapshot, error) {
	snap, err := scanSnapshot(s.reader.QueryRowContext(ctx, `SELECT `+snapshotColumns+` FROM snapshots WHERE id = ?`, id))
	if err != nil {
		return store.Snapshot{}, fmt.Errorf("get snapshot %s: %w", id, err)
	}
	return snap, nil
}

// ListSnapshots lists a stack's snapshots, newest first.
func (s *Store) ListSnapshots(ctx context.Context, clientID, stackID string) ([]store.Snapshot, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT `+snapshotColumns+` FROM snapshots
WHERE client_id = ? AND stack_id = ? ORDER BY taken_at DESC, id DESC`, clientID, stackID)
	if err != nil {
		return nil, fmt.Errorf("list snapshots of %s/%s: %w", clientID, stackID, err)
	}
	defer rows.Close()
	out := []store.Snapshot{}
	for rows.Next() {
		snap, err := scanSnapshot(rows)
		if err != nil {
			return nil, fmt.Errorf("list snapshots of %s/%s: %w", clientID, stackID, err)
		}
		out = append(out, snap)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list snapshots of %s/%s: %w", clientID, stackID, err)
	}
	return out, nil
}

const rollbackColumns = `id, client_id, stack_id, snapshot_id, restored_version, new_version, hold, triggered_by, status, steps, error, started_at, updated_at`

func scanRollback(row scanner) (store.RollbackRecord, error) {
	var (
		r                store.RollbackRecord
		steps            string
		started, updated int64
	)
	if err := row.Scan(&r.ID, &r.ClientID, &r.StackID, &r.SnapshotID, &r.RestoredVersion, &r.NewVersion, &r.Hold,
		&r.By, &r.Status, &steps, &r.Error, &started, &updated); err != nil {
		return store.RollbackRecord{}, translate(err)
	}
	st, err := store.RollbackStepsOf(steps)
	if err != nil {
		return store.RollbackRecord{}, fmt.Errorf("rollback %s: %w", r.ID, err)
	}
	r.Steps, r.StartedAt, r.UpdatedAt = st, fromMicros(started), fromMicros(updated)
	return r, nil
}

// PutRollback upserts a rollback record.
func (s *Store) PutRollback(ctx context.Context, r store.RollbackRecord) error {
	if err := store.CheckRollback(r); err != nil {
		return fmt.Errorf("put rollback: %w", err)
	}
	steps, err := store.RollbackStepsJSON(r.Steps)
	if err != nil {
		return fmt.Errorf("put rollback: %w", err)
	}
	err = s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO rollbacks (`+rollbackColumns+`)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET new_version = excluded.new_version, status = excluded.status,
	steps = excluded.steps, error = excluded.error, updated_at = excluded.updated_at`,
			r.ID, r.ClientID, r.StackID, r.SnapshotID, r.RestoredVersion, r.NewVersion, r.Hold, r.By, r.Status,
			steps, r.Error, micros(r.StartedAt), micros(r.UpdatedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("put rollback %s: %w", r.ID, err)
	}
	return nil
}

// ListRollbacks lists rollback records, newest first.
func (s *Store) ListRollbacks(ctx context.Context, clientID, stackID string, running bool) ([]store.RollbackRecord, error) {
	var f filter
	if clientID != "" {
		f.and(`client_id = ?`, clientID)
	}
	if stackID != "" {
		f.and(`stack_id = ?`, stackID)
	}
	if running {
		f.and(`status = ?`, store.RollbackRunning)
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT `+rollbackColumns+` FROM rollbacks`+f.clause()+
		` ORDER BY started_at DESC, id DESC`, f.args...)
	if err != nil {
		return nil, fmt.Errorf("list rollbacks: %w", err)
	}
	defer rows.Close()
	out := []store.RollbackRecord{}
	for rows.Next() {
		r, err := scanRollback(rows)
		if err != nil {
			return nil, fmt.Errorf("list rollbacks: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list rollbacks: %w", err)
	}
	return out, nil
}
