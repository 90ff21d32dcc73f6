package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/blackwellio/blackwell/internal/store"
)

const eventColumns = `event_id, client_id, stack_id, provider_name, event_type, content_id, content_type,
	timestamp, environment, drift_checked, payload, received_at, ttl_timestamp`

// qCountActivity, the tail of qInsertEvents and qInsertEvent, counts the
// events they wrote (ins) into event_activity, in the inserting
// connection's slot (see migration 0004), and answers their ids.
const qCountActivity = `, act AS (
	INSERT INTO event_activity (client_id, stack_id, hour, provider_name, event_type, content_type, slot, count, last)
	SELECT client_id, stack_id, date_trunc('hour', timestamp, 'UTC'), provider_name, event_type, content_type,
		pg_backend_pid(), count(*), max(timestamp)
	FROM ins GROUP BY 1, 2, 3, 4, 5, 6
	ON CONFLICT (client_id, stack_id, hour, provider_name, event_type, content_type, slot) DO UPDATE SET
		count = event_activity.count + excluded.count, last = GREATEST(event_activity.last, excluded.last))
SELECT event_id FROM ins`

// qInsertEvents inserts a batch of events, one array per column, in one
// statement, skipping ids already stored, and counts the new ones in
// event_activity; it returns the ids it wrote. A concurrent insert of the
// same id waits for the other transaction and then skips the id if that
// one committed.
const qInsertEvents = `WITH ins AS (INSERT INTO events (` + eventColumns + `)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
	$8::timestamptz[], $9::text[], $10::boolean[], $11::text[], $12::timestamptz[], $13::bigint[])
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id, client_id, stack_id, provider_name, event_type, content_type, timestamp)` + qCountActivity

// qInsertEvent is qInsertEvents for one event.
const qInsertEvent = `WITH ins AS (INSERT INTO events (` + eventColumns + `)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id, client_id, stack_id, provider_name, event_type, content_type, timestamp)` + qCountActivity

// InsertEvents commits events in one statement (its own transaction),
// skipping ids already stored: inserted[i] is whether in[i] was written. Of
// several events with one id in a batch, the first is written. A zero
// ReceivedAt is set to now.
func (s *Store) InsertEvents(ctx context.Context, in []store.Event) ([]bool, error) {
	for _, e := range in {
		if err := store.CheckEvent(e); err != nil {
			return nil, fmt.Errorf("insert events: %w", err)
		}
	}
	inserted := make([]bool, len(in))
	if len(in) == 0 {
		return inserted, nil
	}
	now := s.now()
	rows := newEventRows(len(in))
	for i, e := range in {
		rows.add(i, e, now)
	}
	err := s.retry(ctx, func() error {
		clear(inserted)
		return rows.insert(ctx, s.pool, inserted)
	})
	if err != nil {
		return nil, fmt.Errorf("insert events: %w", err)
	}
	return inserted, nil
}

// eventRows are events as the arrays of qInsertEvents, one per column,
// without repeated ids.
type eventRows struct {
	index                                  map[string]int // event id -> index of its first event in the input
	ids, clients, stacks, providers, types []string
	contentIDs, contentTypes, envs         []string
	stamps, received                       []time.Time
	checked                                []bool
	payloads                               []*string
	ttls                                   []int64
}

func newEventRows(n int) *eventRows {
	return &eventRows{
		index: make(map[string]int, n),
		ids:   make([]string, 0, n), clients: make([]string, 0, n), stacks: make([]string, 0, n),
		providers: make([]string, 0, n), types: make([]string, 0, n), contentIDs: make([]string, 0, n),
		contentTypes: make([]string, 0, n), envs: make([]string, 0, n),
		stamps: make([]time.Time, 0, n), received: make([]time.Time, 0, n),
		checked: make([]bool, 0, n), payloads: make([]*string, 0, n), ttls: make([]int64, 0, n),
	}
}

// add adds e, in[i] of the input, unless its id was added before (the first
// of several events with one id is written). A zero ReceivedAt is now.
// It returns the ReceivedAt written and whether e was added.
func (r *eventRows) add(i int, e store.Event, now time.Time) (time.Time, bool) {
	if _, dup := r.index[e.EventID]; dup {
		return time.Time{}, false
	}
	r.index[e.EventID] = i
	if e.ReceivedAt.IsZero() {
		e.ReceivedAt = now
	}
	var payload *string
	if len(e.Payload) > 0 {
		p := string(e.Payload)
		payload = &p
	}
	r.ids, r.clients, r.stacks = append(r.ids, e.EventID), append(r.clients, e.ClientID), append(r.stacks, e.StackID)
	r.providers, r.types = append(r.providers, e.ProviderName), append(r.types, e.EventType)
	r.contentIDs, r.contentTypes = append(r.contentIDs, e.ContentID), append(r.contentTypes, e.ContentType)
	r.stamps, r.envs, r.checked = append(r.stamps, ts(e.Timestamp)), append(r.envs, e.Environment), append(r.checked, e.DriftChecked)
	r.payloads, r.received, r.ttls = append(r.payloads, payload), append(r.received, ts(e.ReceivedAt)), append(r.ttls, e.TTLTimestamp)
	return ts(e.ReceivedAt), true
}

