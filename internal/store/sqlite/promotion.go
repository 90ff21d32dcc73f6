package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/blackwellio/blackwell/internal/store"
)

// PutPipeline upserts a pipeline document.
func (s *Store) PutPipeline(ctx context.Context, p store.PipelineRecord) error {
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO pipelines (client_id, app, document, updated_at) VALUES (?, ?, ?, ?)
ON CONFLICT (client_id, app) DO UPDATE SET document = excluded.document, updated_at = excluded.updated_at`,
			p.ClientID, p.App, string(p.Document), micros(p.UpdatedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("put pipeline %s/%s: %w", p.ClientID, p.App, err)
	}
	return nil
}

// ListPipelines returns the client's pipelines by app.
func (s *Store) ListPipelines(ctx context.Context, clientID string) ([]store.PipelineRecord, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT client_id, app, document, updated_at FROM pipelines WHERE client_id = ? ORDER BY app`, clientID)
	if err != nil {
		return nil, fmt.Errorf("list pipelines: %w", err)
	}
	defer rows.Close()
	var out []store.PipelineRecord
	for rows.Next() {
		var (
			p   store.PipelineRecord
			doc string
			at  int64
		)
		if err := rows.Scan(&p.ClientID, &p.App, &doc, &at); err != nil {
			return nil, fmt.Errorf("list pipelines: %w", err)
		}
		p.Document, p.UpdatedAt = json.RawMessage(doc), fromMicros(at)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list pipelines: %w", err)
	}
	return out, nil
}

// CreatePromotion writes a new promotion, its approval request and audit.
func (s *Store) CreatePromotion(ctx context.Context, p store.Promotion, approval *store.Approval, audit []store.AuditEntry) (store.Promotion, error) {
	if err := store.CheckPromotion(p); err != nil {
		return store.Promotion{}, fmt.Errorf("create promotion: %w", err)
	}
	p = p.Stored()
	p.Revision = 1
	var out []store.AuditEntry
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		doc, err := json.Marshal(p)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO promotions (id, client_id, app, to_stack, status, unfinished, created_at, revision, document)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, p.ID, p.ClientID, p.App, p.ToStack, string(p.Status), boolInt(p.Status.Unfinished()),
			micros(p.CreatedAt), p.Revision, string(doc)); err != nil {
			if err := translate(err); errors.Is(err, store.ErrConflict) {
				return store.ErrPromotionOpen
			}
			return err
		}
		if approval != nil {
			if _, err := tx.ExecContext(ctx, qInsertApproval, approvalArgs(*approval)...); err != nil {
				return fmt.Errorf("insert approval %s: %w", approval.ID, err)
			}
		}
		out, err = s.appendAudit(ctx, tx, audit)
		return err
	})
	if err != nil {
		return store.Promotion{}, fmt.Errorf("create promotion %s: %w", p.ID, err)
	}
	copy(audit, out)
	return p, nil
}

// UpdatePromotion writes a promotion under its revision, with audit.
func (s *Store) UpdatePromotion(ctx context.Context, p store.Promotion, audit []store.AuditEntry) (store.Promotion, error) {
	if err := store.CheckPromotion(p); err != nil {
		return store.Promotion{}, fmt.Errorf("update promotion: %w", err)
	}
	var out []store.AuditEntry
	next := p.Stored()
	next.Revision = p.Revision + 1
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		doc, err := json.Marshal(next)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE promotions SET status = ?, unfinished = ?, revision = ?, document = ?
WHERE id = ? AND client_id = ? AND revision = ?`, string(p.Status), boolInt(p.Status.Unfinished()), next.Revision, string(doc),
			p.ID, p.ClientID, p.Revision)
		if err != nil {
			return translate(err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			var one int
			if err := tx.QueryRowContext(ctx, `SELECT 1 FROM promotions WHERE id = ? AND client_id = ?`, p.ID, p.ClientID).Scan(&one); err != nil {
				return translate(err)
			}
			return store.ErrConflict
		}
		out, err = s.appendAudit(ctx, tx, audit)
		return err
	})
	if err != nil {
		return store.Promotion{}, fmt.Errorf("update promotion %s: %w", p.ID, err)
	}
	copy(audit, out)
	return next, nil
}

// GetPromotion returns one promotion of the client.
func (s *Store) GetPromotion(ctx context.Context, clientID, id string) (store.Promotion, error) {
	var doc string
	err := s.reader.QueryRowContext(ctx, `SELECT document FROM promotions WHERE id = ? AND client_id = ?`, id, clientID).Scan(&doc)
	if err != nil {
		return store.Promotion{}, fmt.Errorf("get promotion %s: %w", id, translate(err))
	}
	return store.DecodePromotion(doc)
}

// ListPromotions lists promotions newest first by (created_at, id).
func (s *Store) ListPromotions(ctx context.Context, q store.PromotionQuery) ([]store.Promotion, store.Page, error) {
	var f filter
	switch {
	case q.ClientID != "":
		f.and(`client_id = ?`, q.ClientID)
	case !q.Unfinished:
		return nil, "", errors.New("list promotions: client is required")
	}
	if q.App != "" {
		f.and(`app = ?`, q.App)
	}
	if q.Unfinished {
		f.and(`unfinished = 1`)
	}
	if q.Cursor != "" {
		var (
			at int64
			id string
		)
		if err := store.DecodeCursor(q.Cursor, &at, &id); err != nil {
			return nil, "", fmt.Errorf("list promotions: %w", err)
		}
		f.and(`(created_at, id) < (?, ?)`, at, id)
	}
	limit := store.PageLimit(q.Limit)
	f.args = append(f.args, limit+1)
	rows, err := s.reader.QueryContext(ctx, `SELECT document FROM promotions`+f.clause()+` ORDER BY created_at DESC, id DESC LIMIT ?`, f.args...)
	if err != nil {
		return nil, "", fmt.Errorf("list promotions: %w", err)
	}
	defer rows.Close()
	var out []store.Promotion
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return nil, "", fmt.Errorf("list promotions: %w", err)
		}
		p, err := store.DecodePromotion(doc)
		if err != nil {
			return nil, "", fmt.Errorf("list promotions: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list promotions: %w", err)
	}
	out, next := store.NextPage(out, limit, store.PromotionKey)
	return out, next, nil
}
