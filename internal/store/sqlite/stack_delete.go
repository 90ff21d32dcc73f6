package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/store"
)

// DeleteStack removes a stack, closing what was open about it, in one
// transaction (store.Store.DeleteStack).
func (s *Store) DeleteStack(ctx context.Context, d store.StackDeletion) (store.StackDeleted, error) {
	var out store.StackDeleted
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		out = store.StackDeleted{ClientID: d.ClientID, StackID: d.StackID, Drifts: []drift.Drift{},
			HealsCancelled: []string{}, ApprovalsClosed: []string{}}
		at := micros(d.At)
		err := tx.QueryRowContext(ctx, `DELETE FROM states WHERE client_id = ? AND stack_id = ? RETURNING state_version, desired_hash`,
			d.ClientID, d.StackID).Scan(&out.StateVersion, &out.DesiredHash)
		if err != nil {
			return translate(err)
		}
		rows, err := tx.QueryContext(ctx, `UPDATE drifts SET resolved_at = ?
WHERE client_id = ? AND stack_id = ? AND resolved_at IS NULL RETURNING `+driftColumns, at, d.ClientID, d.StackID)
		if err != nil {
			return fmt.Errorf("resolve drifts: %w", err)
		}
		for rows.Next() {
			dr, err := scanDrift(rows)
			if err != nil {
				rows.Close()
				return err
			}
			out.Drifts = append(out.Drifts, dr)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if out.HealsCancelled, err = returnedIDs(ctx, tx, `UPDATE heals SET status = ?, completed_at = ?, detail = ?
WHERE client_id = ? AND stack_id = ? AND status = ? RETURNING id`,
			string(store.HealCancelled), at, store.StackDeletedReason, d.ClientID, d.StackID, string(store.HealPending)); err != nil {
			return fmt.Errorf("cancel heals: %w", err)
		}
		if out.ApprovalsClosed, err = returnedIDs(ctx, tx, `UPDATE approvals SET status = ?, decided_at = ?, decided_by = ?, reason = ?
WHERE client_id = ? AND stack_id = ? AND status = ? RETURNING id`,
			string(store.ApprovalRejected), at, d.By, store.StackDeletedReason, d.ClientID, d.StackID, string(store.ApprovalPending)); err != nil {
			return fmt.Errorf("close approvals: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE forecasts SET cleared_at = ? WHERE client_id = ? AND stack_id = ? AND cleared_at IS NULL`,
			at, d.ClientID, d.StackID); err != nil {
			return fmt.Errorf("clear forecasts: %w", err)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM policies WHERE client_id = ? AND stack_id = ?`, d.ClientID, d.StackID)
		if err != nil {
			return fmt.Errorf("delete policy: %w", err)
		}
		n, _ := res.RowsAffected()
		out.PolicyDeleted = n > 0
		if d.Audit != nil {
			entries := d.Audit(out)
			if err := store.CheckAudit(entries); err != nil {
				return err
			}
			if _, err := s.appendAudit(ctx, tx, entries); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return store.StackDeleted{}, fmt.Errorf("delete stack %s/%s: %w", d.ClientID, d.StackID, err)
	}
	return out, nil
}

// returnedIDs runs an UPDATE ... RETURNING id and collects the ids.
func returnedIDs(ctx context.Context, tx *sql.Tx, q string, args ...any) ([]string, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ids := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