// insert runs the insert on the pool (one statement: its own transaction)
// and sets inserted[i] for each input event written.
func (r *eventRows) insert(ctx context.Context, pool *pgxpool.Pool, inserted []bool) error {
	q, args := r.statement()
	rows, _ := pool.Query(ctx, q, args...)
	return r.scan(rows, inserted)
}

// queue adds the insert to b; inserted[i] is set for each input event
// written when b's results are read.
func (r *eventRows) queue(b *pgx.Batch, inserted []bool) {
	q, args := r.statement()
	b.Queue(q, args...).Query(func(rows pgx.Rows) error { return r.scan(rows, inserted) })
}

// statement is qInsertEvents with its arrays, or qInsertEvent for one
// event: a webhook delivery is one, and binding thirteen one-element arrays
// costs both ends more than the row itself.
func (r *eventRows) statement() (string, []any) {
	if len(r.ids) == 1 {
		return qInsertEvent, []any{r.ids[0], r.clients[0], r.stacks[0], r.providers[0], r.types[0], r.contentIDs[0],
			r.contentTypes[0], r.stamps[0], r.envs[0], r.checked[0], r.payloads[0], r.received[0], r.ttls[0]}
	}
	return qInsertEvents, []any{r.ids, r.clients, r.stacks, r.providers, r.types, r.contentIDs, r.contentTypes,
		r.stamps, r.envs, r.checked, r.payloads, r.received, r.ttls}
}

// scan reads the insert's answer: the ids it wrote.
func (r *eventRows) scan(rows pgx.Rows, inserted []bool) error {
	var id string
	_, err := pgx.ForEachRow(rows, []any{&id}, func() error {
		inserted[r.index[id]] = true
		return nil
	})
	return err
}

// ListEvents answers newest first by (Timestamp, insertion order), so pages
// neither repeat nor skip events that share a timestamp. The cursor is the
// SQLite driver's: the last event's timestamp in unix microseconds and seq.
func (s *Store) ListEvents(ctx context.Context, q store.EventQuery) ([]store.Event, store.Page, error) {
	var p params
	if q.ClientID != "" {
		p.where(`client_id = ` + p.add(q.ClientID))
	}
	if q.ProviderName != "" {
		p.where(`provider_name = ` + p.add(q.ProviderName))
	}
	if q.EventType != "" {
		p.where(`event_type = ` + p.add(q.EventType))
	}
	if !q.Since.IsZero() {
		p.where(`timestamp >= ` + p.add(ts(q.Since)))
	}
	if !q.Until.IsZero() {
		p.where(`timestamp < ` + p.add(ts(q.Until)))
	}
	if q.Cursor != "" {
		var at, seq int64
		if err := store.DecodeCursor(q.Cursor, &at, &seq); err != nil {
			return nil, "", fmt.Errorf("list events: %w", err)
		}
		// A row comparison: one range of the (…, timestamp, seq) indexes.
		p.where(`(timestamp, seq) < (` + p.add(fromMicros(at)) + `, ` + p.add(seq) + `)`)
	}
	limit := store.PageLimit(q.Limit)
	rows, _ := s.pool.Query(ctx, `SELECT `+listColumns+` FROM events`+p.clause()+
		` ORDER BY timestamp DESC, seq DESC LIMIT `+p.add(limit+1), p.args...)
	var (
		out     []store.Event
		seqs    []int64
		e       store.Event
		seq     int64
		payload *string
	)
	_, err := pgx.ForEachRow(rows, []any{&e.EventID, &e.ClientID, &e.StackID, &e.ProviderName, &e.EventType, &e.ContentID,
		&e.ContentType, &e.Timestamp, &e.Environment, &e.DriftChecked, &payload, &e.ReceivedAt, &e.TTLTimestamp, &seq},
		func() error {
			row := e // e is scanned into again for the next row
			row.Timestamp, row.ReceivedAt = utc(e.Timestamp), utc(e.ReceivedAt)
			if payload != nil {
				row.Payload = json.RawMessage(*payload)
			}
			out, seqs = append(out, row), append(seqs, seq)
			return nil
		})
	if err != nil {
		return nil, "", fmt.Errorf("list events: %w", err)
	}
	var next store.Page
	if len(out) > limit {
		out = out[:limit]
		next = store.EncodeCursor(micros(out[limit-1].Timestamp), seqs[limit-1])
	}
	return out, next, nil
}

