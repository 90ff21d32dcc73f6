package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/blackwellio/blackwell/internal/store"
)

const eventColumns = `event_id, client_id, stack_id, provider_name, event_type, content_id, content_type,
	timestamp, environment, drift_checked, payload, received_at, ttl_timestamp`

// InsertEvents commits events in one transaction, skipping ids already
// stored (ON CONFLICT DO NOTHING: inserted[i] is whether a row was written).
// A zero ReceivedAt is set to now.
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
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		st, err := s.write(ctx, tx, qInsertEvent)
		if err != nil {
			return err
		}
		for i, e := range in {
			if inserted[i], err = insertEvent(ctx, st, e, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("insert events: %w", err)
	}
	return inserted, nil
}

// insertEvent runs qInsertEvent (st) for e, its zero ReceivedAt set to now,
// and reports whether a row was written. The trigger events_activity_insert
// counts a new event in its activity bucket (migration 0004).
func insertEvent(ctx context.Context, st *sql.Stmt, e store.Event, now time.Time) (bool, error) {
	if e.ReceivedAt.IsZero() {
		e.ReceivedAt = now
	}
	var payload sql.NullString
	if len(e.Payload) > 0 {
		payload = sql.NullString{String: string(e.Payload), Valid: true}
	}
	res, err := st.ExecContext(ctx, e.EventID, e.ClientID, e.StackID, e.ProviderName, e.EventType,
		e.ContentID, e.ContentType, micros(e.Timestamp), e.Environment, boolInt(e.DriftChecked),
		payload, micros(e.ReceivedAt), e.TTLTimestamp)
	if err != nil {
		return false, fmt.Errorf("event %s: %w", e.EventID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("event %s: %w", e.EventID, err)
	}
	return n == 1, nil
}

// bucketMicros is store.ActivityBucket in microseconds.
const bucketMicros = int64(store.ActivityBucket / time.Microsecond)

// hourOf is the activity bucket of a time in unix microseconds: rounded
// down (towards the past, also before 1970), as the triggers of migration
// 0004 compute it.
func hourOf(us int64) int64 {
	h := us / bucketMicros * bucketMicros
	if h > us {
		h -= bucketMicros
	}
	return h
}

// ListEvents answers newest first by (Timestamp, insertion order), so pages
// neither repeat nor skip events that share a timestamp.
func (s *Store) ListEvents(ctx context.Context, q store.EventQuery) ([]store.Event, store.Page, error) {
	var f filter
	if q.ClientID != "" {
		f.and(`client_id = ?`, q.ClientID)
	}
	if q.ProviderName != "" {
		f.and(`provider_name = ?`, q.ProviderName)
	}
	if q.EventType != "" {
		f.and(`event_type = ?`, q.EventType)
	}
	if !q.Since.IsZero() {
		f.and(`timestamp >= ?`, micros(q.Since))
	}
	if !q.Until.IsZero() {
		f.and(`timestamp < ?`, micros(q.Until))
	}
	if q.Cursor != "" {
		var ts, seq int64
		if err := store.DecodeCursor(q.Cursor, &ts, &seq); err != nil {
			return nil, "", fmt.Errorf("list events: %w", err)
		}
		// (timestamp, seq) < (ts, seq), written so the timestamp range can
		// use an index.
		f.and(`timestamp <= ? AND (timestamp < ? OR seq < ?)`, ts, ts, seq)
	}
	limit := store.PageLimit(q.Limit)
	f.args = append(f.args, limit+1)
	st, err := s.read(ctx, `SELECT `+listColumns+` FROM events`+f.clause()+
		` ORDER BY timestamp DESC, seq DESC LIMIT ?`)
	if err != nil {
		return nil, "", fmt.Errorf("list events: %w", err)
	}
	rows, err := st.QueryContext(ctx, f.args...)
	if err != nil {
		return nil, "", fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	var (
		out  []store.Event
		seqs []int64
	)
	for rows.Next() {
		var (
			e                 store.Event
			ts, received, seq int64
			checked           int64
			payload           sql.NullString
		)
		if err := rows.Scan(&e.EventID, &e.ClientID, &e.StackID, &e.ProviderName, &e.EventType, &e.ContentID,
			&e.ContentType, &ts, &e.Environment, &checked, &payload, &received, &e.TTLTimestamp, &seq); err != nil {
			return nil, "", fmt.Errorf("list events: %w", err)
		}
		e.Timestamp, e.ReceivedAt, e.DriftChecked = fromMicros(ts), fromMicros(received), checked != 0
		if payload.Valid {
			e.Payload = json.RawMessage(payload.String)
		}
		out = append(out, e)
		seqs = append(seqs, seq)
	}
	if err := rows.Err(); err != nil {
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
// the event is below the mark of its stack (or, client-wide, of the
// client's ” row) in event_marks. Marks are this driver's own, so export
// (store copy) writes this instead of the column.
const checkedExpr = `(drift_checked OR seq < COALESCE((SELECT m.checked_before FROM event_marks m
		WHERE m.client_id = events.client_id AND m.stack_id = events.stack_id), 0))`

// exportExpr is the expression ExportRows reads for a column: checkedExpr
// for events.drift_checked, else expr.
func exportExpr(table, column, expr string) string {
	if table == "events" && column == "drift_checked" {
		return checkedExpr
	}
	return expr
}

// listColumns are eventColumns as ListEvents reads them, drift_checked
// computed: set at insert, or the event is below the mark of its stack (or,
// client-wide, of the client's ” row) in event_marks.
const listColumns = `event_id, client_id, stack_id, provider_name, event_type, content_id, content_type,
	timestamp, environment, ` + checkedExpr + `, payload, received_at, ttl_timestamp, seq`

// qUnchecked reads, in one statement (one snapshot), the report's mark
// (one more than the highest seq committed) and the unchecked events of
// the stack and of no stack: not inserted checked, seq at or above the
// mark of their (client, stack), each a range of events_stack_unchecked.
// It answers the mark, how many there are, and when the first of them
// (lowest seq) was received.
const qUnchecked = `WITH u AS (
	SELECT seq FROM events
	WHERE client_id = ?1 AND stack_id = ?2 AND drift_checked = 0
		AND seq >= COALESCE((SELECT checked_before FROM event_marks WHERE client_id = ?1 AND stack_id = ?2), 0)
	UNION ALL
	SELECT seq FROM events
	WHERE client_id = ?1 AND stack_id = '' AND ?2 <> '' AND drift_checked = 0
		AND seq >= COALESCE((SELECT checked_before FROM event_marks WHERE client_id = ?1 AND stack_id = ''), 0)),
first AS (SELECT MIN(seq) AS seq, COUNT(*) AS n FROM u)
SELECT (SELECT COALESCE(MAX(seq), 0) + 1 FROM events), first.n, events.received_at
FROM first LEFT JOIN events ON events.seq = first.seq`

// EventActivity reads the mark and the unchecked events, then the stack's
// and the client-wide activity buckets from since's hour. The mark is read
// first, so every event below it is committed and counted in the
// activity.
func (s *Store) EventActivity(ctx context.Context, clientID, stackID string, since time.Time) (store.ActivityReport, error) {
	var rep store.ActivityReport
	st, err := s.read(ctx, qUnchecked)
	if err != nil {
		return rep, fmt.Errorf("event activity: %w", err)
	}
	var (
		through int64
		oldest  sql.NullInt64
	)
	if err := st.QueryRowContext(ctx, clientID, stackID).Scan(&through, &rep.Unchecked, &oldest); err != nil {
		return rep, fmt.Errorf("event activity %s/%s: %w", clientID, stackID, err)
	}
	rep.OldestUnchecked = fromNullMicros(oldest)
	if rep.Unchecked > 0 {
		rep.Mark = store.EventMark(strconv.FormatInt(through, 10))
	}
	if rep.Activity, err = s.activity(ctx, clientID, stackID, since); err != nil {
		return rep, fmt.Errorf("event activity %s/%s: %w", clientID, stackID, err)
	}
	return rep, nil
}

// activity sums the buckets of the stack and of no stack from since's hour.
func (s *Store) activity(ctx context.Context, clientID, stackID string, since time.Time) ([]store.Activity, error) {
	st, err := s.read(ctx, `SELECT provider_name, event_type, content_type, SUM(count), MAX(last)
FROM event_activity
WHERE client_id = ? AND stack_id IN (?, '') AND hour >= ?
GROUP BY provider_name, event_type, content_type
ORDER BY provider_name, event_type, content_type`)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, clientID, stackID, hourOf(micros(since)))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Activity
	for rows.Next() {
		var (
			a    store.Activity
			last int64
		)
		if err := rows.Scan(&a.ProviderName, &a.EventType, &a.ContentType, &a.Count, &last); err != nil {
			return nil, err
		}
		a.Last = fromMicros(last)
		out = append(out, a)
	}
	return out, rows.Err()
}

// markEvents records a pass's mark for the stack and the client-wide events
// inside CommitPass's transaction.
func (s *Store) markEvents(ctx context.Context, tx *sql.Tx, clientID, stackID string, mark store.EventMark) error {
	if mark == "" {
		return nil
	}
	before, err := strconv.ParseInt(string(mark), 10, 64)
	if err != nil || before <= 0 {
		return fmt.Errorf("mark events checked: %q is not a mark of this store", mark)
	}
	st, err := s.write(ctx, tx, qMarkEvents)
	if err != nil {
		return err
	}
	stacks := []string{stackID}
	if stackID != "" {
		stacks = append(stacks, "")
	}
	for _, stack := range stacks {
		if _, err := st.ExecContext(ctx, clientID, stack, before); err != nil {
			return fmt.Errorf("mark events checked: %w", err)
		}
	}
	return nil
}

// DeleteExpiredEvents deletes up to limit (store.BatchLimit) events whose TTLTimestamp (unix seconds) is before now. An event with
// TTLTimestamp 0 never expires. The batch is bounded so the write lock is
// held briefly; call again until it returns 0.
func (s *Store) DeleteExpiredEvents(ctx context.Context, now time.Time, limit int) (int, error) {
	limit, err := store.BatchLimit(limit)
	if err != nil {
		return 0, fmt.Errorf("delete expired events: %w", err)
	}
	var n int64
	err = s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		st, err := s.write(ctx, tx, qDeleteExpired)
		if err != nil {
			return err
		}
		res, err := st.ExecContext(ctx, now.Unix(), limit)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete expired events: %w", err)
	}
	return int(n), nil
}

// DeleteReconciliations deletes up to limit (store.BatchLimit) results
// that q names, oldest first.
func (s *Store) DeleteReconciliations(ctx context.Context, q store.HistoryPrune, limit int) (int, error) {
	limit, err := store.BatchLimit(limit)
	if err != nil {
		return 0, fmt.Errorf("delete old reconciliations: %w", err)
	}
	names := q.Except
	if names == nil {
		names = []string{} // json_each of null is no rows, but say it plainly
	}
	except, err := json.Marshal(names)
	if err != nil {
		return 0, fmt.Errorf("delete old reconciliations: %w", err)
	}
	pick, args := qPickOldResults, []any{micros(q.Before), string(except), limit}
	switch {
	case q.ClientID != "" && q.StackID != "":
		pick, args = qPickOldStackResults, []any{q.ClientID, q.StackID, micros(q.Before), limit}
	case q.ClientID != "":
		pick, args = qPickOldClientResults, []any{q.ClientID, micros(q.Before), string(except), limit}
	}
	var n int64
	err = s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		// The roll-up first, from the rows about to go (pass_hours.go).
		unroll, err := s.write(ctx, tx, qUnrollResults(pick))
		if err != nil {
			return err
		}
		if _, err := unroll.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("roll up: %w", err)
		}
		st, err := s.write(ctx, tx, qDeleteResults(pick))
		if err != nil {
			return err
		}
		res, err := st.ExecContext(ctx, args...)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		drop, err := s.write(ctx, tx, qDropEmptyHours)
		if err != nil {
			return err
		}
		if _, err := drop.ExecContext(ctx, micros(q.Before)); err != nil {
			return fmt.Errorf("roll up: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("delete old reconciliations: %w", err)
	}
	return int(n), nil
}
