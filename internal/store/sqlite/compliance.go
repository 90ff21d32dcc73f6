package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/blackwellio/blackwell/internal/store"
)

// PutOrganizationPolicy replaces the organisation's policy.
func (s *Store) PutOrganizationPolicy(ctx context.Context, p store.OrganizationPolicyRecord) error {
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO organization_policy (one, name, document, updated_at) VALUES (1, ?, ?, ?)
ON CONFLICT (one) DO UPDATE SET name = excluded.name, document = excluded.document, updated_at = excluded.updated_at`,
			p.Name, string(p.Document), micros(p.UpdatedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("put organization policy: %w", translate(err))
	}
	return nil
}

// SwapOrganizationPolicy replaces the organisation's policy if it is
// still old.
func (s *Store) SwapOrganizationPolicy(ctx context.Context, old, p store.OrganizationPolicyRecord) error {
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE organization_policy SET name = ?, document = ?, updated_at = ?
WHERE one = 1 AND name = ? AND document = ?`, p.Name, string(p.Document), micros(p.UpdatedAt), old.Name, string(old.Document))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("%w: the organization policy changed since it was read", store.ErrConflict)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("swap organization policy: %w", translate(err))
	}
	return nil
}

// GetOrganizationPolicy returns the organisation's policy, or ErrNotFound.
func (s *Store) GetOrganizationPolicy(ctx context.Context) (store.OrganizationPolicyRecord, error) {
	var (
		p   store.OrganizationPolicyRecord
		doc string
		at  int64
	)
	err := s.reader.QueryRowContext(ctx, `SELECT name, document, updated_at FROM organization_policy WHERE one = 1`).Scan(&p.Name, &doc, &at)
	if err != nil {
		return store.OrganizationPolicyRecord{}, fmt.Errorf("get organization policy: %w", translate(err))
	}
	p.Document, p.UpdatedAt = []byte(doc), fromMicros(at)
	return p, nil
}

const complianceColumns = `seq, client_id, stack_id, rule, mode, status, message, started_at, ended_at`

func scanCompliance(row scanner) (store.ComplianceSegment, error) {
	var (
		c       store.ComplianceSegment
		started int64
		ended   sql.NullInt64
	)
	if err := row.Scan(&c.Seq, &c.ClientID, &c.StackID, &c.Rule, &c.Mode, &c.Status, &c.Message, &started, &ended); err != nil {
		return store.ComplianceSegment{}, translate(err)
	}
	c.StartedAt, c.EndedAt = fromMicros(started), fromNullMicros(ended)
	return c, nil
}

// RecordCompliance writes one evaluation of a stack (store.PlanCompliance).
func (s *Store) RecordCompliance(ctx context.Context, w store.ComplianceWrite) (int, error) {
	if err := store.CheckComplianceWrite(w); err != nil {
		return 0, err
	}
	// The common case changes nothing: judge it from the reader first.
	open, err := s.openCompliance(ctx, s.reader, w.ClientID, w.StackID)
	if err != nil {
		return 0, err
	}
	if store.PlanCompliance(open, w).Empty() {
		return 0, nil
	}
	n := 0
	err = s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		open, err := s.openCompliance(ctx, tx, w.ClientID, w.StackID)
		if err != nil {
			return err
		}
		plan := store.PlanCompliance(open, w)
		for _, seq := range plan.Close {
			if _, err := tx.ExecContext(ctx, `UPDATE compliance SET ended_at = ? WHERE seq = ? AND ended_at IS NULL`, micros(w.At), seq); err != nil {
				return err
			}
		}
		for _, c := range plan.Open {
			if _, err := tx.ExecContext(ctx, `INSERT INTO compliance (client_id, stack_id, rule, mode, status, message, started_at)
VALUES (?, ?, ?, ?, ?, ?, ?)`, c.ClientID, c.StackID, c.Rule, c.Mode, c.Status, c.Message, micros(c.StartedAt)); err != nil {
				return err
			}
		}
		n = len(plan.Close) + len(plan.Open)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("record compliance %s/%s: %w", w.ClientID, w.StackID, translate(err))
	}
	return n, nil
}

// querier is a reader or a transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func (s *Store) openCompliance(ctx context.Context, q querier, clientID, stackID string) ([]store.ComplianceSegment, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+complianceColumns+` FROM compliance
WHERE client_id = ? AND stack_id = ? AND ended_at IS NULL ORDER BY seq`, clientID, stackID)
	if err != nil {
		return nil, fmt.Errorf("read compliance of %s/%s: %w", clientID, stackID, err)
	}
	return collectCompliance(rows)
}

func collectCompliance(rows *sql.Rows) ([]store.ComplianceSegment, error) {
	defer rows.Close()
	var out []store.ComplianceSegment
	for rows.Next() {
		c, err := scanCompliance(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// ListCompliance lists segments by seq.
func (s *Store) ListCompliance(ctx context.Context, q store.ComplianceQuery) ([]store.ComplianceSegment, store.Page, error) {
	var f filter
	if q.ClientID != "" {
		f.and(`client_id = ?`, q.ClientID)
	}
	if q.StackID != "" {
		f.and(`stack_id = ?`, q.StackID)
	}
	if q.OpenOnly {
		f.and(`ended_at IS NULL`)
	}
	if !q.From.IsZero() {
		f.and(`(ended_at IS NULL OR ended_at > ?)`, micros(q.From))
	}
	if !q.To.IsZero() {
		f.and(`started_at < ?`, micros(q.To))
	}
	if q.Cursor != "" {
		var seq int64
		if err := store.DecodeCursor(q.Cursor, &seq); err != nil {
			return nil, "", fmt.Errorf("list compliance: %w", err)
		}
		f.and(`seq > ?`, seq)
	}
	limit := store.PageLimit(q.Limit)
	f.args = append(f.args, limit+1)
	rows, err := s.reader.QueryContext(ctx, `SELECT `+complianceColumns+` FROM compliance`+f.clause()+` ORDER BY seq LIMIT ?`, f.args...)
	if err != nil {
		return nil, "", fmt.Errorf("list compliance: %w", err)
	}
	out, err := collectCompliance(rows)
	if err != nil {
		return nil, "", fmt.Errorf("list compliance: %w", err)
	}
	out, next := store.NextPage(out, limit, store.ComplianceKey)
	return out, next, nil
}