// checkedExpr is drift_checked as the store answers it: set at insert, or
// the event's insert is visible in the mark of its stack (or, client-wide,
// of the client's ” row) in event_marks. Marks are this driver's own, so
// export (store copy) writes this instead of the column.
const checkedExpr = `(drift_checked OR COALESCE(pg_visible_in_snapshot(xid::text::xid8, (SELECT m.checked FROM event_marks m
		WHERE m.client_id = events.client_id AND m.stack_id = events.stack_id)), false))`

// exportExpr is the expression ExportRows reads for a column: checkedExpr
// for events.drift_checked, else the quoted column.
func exportExpr(table, column string) string {
	if table == "events" && column == "drift_checked" {
		return checkedExpr
	}
	return pgx.Identifier{column}.Sanitize()
}

// qRebuildActivity counts imported events into event_activity, as
// migration 0004 did (ImportRows; the table is not copied, and imported
// events get the importing transaction's xid).
const qRebuildActivity = `INSERT INTO event_activity (client_id, stack_id, hour, provider_name, event_type, content_type, slot, count, last)
SELECT client_id, stack_id, date_trunc('hour', timestamp, 'UTC'), provider_name, event_type, content_type, 0,
	count(*), max(timestamp)
FROM events
GROUP BY 1, 2, 3, 4, 5, 6`

// listColumns are eventColumns as ListEvents reads them, drift_checked
// computed (checkedExpr).
const listColumns = `event_id, client_id, stack_id, provider_name, event_type, content_id, content_type,
	timestamp, environment, ` + checkedExpr + `, payload, received_at, ttl_timestamp, seq`

// qActivityMark is where a read of the activity ends: this statement's
// snapshot (see migration 0004). It runs before the reads it marks, so
// every event visible in it is visible to them.
const qActivityMark = `SELECT pg_current_snapshot()::text`

// qActivity sums the buckets (and slots) of the stack and of no stack from
// since's hour.
const qActivity = `SELECT provider_name, event_type, content_type, sum(count), max(last)
FROM event_activity
WHERE client_id = $1 AND stack_id IN ($2, '') AND hour >= date_trunc('hour', $3::timestamptz, 'UTC')
GROUP BY provider_name, event_type, content_type
HAVING sum(count) > 0
ORDER BY provider_name, event_type, content_type`

// qUnchecked counts the unchecked events of the stack and of no stack (not
// inserted checked, not visible in the mark of their stack; each a range of
// events_stack_unchecked from the mark's xmin) and reads the ReceivedAt of
// the first in (xid, seq) order.
const qUnchecked = `WITH m AS (
	SELECT stack_id, checked, pg_snapshot_xmin(checked)::text::bigint AS xmin FROM event_marks
	WHERE client_id = $1 AND stack_id IN ($2, '')),
u AS (
	SELECT xid, seq FROM events e
	WHERE client_id = $1 AND stack_id = $2 AND NOT drift_checked
		AND xid >= COALESCE((SELECT xmin FROM m WHERE stack_id = $2), 0)
		AND NOT COALESCE((SELECT pg_visible_in_snapshot(e.xid::text::xid8, checked) FROM m WHERE stack_id = $2), false)
	UNION ALL
	SELECT xid, seq FROM events e
	WHERE client_id = $1 AND stack_id = '' AND $2 <> '' AND NOT drift_checked
		AND xid >= COALESCE((SELECT xmin FROM m WHERE stack_id = ''), 0)
		AND NOT COALESCE((SELECT pg_visible_in_snapshot(e.xid::text::xid8, checked) FROM m WHERE stack_id = ''), false))
SELECT count(*), (SELECT received_at FROM events WHERE seq = (SELECT seq FROM u ORDER BY xid, seq LIMIT 1))
FROM u`

// EventActivity reads the mark, the activity and the unchecked events in
// one round trip (three statements, in that order).
func (s *Store) EventActivity(ctx context.Context, clientID, stackID string, since time.Time) (store.ActivityReport, error) {
	var (
		rep  store.ActivityReport
		mark string
	)
	b := &pgx.Batch{}
	b.Queue(qActivityMark).QueryRow(func(row pgx.Row) error { return row.Scan(&mark) })
	b.Queue(qActivity, clientID, stackID, ts(since)).Query(func(rows pgx.Rows) error {
		var err error
		rep.Activity, err = collectRows(rows, func(row pgx.CollectableRow) (store.Activity, error) {
			var a store.Activity
			err := row.Scan(&a.ProviderName, &a.EventType, &a.ContentType, &a.Count, &a.Last)
			a.Last = utc(a.Last)
			return a, err
		})
		return err
	})
	b.Queue(qUnchecked, clientID, stackID).QueryRow(func(row pgx.Row) error {
		return row.Scan(&rep.Unchecked, &rep.OldestUnchecked)
	})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return store.ActivityReport{}, fmt.Errorf("event activity %s/%s: %w", clientID, stackID, err)
	}
	rep.OldestUnchecked = utcPtr(rep.OldestUnchecked)
	if rep.Unchecked > 0 {
		rep.Mark = store.EventMark(mark)
	}
	return rep, nil
}

