package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/blackwellio/blackwell/internal/store"
)

const contentColumns = `client_id, provider_name, source, content_id, content_type, updated_at, version, deleted,
	event_id, received_at`

// IngestEvents inserts events as InsertEvents does and upserts the content
// item of each new one (qUpsertContent), in one durable transaction: the
// batch it shares commits with synchronous=FULL.
func (s *Store) IngestEvents(ctx context.Context, in []store.IngestEvent) ([]bool, error) {
	if err := store.CheckIngest(in); err != nil {
		return nil, fmt.Errorf("ingest events: %w", err)
	}
	inserted := make([]bool, len(in))
	if len(in) == 0 {
		return inserted, nil
	}
	now := s.now()
	err := s.inDurableTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		events, err := s.write(ctx, tx, qInsertEvent)
		if err != nil {
			return err
		}
		var content *sql.Stmt
		for i, r := range in {
			e := r.Event
			if e.ReceivedAt.IsZero() {
				e.ReceivedAt = now
			}
			if inserted[i], err = insertEvent(ctx, events, e, now); err != nil {
				return err
			}
			c := r.Content
			if !inserted[i] || c == nil {
				continue
			}
			if content == nil {
				if content, err = s.write(ctx, tx, qUpsertContent); err != nil {
					return err
				}
			}
			if _, err := content.ExecContext(ctx, e.ClientID, c.ProviderName, c.Source, c.ContentID, c.ContentType,
				micros(c.UpdatedAt), c.Version, boolInt(c.Deleted), e.EventID, micros(e.ReceivedAt)); err != nil {
				return fmt.Errorf("content %s of event %s: %w", c.ContentID, e.EventID, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ingest events: %w", err)
	}
	return inserted, nil
}

// ListContent answers in key order (client, provider, source, content id);
// the cursor is the last key of a page, compared as a row value.
func (s *Store) ListContent(ctx context.Context, q store.ContentQuery) ([]store.ContentItem, store.Page, error) {
	var f filter
	for _, eq := range []struct{ col, v string }{
		{"client_id", q.ClientID}, {"provider_name", q.ProviderName},
		{"content_type", q.ContentType}, {"content_id", q.ContentID},
	} {
		if eq.v != "" {
			f.and(eq.col+` = ?`, eq.v)
		}
	}
	if !q.IncludeDeleted {
		f.and(`deleted = 0`)
	}
	if q.Cursor != "" {
		var c, p, src, id string
		if err := store.DecodeCursor(q.Cursor, &c, &p, &src, &id); err != nil {
			return nil, "", fmt.Errorf("list content: %w", err)
		}
		f.and(`(client_id, provider_name, source, content_id) > (?, ?, ?, ?)`, c, p, src, id)
	}
	limit := store.PageLimit(q.Limit)
	f.args = append(f.args, limit+1)
	st, err := s.read(ctx, `SELECT `+contentColumns+` FROM content`+f.clause()+
		` ORDER BY client_id, provider_name, source, content_id LIMIT ?`)
	if err != nil {
		return nil, "", fmt.Errorf("list content: %w", err)
	}
	rows, err := st.QueryContext(ctx, f.args...)
	if err != nil {
		return nil, "", fmt.Errorf("list content: %w", err)
	}
	defer rows.Close()
	var out []store.ContentItem
	for rows.Next() {
		var (
			c                 store.ContentItem
			updated, received int64
			deleted           int64
		)
		if err := rows.Scan(&c.ClientID, &c.ProviderName, &c.Source, &c.ContentID, &c.ContentType, &updated,
			&c.Version, &deleted, &c.EventID, &received); err != nil {
			return nil, "", fmt.Errorf("list content: %w", err)
		}
		c.UpdatedAt, c.ReceivedAt, c.Deleted = fromMicros(updated), fromMicros(received), deleted != 0
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list content: %w", err)
	}
	out, next := store.NextPage(out, limit, store.ContentKey)
	return out, next, nil
}
