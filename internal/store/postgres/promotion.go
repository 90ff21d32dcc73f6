package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/blackwellio/blackwell/internal/store"
)

// PutPipeline upserts a pipeline document.
func (s *Store) PutPipeline(ctx context.Context, p store.PipelineRecord) error {
	err := s.retry(ctx, func() error {
		_, err := s.pool.Exec(ctx, `INSERT INTO pipelines (client_id, app, document, updated_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (client_id, app) DO UPDATE SET document = excluded.document, updated_at = excluded.updated_at`,
			p.ClientID, p.App, string(p.Document), ts(p.UpdatedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("put pipeline %s/%s: %w", p.ClientID, p.App, err)
	}
	return nil
}

// ListPipelines returns the client's pipelines by app.
func (s *Store) ListPipelines(ctx context.Context, clientID string) ([]store.PipelineRecord, error) {
	rows, _ := s.pool.Query(ctx, `SELECT client_id, app, document, updated_at FROM pipelines WHERE client_id = $1 ORDER BY app`, clientID)
	defer rows.Close()
	var out []store.PipelineRecord
	for rows.Next() {
		var (
			p   store.PipelineRecord
			doc string
			at  time.Time
		)
		if err := rows.Scan(&p.ClientID, &p.App, &doc, &at); err != nil {
			return nil, fmt.Errorf("list pipelines: %w", err)
		}
		p.Document, p.UpdatedAt = json.RawMessage(doc), utc(at)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list pipelines: %w", err)
	}
	return out, nil
}

// writePromotion runs queue's statements and, once they are sent and
// check accepts what they did, appends audit, in one transaction.
func (s *Store) writePromotion(ctx context.Context, queue func(b *pgx.Batch), check func() error, audit []store.AuditEntry) ([]store.AuditEntry, error) {
	var out []store.AuditEntry
	err := s.inTx(ctx, func(ctx context.Context, t *txn) error {
		var head auditHead
		b := t.batch()
		queue(b)
		if len(audit) > 0 {
			head.queue(b, len(audit))
		}
		if err := t.send(ctx, b); err != nil {
			return translate(err)
		}
		if err := check(); err != nil {
			return err
		}
		b = t.batch()
		out = s.queueAudit(b, head, audit)
		return t.commit(ctx, b)
	})
	return out, err
}

// CreatePromotion writes a new promotion, its approval request and audit.
func (s *Store) CreatePromotion(ctx context.Context, p store.Promotion, approval *store.Approval, audit []store.AuditEntry) (store.Promotion, error) {
	if err := store.CheckPromotion(p); err != nil {
		return store.Promotion{}, fmt.Errorf("create promotion: %w", err)
	}
	p = p.Stored()
	p.Revision = 1
	doc, err := json.Marshal(p)
	if err != nil {
		return store.Promotion{}, fmt.Errorf("create promotion: %w", err)
	}
	out, err := s.writePromotion(ctx, func(b *pgx.Batch) {
		b.Queue(`INSERT INTO promotions (id, client_id, app, to_stack, status, unfinished, created_at, revision, document)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, p.ID, p.ClientID, p.App, p.ToStack, string(p.Status), p.Status.Unfinished(),
			ts(p.CreatedAt), p.Revision, string(doc))
		if approval != nil {
			b.Queue(qInsertApproval, approvalArgs(*approval)...)
		}
	}, func() error { return nil }, audit)
	if err != nil {
		if errors.Is(translate(err), store.ErrConflict) {
			err = store.ErrPromotionOpen
		}
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
	next := p.Stored()
	next.Revision = p.Revision + 1
	doc, err := json.Marshal(next)
	if err != nil {
		return store.Promotion{}, fmt.Errorf("update promotion: %w", err)
	}
	var updated, exists bool
	out, err := s.writePromotion(ctx, func(b *pgx.Batch) {
		updated, exists = false, false
		b.Queue(`UPDATE promotions SET status = $1, unfinished = $2, revision = $3, document = $4
WHERE id = $5 AND client_id = $6 AND revision = $7`, string(p.Status), p.Status.Unfinished(), next.Revision, string(doc),
			p.ID, p.ClientID, p.Revision).Exec(func(tag pgconn.CommandTag) error {
			updated = tag.RowsAffected() == 1
			return nil
		})
		b.Queue(`SELECT EXISTS (SELECT 1 FROM promotions WHERE id = $1 AND client_id = $2)`, p.ID, p.ClientID).QueryRow(func(row pgx.Row) error {
			return row.Scan(&exists)
		})
	}, func() error {
		switch {
		case updated:
			return nil
		case exists:
			return store.ErrConflict
		default:
			return store.ErrNotFound
		}
	}, audit)
	if err != nil {
		return store.Promotion{}, fmt.Errorf("update promotion %s: %w", p.ID, err)
	}
	copy(audit, out)
	return next, nil
}

// GetPromotion returns one promotion of the client.
func (s *Store) GetPromotion(ctx context.Context, clientID, id string) (store.Promotion, error) {
	var doc string
	if err := s.pool.QueryRow(ctx, `SELECT document FROM promotions WHERE id = $1 AND client_id = $2`, id, clientID).Scan(&doc); err != nil {
		return store.Promotion{}, fmt.Errorf("get promotion %s: %w", id, translate(err))
	}
	return store.DecodePromotion(doc)
}

// ListPromotions lists promotions newest first by (created_at, id).
func (s *Store) ListPromotions(ctx context.Context, q store.PromotionQuery) ([]store.Promotion, store.Page, error) {
	var p params
	switch {
	case q.ClientID != "":
		p.where(`client_id = ` + p.add(q.ClientID))
	case !q.Unfinished:
		return nil, "", errors.New("list promotions: client is required")
	}
	if q.App != "" {
		p.where(`app = ` + p.add(q.App))
	}
	if q.Unfinished {
		p.where(`unfinished`)
	}
	if q.Cursor != "" {
		var (
			at int64
			id string
		)
		if err := store.DecodeCursor(q.Cursor, &at, &id); err != nil {
			return nil, "", fmt.Errorf("list promotions: %w", err)
		}
		p.where(`(created_at, id) < (` + p.add(fromMicros(at)) + `, ` + p.add(id) + `)`)
	}
	limit := store.PageLimit(q.Limit)
	rows, _ := s.pool.Query(ctx, `SELECT document FROM promotions`+p.clause()+
		` ORDER BY created_at DESC, id DESC LIMIT `+p.add(limit+1), p.args...)
	defer rows.Close()
	var out []store.Promotion
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return nil, "", fmt.Errorf("list promotions: %w", err)
		}
		pr, err := store.DecodePromotion(doc)
		if err != nil {
			return nil, "", fmt.Errorf("list promotions: %w", err)
		}
		out = append(out, pr)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list promotions: %w", err)
	}
	out, next := store.NextPage(out, limit, store.PromotionKey)
	return out, next, nil
}
