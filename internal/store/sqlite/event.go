package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
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
		if err := checkEvent(e); err != nil {
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

// checkEvent validates an event before any write.
func checkEvent(e store.Event) error {
	if e.EventID == "" || e.ClientID == "" {
		return fmt.Errorf("event and client ids are required (got %q, %q)", e.EventID, e.ClientID)
	}
	if len(e.Payload) > 0 && !json.Valid(e.Payload) {
		return fmt.Errorf("event %s: payload is not valid JSON", e.EventID)
	}
	return nil
}

// insertEvent runs qInsertEvent (st) for e, its zero ReceivedAt set to now,
// and reports whether a row was written.
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

// ListEvents answers newest first by (Timestamp, insertion order), so pages
// neither repeat nor skip events that share a timestamp.
func (s *Store) ListEvents(ctx context.Context, q store.EventQuery) ([]store.Event, store.Page, error) {
	var (
		conds []string
		args  []any
	)
	if q.ClientID != "" {
		conds = append(conds, `client_id = ?`)
		args = append(args, q.ClientID)
	}
	if q.ProviderName != "" {
		conds = append(conds, `provider_name = ?`)
		args = append(args, q.ProviderName)
	}
	if q.EventType != "" {
		conds = append(conds, `event_type = ?`)
		args = append(args, q.EventType)
	}
	if !q.Since.IsZero() {
		conds = append(conds, `timestamp >= ?`)
		args = append(args, micros(q.Since))
	}
	if !q.Until.IsZero() {
		conds = append(conds, `timestamp < ?`)
		args = append(args, micros(q.Until))
	}
	if q.Cursor != "" {
		var ts, seq int64
		if err := store.DecodeCursor(q.Cursor, &ts, &seq); err != nil {
			return nil, "", fmt.Errorf("list events: %w", err)
		}
		// (timestamp, seq) < (ts, seq), written so the timestamp range can
		// use an index.
		conds = append(conds, `timestamp <= ? AND (timestamp < ? OR seq < ?)`)
		args = append(args, ts, ts, seq)
	}
	limit := store.PageLimit(q.Limit)
	args = append(args, limit+1)
	st, err := s.read(ctx, `SELECT `+eventColumns+`, seq FROM events`+where(conds)+
		` ORDER BY timestamp DESC, seq DESC LIMIT ?`)
	if err != nil {
		return nil, "", fmt.Errorf("list events: %w", err)
	}
	rows, err := st.QueryContext(ctx, args...)
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

// EventActivity aggregates the client's events of the stack and those of no
// stack with Timestamp >= since, per provider, event type and content type.
func (s *Store) EventActivity(ctx context.Context, clientID, stackID string, since time.Time) ([]store.Activity, error) {
	st, err := s.read(ctx, `SELECT provider_name, event_type, content_type, COUNT(*), MAX(timestamp),
	SUM(CASE WHEN drift_checked = 0 THEN 1 ELSE 0 END),
	MIN(CASE WHEN drift_checked = 0 THEN received_at END)
FROM events
WHERE client_id = ? AND stack_id IN (?, '') AND timestamp >= ?
GROUP BY provider_name, event_type, content_type
ORDER BY provider_name, event_type, content_type`)
	if err != nil {
		return nil, fmt.Errorf("event activity: %w", err)
	}
	rows, err := st.QueryContext(ctx, clientID, stackID, micros(since))
	if err != nil {
		return nil, fmt.Errorf("event activity %s/%s: %w", clientID, stackID, err)
	}
	defer rows.Close()
	var out []store.Activity
	for rows.Next() {
		var (
			a      store.Activity
			last   int64
			oldest sql.NullInt64
		)
		if err := rows.Scan(&a.ProviderName, &a.EventType, &a.ContentType, &a.Count, &last, &a.Unchecked, &oldest); err != nil {
			return nil, fmt.Errorf("event activity %s/%s: %w", clientID, stackID, err)
		}
		a.Last = fromMicros(last)
		a.OldestUnchecked = fromNullMicros(oldest)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("event activity %s/%s: %w", clientID, stackID, err)
	}
	return out, nil
}

// UncheckedEventIDs returns up to limit (store.PageLimit) ids of the
// stack's and the client-wide events no pass has seen, oldest first.
func (s *Store) UncheckedEventIDs(ctx context.Context, clientID, stackID string, limit int) ([]string, error) {
	st, err := s.read(ctx, `SELECT event_id FROM events
WHERE client_id = ? AND stack_id IN (?, '') AND drift_checked = 0
ORDER BY seq LIMIT ?`)
	if err != nil {
		return nil, fmt.Errorf("unchecked events: %w", err)
	}
	rows, err := st.QueryContext(ctx, clientID, stackID, store.PageLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("unchecked events %s/%s: %w", clientID, stackID, err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("unchecked events %s/%s: %w", clientID, stackID, err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("unchecked events %s/%s: %w", clientID, stackID, err)
	}
	return ids, nil
}

// DeleteExpiredEvents deletes up to limit (store.MaxLimit when limit <= 0)
// events whose TTLTimestamp (unix seconds) is before now. An event with
// TTLTimestamp 0 never expires. The batch is bounded so the write lock is
// held briefly; call again until it returns 0.
func (s *Store) DeleteExpiredEvents(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		limit = store.MaxLimit
	}
	var n int64
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
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

// DeleteReconciliationsBefore deletes up to limit (store.MaxLimit when
// limit <= 0) results that started before the given time, oldest first.
func (s *Store) DeleteReconciliationsBefore(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		limit = store.MaxLimit
	}
	var n int64
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		st, err := s.write(ctx, tx, qDeleteOldResults)
		if err != nil {
			return err
		}
		res, err := st.ExecContext(ctx, micros(before), limit)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete old reconciliations: %w", err)
	}
	return int(n), nil
}
