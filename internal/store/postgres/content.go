package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/blackwellio/blackwell/internal/store"
)

const contentColumns = `client_id, provider_name, source, content_id, content_type, updated_at, version, deleted,
	event_id, received_at`

// qUpsertContent writes a content item's state, if its event ($9) was
// inserted by this very transaction (the row's xmin is the transaction's
// id: a duplicate delivery, skipped by qInsertEvents, does not apply its
// item again), and unless the stored state is as new: store.ContentItem.Newer
// is the row comparison (updated_at, version, deleted) > stored, with false
// < true. A state without a content type keeps the stored type (a tombstone
// may not name it). A concurrent upsert of the item waits for the row lock,
// then compares with what that one wrote.
//
// Asking the database which events are new, rather than reading
// qInsertEvents' answer first, keeps IngestEvents to one round trip. (xmin
// is a 32-bit transaction id: an event row billions of transactions old
// could match again after wraparound; the item would still only move to a
// newer state.)
const qUpsertContent = `INSERT INTO content (` + contentColumns + `)
SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10
WHERE EXISTS (SELECT FROM events WHERE event_id = $9 AND xmin = pg_current_xact_id()::xid)` + upsertContentTail

// qUpsertContents is qUpsertContent for several items, one array per
// column, in one statement. PostgreSQL refuses to update a row twice in
// one statement, so no two of the items may share a key (see
// contentRounds). The test of the event is a scalar subquery, run per item
// through the event_id index: an EXISTS would be planned as a semi-join,
// for an array of unknown length a hash join over every event stored.
const qUpsertContents = `INSERT INTO content (` + contentColumns + `)
SELECT c.* FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::bigint[],
	$8::boolean[], $9::text[], $10::timestamptz[]) AS c (` + contentColumns + `)
WHERE (SELECT xmin FROM events WHERE event_id = c.event_id) = pg_current_xact_id()::xid` + upsertContentTail

// upsertContentTail is the conflict clause of qUpsertContent and
// qUpsertContents.
const upsertContentTail = `
ON CONFLICT (client_id, provider_name, source, content_id) DO UPDATE SET
	content_type = CASE WHEN excluded.content_type = '' THEN content.content_type ELSE excluded.content_type END,
	updated_at = excluded.updated_at, version = excluded.version, deleted = excluded.deleted,
	event_id = excluded.event_id, received_at = excluded.received_at
WHERE (excluded.updated_at, excluded.version, excluded.deleted) > (content.updated_at, content.version, content.deleted)`

// IngestEvents inserts events as InsertEvents does and upserts the content
// item of each new one, in input order, in one transaction committed with
// synchronous_commit on (a nil error means the WAL is flushed, so the
// webhook may be acknowledged), which concurrent calls share: group
// commit, see ingest_batch.go.
func (s *Store) IngestEvents(ctx context.Context, in []store.IngestEvent) ([]bool, error) {
	if err := store.CheckIngest(in); err != nil {
		return nil, fmt.Errorf("ingest events: %w", err)
	}
	if len(in) == 0 {
		return []bool{}, nil
	}
	return s.ingestQ.do(ctx, &ingestOp{in: in, now: s.now(), inserted: make([]bool, len(in))})
}

// ListContent answers in key order (client, provider, source, content id;
// bytewise); the cursor is the last key of a page, compared as a row value,
// as in the SQLite driver.
func (s *Store) ListContent(ctx context.Context, q store.ContentQuery) ([]store.ContentItem, store.Page, error) {
	var p params
	for _, f := range []struct{ col, v string }{
		{"client_id", q.ClientID}, {"provider_name", q.ProviderName},
		{"content_type", q.ContentType}, {"content_id", q.ContentID},
	} {
		if f.v != "" {
			p.where(f.col + ` = ` + p.add(f.v))
		}
	}
	if !q.IncludeDeleted {
		p.where(`NOT deleted`)
	}
	if q.Cursor != "" {
		var c, pr, src, id string
		if err := store.DecodeCursor(q.Cursor, &c, &pr, &src, &id); err != nil {
			return nil, "", fmt.Errorf("list content: %w", err)
		}
		p.where(`(client_id, provider_name, source, content_id) > (` +
			p.add(c) + `, ` + p.add(pr) + `, ` + p.add(src) + `, ` + p.add(id) + `)`)
	}
	limit := store.PageLimit(q.Limit)
	rows, _ := s.pool.Query(ctx, `SELECT `+contentColumns+` FROM content`+p.clause()+
		` ORDER BY client_id, provider_name, source, content_id LIMIT `+p.add(limit+1), p.args...)
	out, err := collectRows(rows, func(row pgx.CollectableRow) (store.ContentItem, error) {
		var c store.ContentItem
		err := row.Scan(&c.ClientID, &c.ProviderName, &c.Source, &c.ContentID, &c.ContentType, &c.UpdatedAt,
			&c.Version, &c.Deleted, &c.EventID, &c.ReceivedAt)
		c.UpdatedAt, c.ReceivedAt = utc(c.UpdatedAt), utc(c.ReceivedAt)
		return c, err
	})
	if err != nil {
		return nil, "", fmt.Errorf("list content: %w", err)
	}
	out, next := store.NextPage(out, limit, store.ContentKey)
	return out, next, nil
}
