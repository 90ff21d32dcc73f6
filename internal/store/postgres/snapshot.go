package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/blackwellio/blackwell/internal/store"
)

const snapshotColumns = `id, client_id, stack_id, state_version, desired_hash, components, reconciliation_id, taken_at, confirmed_at`

func scanSnapshot(row pgx.Row) (store.Snapshot, error) {
	var (
		s     store.Snapshot
		comps string
	)
	if err := row.Scan(&s.ID, &s.ClientID, &s.StackID, &s.Version, &s.DesiredHash, &comps, &s.ReconciliationID, &s.TakenAt, &s.ConfirmedAt); err != nil {
		return store.Snapshot{}, translate(err)
	}
	c, err := store.SnapshotComponentsOf(comps)
	if err != nil {
		return store.Snapshot{}, fmt.Errorf("snapshot %s: %w", s.ID, err)
	}
	s.Components, s.TakenAt, s.ConfirmedAt = c, utc(s.TakenAt), utc(s.ConfirmedAt)
	return s, nil
}

// PutSnapshot inserts a snapshot or confirms a known one, and prunes the
// stack's oldest beyond store.MaxSnapshots, in one transaction. Each
// verified pass records one (every stack's first pass after a start), right
// after its commit: it joins the transaction of the next batch of passes
// (passWrite.snap), or runs alone when no pass is committing.
func (s *Store) PutSnapshot(ctx context.Context, snap store.Snapshot) (store.Snapshot, error) {
	if err := store.CheckSnapshot(snap); err != nil {
		return store.Snapshot{}, fmt.Errorf("put snapshot: %w", err)
	}
	comps, err := store.SnapshotComponentsJSON(snap.Components)
	if err != nil {
		return store.Snapshot{}, fmt.Errorf("put snapshot: %w", err)
	}
	if snap.ConfirmedAt.IsZero() {
		snap.ConfirmedAt = snap.TakenAt
	}
	w := &snapshotWrite{snap: snap, comps: comps}
	if _, err := s.passQ.do(ctx, &passWrite{snap: w}); err != nil {
		return store.Snapshot{}, fmt.Errorf("put snapshot %s: %w", snap.ID, translate(err))
	}
	return w.out, nil
}

// snapshotWrite is one PutSnapshot call, checked and encoded.
type snapshotWrite struct {
	snap  store.Snapshot
	comps string
	// Set by a transaction that wrote it, or failed to.
	out store.Snapshot
	err error
}

// snapshotTx writes snapshots in a transaction of their own.
func (s *Store) snapshotTx(ctx context.Context, ws []*snapshotWrite) error {
	return s.inTx(ctx, func(ctx context.Context, tx *txn) error {
		b := tx.batch()
		queueSnapshots(b, ws)
		return tx.commit(ctx, b)
	})
}