// qDeleteExpired deletes a bounded batch of expired events and takes them
// out of event_activity, counted as negative in slot 0 (see migration
// 0004); it answers the buckets it took events from. SKIP LOCKED: replicas
// sweeping at once take different rows instead of waiting for each other.
var qDeleteExpired = deleteEventsWhere(`seq IN (
		SELECT seq FROM events WHERE ttl_timestamp > 0 AND ttl_timestamp < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`)

// deleteEventsWhere is the statement that deletes the events cond names
// and takes them out of event_activity, counted as negative in slot 0,
// answering the buckets it took events from (deleteEvents reads them).
func deleteEventsWhere(cond string) string {
	return `WITH del AS (
	DELETE FROM events WHERE ` + cond + `
	RETURNING client_id, stack_id, provider_name, event_type, content_type, timestamp),
gone AS (
	SELECT client_id, stack_id, date_trunc('hour', timestamp, 'UTC') AS hour, provider_name, event_type, content_type,
		count(*) AS n
	FROM del GROUP BY 1, 2, 3, 4, 5, 6),
sub AS (
	INSERT INTO event_activity (client_id, stack_id, hour, provider_name, event_type, content_type, slot, count, last)
	SELECT client_id, stack_id, hour, provider_name, event_type, content_type, 0, -n, hour FROM gone
	ON CONFLICT (client_id, stack_id, hour, provider_name, event_type, content_type, slot) DO UPDATE SET
		count = event_activity.count + excluded.count)
SELECT client_id, stack_id, hour, provider_name, event_type, content_type, n FROM gone`
}

// qDropActivity removes the buckets, of those qDeleteExpired answered,
// whose slots sum to no event. A statement of its own: the statement that
// counted the deletions cannot see its own writes.
const qDropActivity = `DELETE FROM event_activity a
USING unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::text[])
	AS g(client_id, stack_id, hour, provider_name, event_type, content_type)
WHERE a.client_id = g.client_id AND a.stack_id = g.stack_id AND a.hour = g.hour
	AND a.provider_name = g.provider_name AND a.event_type = g.event_type AND a.content_type = g.content_type
	AND (SELECT sum(count) FROM event_activity b
		WHERE b.client_id = g.client_id AND b.stack_id = g.stack_id AND b.hour = g.hour
			AND b.provider_name = g.provider_name AND b.event_type = g.event_type
			AND b.content_type = g.content_type) <= 0`

// DeleteExpiredEvents deletes up to limit (store.BatchLimit) events whose TTLTimestamp (unix seconds) is before now. An event with
// TTLTimestamp 0 never expires. The batch is bounded so each transaction is
// short; call again until it returns 0.
func (s *Store) DeleteExpiredEvents(ctx context.Context, now time.Time, limit int) (int, error) {
	limit, err := store.BatchLimit(limit)
	if err != nil {
		return 0, fmt.Errorf("delete expired events: %w", err)
	}
	n, err := s.deleteEvents(ctx, qDeleteExpired, now.Unix(), limit)
	if err != nil {
		return 0, fmt.Errorf("delete expired events: %w", err)
	}
	return n, nil
}

// deleteEvents runs a statement that deletes events and answers, per
// activity bucket, how many it took (qDeleteExpired, qDeleteEvents), then
// drops the buckets that came to nothing (qDropActivity), in one
// transaction. It returns how many events went.
func (s *Store) deleteEvents(ctx context.Context, query string, args ...any) (int, error) {
	var n int
	err := s.inTx(ctx, func(ctx context.Context, t *txn) error {
		n = 0
		var (
			clients, stacks, providers, types, contentTypes []string
			hours                                           []time.Time
		)
		b := t.batch()
		b.Queue(query, args...).Query(func(rows pgx.Rows) error {
			var (
				c, st, p, ty, ct string
				h                time.Time
				k                int
			)
			_, err := pgx.ForEachRow(rows, []any{&c, &st, &h, &p, &ty, &ct, &k}, func() error {
				clients, stacks, hours = append(clients, c), append(stacks, st), append(hours, h)
				providers, types, contentTypes = append(providers, p), append(types, ty), append(contentTypes, ct)
				n += k
				return nil
			})
			return err
		})
		if err := t.send(ctx, b); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		b = t.batch()
		b.Queue(qDropActivity, clients, stacks, hours, providers, types, contentTypes)
		return t.commit(ctx, b)
	})
	return n, err
}
