package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/blackwellio/blackwell/internal/store"
)

const contentColumns = `client_id, provider_name, source, content_id, content_type, updated_at, version, deleted,
	event_id, received_at`

// IngestEvents inserts events as InsertEvents does and upserts the content
// item of each new one (qUpsertContent), in input order, in one durable
// transaction: the batch it shares commits with synchronous=FULL. The
// calls that share a batch run joined (writeOp.join): the events of all of
// them in one multi-row statement, then their content items in another,
// rather than two statements per delivery.
func (s *Store) IngestEvents(ctx context.Context, in []store.IngestEvent) ([]bool, error) {
	if err := store.CheckIngest(in); err != nil {
		return nil, fmt.Errorf("ingest events: %w", err)
	}
	if len(in) == 0 {
		return []bool{}, nil
	}
	op := s.ingestOp(in)
	if err := s.writes.doOp(ctx, op); err != nil {
		return nil, fmt.Errorf("ingest events: %w", err)
	}
	return op.ingest.inserted, nil
}

// ingestOp is the write of an IngestEvents call of in (validated).
func (s *Store) ingestOp(in []store.IngestEvent) *writeOp {
	call := &ingestCall{in: in, now: s.now(), inserted: make([]bool, len(in))}
	return &writeOp{durable: true, rerunnable: true, ingest: call, join: s.ingestJoined,
		fn: func(ctx context.Context, tx *sql.Tx) error { return s.ingest(ctx, tx, []*ingestCall{call}) }}
}

// ingestCall is one IngestEvents call: its input, its time, and where its
// results go.
type ingestCall struct {
	in       []store.IngestEvent
	now      time.Time
	inserted []bool
}

// ingestJoined is the join of IngestEvents writes: their calls run as one.
func (s *Store) ingestJoined(ctx context.Context, tx *sql.Tx, ops []*writeOp) error {
	calls := make([]*ingestCall, len(ops))
	for i, op := range ops {
		calls[i] = op.ingest
	}
	return s.ingest(ctx, tx, calls)
}

// ingestRow is an event of an ingest, its ReceivedAt set, and where its
// result goes.
type ingestRow struct {
	event    store.Event
	content  *store.ContentItem
	inserted *bool
}

// ingest inserts the events of calls, in order, with qIngestEvents (an id
// already stored, or met earlier in calls, is skipped), then upserts the
// content items of the new ones, in order, with qIngestContent, and sets
// each call's inserted. It may run again after a rollback.
func (s *Store) ingest(ctx context.Context, tx *sql.Tx, calls []*ingestCall) error {
	n := 0
	for _, c := range calls {
		n += len(c.in)
	}
	rows := make([]ingestRow, 0, n)
	for _, c := range calls {
		clear(c.inserted)
		for i, r := range c.in {
			e := r.Event
			if e.ReceivedAt.IsZero() {
				e.ReceivedAt = c.now
			}
			rows = append(rows, ingestRow{event: e, content: r.Content, inserted: &c.inserted[i]})
		}
	}

	written := make(map[string]bool, n)
	args := make([]any, 0, 13*min(n, maxIngestRows))
	for rest := rows; len(rest) > 0; {
		q := ingestChunk(len(rest))
		args = args[:0]
		for _, r := range rest[:q.rows] {
			e := r.event
			var payload sql.NullString
			if len(e.Payload) > 0 {
				payload = sql.NullString{String: string(e.Payload), Valid: true}
			}
			args = append(args, e.EventID, e.ClientID, e.StackID, e.ProviderName, e.EventType,
				e.ContentID, e.ContentType, micros(e.Timestamp), e.Environment, boolInt(e.DriftChecked),
				payload, micros(e.ReceivedAt), e.TTLTimestamp)
		}
		rest = rest[q.rows:]
		if err := s.insertEvents(ctx, tx, q.events, args, written); err != nil {
			return err
		}
	}

	items := rows[:0] // the new events with an item, in order (rows' array: each row is read before it is overwritten)
	for _, r := range rows {
		if written[r.event.EventID] {
			// The first event of its id was written; a later one in
			// rows was skipped.
			delete(written, r.event.EventID)
			*r.inserted = true
			if r.content != nil {
				items = append(items, r)
			}
		}
	}
	for rest := items; len(rest) > 0; {
		q := ingestChunk(len(rest))
		args = args[:0]
		for _, r := range rest[:q.rows] {
			e, c := r.event, r.content
			args = append(args, e.ClientID, c.ProviderName, c.Source, c.ContentID, c.ContentType,
				micros(c.UpdatedAt), c.Version, boolInt(c.Deleted), e.EventID, micros(e.ReceivedAt))
		}
		rest = rest[q.rows:]
		st, err := s.write(ctx, tx, q.content)
		if err != nil {
			return err
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("content of %d events: %w", q.rows, err)
		}
	}
	return nil
}

// insertEvents runs qIngestEvents (query) with args and adds the ids it
// wrote to written.
func (s *Store) insertEvents(ctx context.Context, tx *sql.Tx, query string, args []any, written map[string]bool) error {
	st, err := s.write(ctx, tx, query)
	if err != nil {
		return err
	}
	rs, err := st.QueryContext(ctx, args...)
	if err != nil {
		return fmt.Errorf("insert %d events: %w", len(args)/13, err)
	}
	defer rs.Close()
	for rs.Next() {
		var id string
		if err := rs.Scan(&id); err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
		written[id] = true
	}
	if err := rs.Err(); err != nil {
		return fmt.Errorf("insert %d events: %w", len(args)/13, err)
	}
	return nil
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
