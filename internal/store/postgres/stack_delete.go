package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/store"
)

// errNoStack stops a deletion whose stack does not exist.
var errNoStack = errors.New("no such stack")

// DeleteStack removes a stack, closing what was open about it, in one
// transaction (store.Store.DeleteStack): one batch removes and closes,
// then the audit entries are chained after the head it reserves.
func (s *Store) DeleteStack(ctx context.Context, d store.StackDeletion) (store.StackDeleted, error) {
	var out store.StackDeleted
	err := s.inTx(ctx, func(ctx context.Context, t *txn) error {
		out = store.StackDeleted{ClientID: d.ClientID, StackID: d.StackID, Drifts: []drift.Drift{},
			HealsCancelled: []string{}, ApprovalsClosed: []string{}}
		at := ts(d.At)
		b := t.batch()
		b.Queue(`DELETE FROM states WHERE client_id = $1 AND stack_id = $2 RETURNING state_version, desired_hash`,
			d.ClientID, d.StackID).QueryRow(func(row pgx.Row) error {
			err := row.Scan(&out.StateVersion, &out.DesiredHash)
			if errors.Is(err, pgx.ErrNoRows) {
				return errNoStack
			}
			return err
		})
		b.Queue(`UPDATE drifts SET resolved_at = $1 WHERE client_id = $2 AND stack_id = $3 AND resolved_at IS NULL
RETURNING `+driftColumns, at, d.ClientID, d.StackID).Query(func(rows pgx.Rows) error {
			var err error
			out.Drifts, err = pgx.AppendRows(out.Drifts, rows, func(row pgx.CollectableRow) (drift.Drift, error) { return scanDrift(row) })
			return err
		})
		collect := func(ids *[]string) func(pgx.Rows) error {
			return func(rows pgx.Rows) error {
				var err error
				*ids, err = pgx.AppendRows(*ids, rows, pgx.RowTo[string])
				return err
			}
		}
		b.Queue(`UPDATE heals SET status = $1, completed_at = $2, detail = $3
WHERE client_id = $4 AND stack_id = $5 AND status = $6 RETURNING id`,
			string(store.HealCancelled), at, store.StackDeletedReason, d.ClientID, d.StackID, string(store.HealPending)).
			Query(collect(&out.HealsCancelled))
		b.Queue(`UPDATE approvals SET status = $1, decided_at = $2, decided_by = $3, reason = $4
WHERE client_id = $5 AND stack_id = $6 AND status = $7 RETURNING id`,
			string(store.ApprovalRejected), at, d.By, store.StackDeletedReason, d.ClientID, d.StackID, string(store.ApprovalPending)).
			Query(collect(&out.ApprovalsClosed))
		b.Queue(`UPDATE forecasts SET cleared_at = $1 WHERE client_id = $2 AND stack_id = $3 AND cleared_at IS NULL`,
			at, d.ClientID, d.StackID).Exec(func(pgconn.CommandTag) error { return nil })
		b.Queue(`DELETE FROM policies WHERE client_id = $1 AND stack_id = $2`, d.ClientID, d.StackID).
			Exec(func(ct pgconn.CommandTag) error {
				out.PolicyDeleted = ct.RowsAffected() > 0
				return nil
			})
		var entries []store.AuditEntry
		if d.Audit == nil {
			return t.send(ctx, b)
		}
		if err := t.send(ctx, b); err != nil {
			return err
		}
		entries = d.Audit(out)
		if err := store.CheckAudit(entries); err != nil {
			return err
		}
		if len(entries) == 0 {
			return nil
		}
		var head auditHead
		b = t.batch()
		head.queue(b, len(entries))
		if err := t.send(ctx, b); err != nil {
			return err
		}
		b = t.batch()
		s.queueAudit(b, head, entries)
		return t.commit(ctx, b)
	})
	if errors.Is(err, errNoStack) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.StackDeleted{}, fmt.Errorf("delete stack %s/%s: %w", d.ClientID, d.StackID, translate(err))
	}
	return out, nil
}