// queueSnapshots queues the writes of snapshots (none: nothing), two
// statements: all are inserted or confirmed, then their stacks pruned. The
// snapshot a hold pins is kept (a heal of the pinned stack restores it).
// Rows go in by stack, so that two transactions (of two replicas during a
// handover) meet the same stack's rows in the same order. Two snapshots of
// one id fail the statement (ON CONFLICT cannot change a row twice), and
// with it the transaction, whose writes are then run alone.
func queueSnapshots(b *pgx.Batch, ws []*snapshotWrite) {
	if len(ws) == 0 {
		return
	}
	ws = slices.Clone(ws)
	slices.SortStableFunc(ws, func(a, b *snapshotWrite) int {
		return cmp.Or(strings.Compare(a.snap.ClientID, b.snap.ClientID), strings.Compare(a.snap.StackID, b.snap.StackID))
	})
	n := len(ws)
	ids, clients, stacks, versions, hashes, comps, recs := make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	taken, confirmed := make([]time.Time, n), make([]time.Time, n)
	byID := make(map[string]*snapshotWrite, n)
	for i, w := range ws {
		snap := w.snap
		ids[i], clients[i], stacks[i], versions[i], hashes[i] = snap.ID, snap.ClientID, snap.StackID, snap.Version, snap.DesiredHash
		comps[i], recs[i], taken[i], confirmed[i] = w.comps, snap.ReconciliationID, ts(snap.TakenAt), ts(snap.ConfirmedAt)
		byID[snap.ID] = w
	}
	b.Queue(`INSERT INTO snapshots (`+snapshotColumns+`)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
	$8::timestamptz[], $9::timestamptz[])
ON CONFLICT (id) DO UPDATE SET confirmed_at = GREATEST(snapshots.confirmed_at, excluded.confirmed_at)
RETURNING `+snapshotColumns,
		ids, clients, stacks, versions, hashes, comps, recs, taken, confirmed).Query(func(rows pgx.Rows) error {
		defer rows.Close()
		written := 0
		for rows.Next() {
			got, err := scanSnapshot(rows)
			if err != nil {
				return err
			}
			w := byID[got.ID]
			if w == nil {
				return fmt.Errorf("snapshot %s: not in the batch", got.ID)
			}
			w.out = got
			written++
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if written != n {
			return fmt.Errorf("snapshots: %d of %d written", written, n)
		}
		return nil
	})
	b.Queue(`DELETE FROM snapshots d USING (
	SELECT old.id FROM (SELECT DISTINCT * FROM unnest($1::text[], $2::text[]) AS k(client_id, stack_id)) k
	CROSS JOIN LATERAL (SELECT id FROM snapshots WHERE client_id = k.client_id AND stack_id = k.stack_id
		ORDER BY taken_at DESC, id DESC OFFSET $3) old) gone
WHERE d.id = gone.id AND d.id IS DISTINCT FROM (
	SELECT hold::jsonb->>'snapshot' FROM states WHERE client_id = d.client_id AND stack_id = d.stack_id AND hold != '')`,
		clients, stacks, store.MaxSnapshots)
}

// GetSnapshot returns a snapshot by id.
func (s *Store) GetSnapshot(ctx context.Context, id string) (store.Snapshot, error) {
	snap, err := scanSnapshot(s.pool.QueryRow(ctx, `SELECT `+snapshotColumns+` FROM snapshots WHERE id = $1`, id))
	if err != nil {
		return store.Snapshot{}, fmt.Errorf("get snapshot %s: %w", id, err)
	}
	return snap, nil
}

// ListSnapshots lists a stack's snapshots, newest first.
func (s *Store) ListSnapshots(ctx context.Context, clientID, stackID string) ([]store.Snapshot, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+snapshotColumns+` FROM snapshots
WHERE client_id = $1 AND stack_id = $2 ORDER BY taken_at DESC, id DESC`, clientID, stackID)
	out := []store.Snapshot{}
	for rows.Next() {
		snap, err := scanSnapshot(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("list snapshots of %s/%s: %w", clientID, stackID, err)
		}
		out = append(out, snap)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list snapshots of %s/%s: %w", clientID, stackID, translate(err))
	}
	return out, nil
}

const rollbackColumns = `id, client_id, stack_id, snapshot_id, restored_version, new_version, hold, triggered_by, status, steps, error, started_at, updated_at`

func scanRollback(row pgx.Row) (store.RollbackRecord, error) {
	var (
		r                store.RollbackRecord
		steps            string
		started, updated time.Time
	)
	if err := row.Scan(&r.ID, &r.ClientID, &r.StackID, &r.SnapshotID, &r.RestoredVersion, &r.NewVersion, &r.Hold,
		&r.By, &r.Status, &steps, &r.Error, &started, &updated); err != nil {
		return store.RollbackRecord{}, translate(err)
	}
	st, err := store.RollbackStepsOf(steps)
	if err != nil {
		return store.RollbackRecord{}, fmt.Errorf("rollback %s: %w", r.ID, err)
	}
	r.Steps, r.StartedAt, r.UpdatedAt = st, utc(started), utc(updated)
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
	_, err = s.pool.Exec(ctx, `INSERT INTO rollbacks (`+rollbackColumns+`)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT (id) DO UPDATE SET new_version = excluded.new_version, status = excluded.status,
	steps = excluded.steps, error = excluded.error, updated_at = excluded.updated_at`,
		r.ID, r.ClientID, r.StackID, r.SnapshotID, r.RestoredVersion, r.NewVersion, r.Hold, r.By, r.Status,
		steps, r.Error, ts(r.StartedAt), ts(r.UpdatedAt))
	if err != nil {
		return fmt.Errorf("put rollback %s: %w", r.ID, translate(err))
	}
	return nil
}

// ListRollbacks lists rollback records, newest first.
func (s *Store) ListRollbacks(ctx context.Context, clientID, stackID string, running bool) ([]store.RollbackRecord, error) {
	var p params
	if clientID != "" {
		p.where(`client_id = ` + p.add(clientID))
	}
	if stackID != "" {
		p.where(`stack_id = ` + p.add(stackID))
	}
	if running {
		p.where(`status = ` + p.add(store.RollbackRunning))
	}
	rows, _ := s.pool.Query(ctx, `SELECT `+rollbackColumns+` FROM rollbacks`+p.clause()+
		` ORDER BY started_at DESC, id DESC`, p.args...)
	out := []store.RollbackRecord{}
	for rows.Next() {
		r, err := scanRollback(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("list rollbacks: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list rollbacks: %w", translate(err))
	}
	return out, nil
}
