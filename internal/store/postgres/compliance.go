package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/blackwellio/blackwell/internal/store"
)

// PutOrganizationPolicy replaces the organisation's policy.
func (s *Store) PutOrganizationPolicy(ctx context.Context, p store.OrganizationPolicyRecord) error {
	err := s.retry(ctx, func() error {
		_, err := s.pool.Exec(ctx, `INSERT INTO organization_policy (one, name, document, updated_at) VALUES (true, $1, $2, $3)
ON CONFLICT (one) DO UPDATE SET name = excluded.name, document = excluded.document, updated_at = excluded.updated_at`,
			p.Name, string(p.Document), ts(p.UpdatedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("put organization policy: %w", translate(err))
	}
	return nil
}

// SwapOrganizationPolicy replaces the organisation's policy if it is
// still old (one conditional UPDATE: a concurrent one waits for the row
// lock and then finds the document changed).
func (s *Store) SwapOrganizationPolicy(ctx context.Context, old, p store.OrganizationPolicyRecord) error {
	err := s.retry(ctx, func() error {
		tag, err := s.pool.Exec(ctx, `UPDATE organization_policy SET name = $1, document = $2, updated_at = $3
WHERE one AND name = $4 AND document = $5`, p.Name, string(p.Document), ts(p.UpdatedAt), old.Name, string(old.Document))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
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
	)
	err := s.pool.QueryRow(ctx, `SELECT name, document, updated_at FROM organization_policy WHERE one`).Scan(&p.Name, &doc, &p.UpdatedAt)
	if err != nil {
		return store.OrganizationPolicyRecord{}, fmt.Errorf("get organization policy: %w", translate(err))
	}
	p.Document, p.UpdatedAt = []byte(doc), utc(p.UpdatedAt)
	return p, nil
}

const complianceColumns = `seq, client_id, stack_id, rule, mode, status, message, started_at, ended_at`

func scanCompliance(row pgx.CollectableRow) (store.ComplianceSegment, error) {
	return scanComplianceRow(row)
}

func scanComplianceRow(row interface{ Scan(...any) error }) (store.ComplianceSegment, error) {
	var (
		c     store.ComplianceSegment
		ended *time.Time
	)
	if err := row.Scan(&c.Seq, &c.ClientID, &c.StackID, &c.Rule, &c.Mode, &c.Status, &c.Message, &c.StartedAt, &ended); err != nil {
		return store.ComplianceSegment{}, translate(err)
	}
	c.StartedAt, c.EndedAt = utc(c.StartedAt), utcPtr(ended)
	return c, nil
}

// RecordCompliance writes one evaluation of a stack (store.PlanCompliance):
// its open segments are read locked, then the plan is written.
func (s *Store) RecordCompliance(ctx context.Context, w store.ComplianceWrite) (int, error) {
	if err := store.CheckComplianceWrite(w); err != nil {
		return 0, err
	}
	// The common case changes nothing: judge it without a transaction, on
	// a read shared with concurrent calls.
	open, err := s.compQ.do(ctx, stackKey{client: w.ClientID, stack: w.StackID})
	if err != nil {
		return 0, fmt.Errorf("record compliance %s/%s: %w", w.ClientID, w.StackID, err)
	}
	if store.PlanCompliance(open, w).Empty() {
		return 0, nil
	}
	n := 0
	err = s.inTx(ctx, func(ctx context.Context, tx *txn) error {
		var locked []store.ComplianceSegment
		b := tx.batch()
		b.Queue(`SELECT `+complianceColumns+` FROM compliance
WHERE client_id = $1 AND stack_id = $2 AND ended_at IS NULL ORDER BY seq FOR UPDATE`, w.ClientID, w.StackID).
			Query(func(rows pgx.Rows) error {
				var err error
				locked, err = collectRows(rows, scanCompliance)
				return err
			})
		if err := tx.send(ctx, b); err != nil {
			return err
		}
		plan := store.PlanCompliance(locked, w)
		b = tx.batch()
		for _, seq := range plan.Close {
			b.Queue(`UPDATE compliance SET ended_at = $1 WHERE seq = $2 AND ended_at IS NULL`, ts(w.At), seq).
				Exec(func(pgconn.CommandTag) error { return nil })
		}
		for _, c := range plan.Open {
			b.Queue(`INSERT INTO compliance (client_id, stack_id, rule, mode, status, message, started_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)`, c.ClientID, c.StackID, c.Rule, c.Mode, c.Status, c.Message, ts(c.StartedAt)).
				Exec(func(pgconn.CommandTag) error { return nil })
		}
		n = len(plan.Close) + len(plan.Open)
		return tx.commit(ctx, b)
	})
	if err != nil {
		return 0, fmt.Errorf("record compliance %s/%s: %w", w.ClientID, w.StackID, translate(err))
	}
	return n, nil
}

// One flight, as for CommitPass (maxPassFlights).
const (
	maxComplianceFlights = 1
	maxComplianceBatch   = 64
)

const qOpenCompliance = `SELECT k.i, ` + complianceColumns + `
FROM unnest($1::text[], $2::text[]) WITH ORDINALITY k(c, s, i)
JOIN compliance ON client_id = k.c AND stack_id = k.s AND ended_at IS NULL
ORDER BY k.i, seq`

// readOpenCompliance is the compliance group's run: the open segments of
// a batch of stacks in one statement (every pass records compliance after
// it commits, and most records change nothing).
func (s *Store) readOpenCompliance(ctx context.Context, batch []*call[stackKey, []store.ComplianceSegment]) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	clients, stacks := make([]string, len(batch)), make([]string, len(batch))
	for i, c := range batch {
		clients[i], stacks[i] = c.in.client, c.in.stack
	}
	rows, _ := s.pool.Query(ctx, qOpenCompliance, clients, stacks)
	err := func() error {
		defer rows.Close()
		for rows.Next() {
			var i int64
			seg, err := scanComplianceRow(prefixed{rows, &i})
			if err != nil {
				return err
			}
			if i < 1 || int(i) > len(batch) {
				return fmt.Errorf("row for call %d of %d", i, len(batch))
			}
			batch[i-1].out = append(batch[i-1].out, seg)
		}
		return rows.Err()
	}()
	for _, c := range batch {
		if err != nil {
			c.out, c.err = nil, translate(err)
		}
	}
}

// ListCompliance lists segments by seq.
func (s *Store) ListCompliance(ctx context.Context, q store.ComplianceQuery) ([]store.ComplianceSegment, store.Page, error) {
	var p params
	if q.ClientID != "" {
		p.where(`client_id = ` + p.add(q.ClientID))
	}
	if q.StackID != "" {
		p.where(`stack_id = ` + p.add(q.StackID))
	}
	if q.OpenOnly {
		p.where(`ended_at IS NULL`)
	}
	if !q.From.IsZero() {
		p.where(`(ended_at IS NULL OR ended_at > ` + p.add(ts(q.From)) + `)`)
	}
	if !q.To.IsZero() {
		p.where(`started_at < ` + p.add(ts(q.To)))
	}
	if q.Cursor != "" {
		var seq int64
		if err := store.DecodeCursor(q.Cursor, &seq); err != nil {
			return nil, "", fmt.Errorf("list compliance: %w", err)
		}
		p.where(`seq > ` + p.add(seq))
	}
	limit := store.PageLimit(q.Limit)
	rows, _ := s.pool.Query(ctx, `SELECT `+complianceColumns+` FROM compliance`+p.clause()+` ORDER BY seq LIMIT `+p.add(limit+1), p.args...)
	out, err := collectRows(rows, scanCompliance)
	if err != nil {
		return nil, "", fmt.Errorf("list compliance: %w", err)
	}
	out, next := store.NextPage(out, limit, store.ComplianceKey)
	return out, next, nil
}
