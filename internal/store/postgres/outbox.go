package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/blackwellio/blackwell/internal/store"
)

// AuditAfter returns up to limit entries with seq > after, oldest first.
// Every append takes the audit_head row lock until it commits, so seqs
// become visible in order.
func (s *Store) AuditAfter(ctx context.Context, after int64, limit int) ([]store.AuditEntry, error) {
	limit, err := store.BatchLimit(limit)
	if err != nil {
		return nil, fmt.Errorf("audit after %d: %w", after, err)
	}
	rows, _ := s.pool.Query(ctx, `SELECT `+auditColumns+` FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2`, after, limit)
	out, err := collectRows(rows, scanAuditEntry)
	if err != nil {
		return nil, fmt.Errorf("audit after %d: %w", after, err)
	}
	return out, nil
}

// auditColumns are the columns of an audit entry, as scanAuditEntry reads
// them.
const auditColumns = `seq, timestamp, action, client_id, stack_id, triggered_by, success, changes_made,
	approval_required, approver, reconciliation_id, drift_id, prev_hash, hash`

// briefAuditColumns are the columns of a brief audit entry
// (AuditQuery.Brief), as scanBriefAuditEntry reads them.
const briefAuditColumns = `seq, timestamp, action, client_id, stack_id, changes_made, approval_required, drift_id`

// scanBriefAuditEntry reads a row of briefAuditColumns.
func scanBriefAuditEntry(row pgx.CollectableRow) (store.AuditEntry, error) {
	var (
		e       store.AuditEntry
		changes *string
	)
	if err := row.Scan(&e.Seq, &e.Timestamp, &e.Action, &e.ClientID, &e.StackID, &changes, &e.ApprovalRequired, &e.DriftID); err != nil {
		return e, err
	}
	e.Timestamp = utc(e.Timestamp)
	if changes != nil {
		e.ChangesMade = json.RawMessage(*changes)
	}
	return e, nil
}

// scanAuditEntry reads a row of auditColumns.
func scanAuditEntry(row pgx.CollectableRow) (store.AuditEntry, error) {
	var (
		e       store.AuditEntry
		changes *string
	)
	if err := row.Scan(&e.Seq, &e.Timestamp, &e.Action, &e.ClientID, &e.StackID, &e.TriggeredBy, &e.Success,
		&changes, &e.ApprovalRequired, &e.Approver, &e.ReconciliationID, &e.DriftID, &e.PrevHash, &e.Hash); err != nil {
		return e, err
	}
	e.Timestamp = utc(e.Timestamp)
	if changes != nil {
		e.ChangesMade = json.RawMessage(*changes)
	}
	return e, nil
}

// AuditHead returns the newest entry's seq, 0 for none.
func (s *Store) AuditHead(ctx context.Context) (int64, error) {
	var seq int64
	if err := s.pool.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM audit`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("audit head: %w", err)
	}
	return seq, nil
}

// GetSubscriber returns a subscriber's cursor and states, or ErrNotFound.
func (s *Store) GetSubscriber(ctx context.Context, name string) (store.Subscriber, error) {
	sub := store.Subscriber{Name: name, States: map[string]json.RawMessage{}}
	if err := s.pool.QueryRow(ctx, `SELECT seq FROM subscriber_cursors WHERE name = $1`, name).Scan(&sub.Cursor); err != nil {
		return store.Subscriber{}, fmt.Errorf("get subscriber %s: %w", name, translate(err))
	}
	rows, _ := s.pool.Query(ctx, `SELECT key, doc FROM subscriber_states WHERE subscriber = $1`, name)
	var key, doc string
	_, err := pgx.ForEachRow(rows, []any{&key, &doc}, func() error {
		sub.States[key] = json.RawMessage(doc)
		return nil
	})
	if err != nil {
		return store.Subscriber{}, fmt.Errorf("get subscriber %s: %w", name, err)
	}
	return sub, nil
}

const (
	qCreateCursor = `INSERT INTO subscriber_cursors (name, seq, updated_at) VALUES ($1, $2, $3)
ON CONFLICT (name) DO NOTHING RETURNING seq`
	qMoveCursor = `UPDATE subscriber_cursors SET seq = $2, updated_at = $3 WHERE name = $1 AND seq = $4 RETURNING seq`
	// The states and deliveries, one array per column.
	qUpsertStates = `INSERT INTO subscriber_states (subscriber, key, doc, updated_at)
SELECT $1, k, d, $4 FROM unnest($2::text[], $3::text[]) AS t(k, d)
ON CONFLICT (subscriber, key) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at`
	qDeleteStates = `DELETE FROM subscriber_states WHERE subscriber = $1 AND key = ANY($2::text[])`
	qInsertOutbox = `INSERT INTO outbox (id, subscriber, channel, payload, created_at)
SELECT i, $1, c, p, t FROM unnest($2::text[], $3::text[], $4::text[], $5::timestamptz[]) WITH ORDINALITY AS u(i, c, p, t, n)
ORDER BY n
ON CONFLICT (id) DO NOTHING`
)

// CommitSubscriber writes the cursor, states and deliveries in one
// transaction: two round trips (the cursor move, whose answer decides,
// then the rest with COMMIT).
func (s *Store) CommitSubscriber(ctx context.Context, c store.SubscriberCommit) error {
	if err := store.CheckSubscriberCommit(c); err != nil {
		return err
	}
	keys := make([]string, 0, len(c.States))
	docs := make([]string, 0, len(c.States))
	for k, doc := range c.States {
		keys, docs = append(keys, k), append(docs, string(doc))
	}
	n := len(c.Deliveries)
	ids, channels, payloads := make([]string, n), make([]string, n), make([]string, n)
	created := make([]time.Time, n)
	now := s.now()
	for i, d := range c.Deliveries {
		ids[i], channels[i], payloads[i] = d.ID, d.Channel, string(d.Payload)
		t := d.CreatedAt
		if t.IsZero() {
			t = now
		}
		created[i] = ts(t)
	}
	stream, err := s.encodeStream(ctx, c.Stream)
	if err != nil {
		return fmt.Errorf("commit subscriber %s: %w", c.Name, err)
	}
	err = s.inTx(ctx, func(ctx context.Context, t *txn) error {
		moved := false
		b := t.batch()
		scan := func(row pgx.Row) error {
			var seq int64
			switch err := row.Scan(&seq); {
			case errors.Is(err, pgx.ErrNoRows):
				return nil
			case err != nil:
				return err
			}
			moved = true
			return nil
		}
		if c.Create {
			b.Queue(qCreateCursor, c.Name, c.To, ts(now)).QueryRow(scan)
		} else {
			b.Queue(qMoveCursor, c.Name, c.To, ts(now), c.From).QueryRow(scan)
		}
		if err := t.send(ctx, b); err != nil {
			return translate(err)
		}
		if !moved {
			if c.Create {
				return fmt.Errorf("%w: subscriber exists", store.ErrConflict)
			}
			var seq int64
			if err := t.conn.QueryRow(ctx, `SELECT seq FROM subscriber_cursors WHERE name = $1`, c.Name).Scan(&seq); err != nil {
				return translate(err)
			}
			return fmt.Errorf("%w: cursor at %d, not %d", store.ErrConflict, seq, c.From)
		}
		b = t.batch()
		if len(keys) > 0 {
			b.Queue(qUpsertStates, c.Name, keys, docs, ts(now))
		}
		if len(c.DeleteStates) > 0 {
			b.Queue(qDeleteStates, c.Name, c.DeleteStates)
		}
		if n > 0 {
			b.Queue(qInsertOutbox, c.Name, ids, channels, payloads, created)
		}
		queueStream(b, stream)
		if err := t.commit(ctx, b); err != nil {
			return translate(err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("commit subscriber %s: %w", c.Name, err)
	}
	return nil
}

// PendingOutbox lists a subscriber's pending deliveries after seq q.After,
// of q.Channels when set. With one channel the index outbox_channel
// (subscriber, channel, seq) gives the page in order; with several,
// PostgreSQL reads those channels' rows and keeps the first (a top-N
// sort), which is why the dispatcher asks one channel at a time.
func (s *Store) PendingOutbox(ctx context.Context, q store.OutboxQuery) ([]store.OutboxItem, error) {
	limit, err := store.BatchLimit(q.Limit)
	if err != nil {
		return nil, fmt.Errorf("pending outbox: %w", err)
	}
	if q.Channels != nil && len(q.Channels) == 0 {
		return nil, nil
	}
	var rows pgx.Rows
	if q.Channels == nil {
		rows, _ = s.pool.Query(ctx, `SELECT seq, id, subscriber, channel, payload, created_at FROM outbox
WHERE subscriber = $1 AND seq > $2 ORDER BY seq LIMIT $3`, q.Subscriber, q.After, limit)
	} else {
		rows, _ = s.pool.Query(ctx, `SELECT seq, id, subscriber, channel, payload, created_at FROM outbox
WHERE subscriber = $1 AND channel = ANY($2) AND seq > $3 ORDER BY seq LIMIT $4`, q.Subscriber, q.Channels, q.After, limit)
	}
	out, err := collectRows(rows, func(row pgx.CollectableRow) (store.OutboxItem, error) {
		var (
			it      store.OutboxItem
			payload string
		)
		err := row.Scan(&it.Seq, &it.ID, &it.Subscriber, &it.Channel, &payload, &it.CreatedAt)
		it.Payload, it.CreatedAt = json.RawMessage(payload), utc(it.CreatedAt)
		return it, err
	})
	if err != nil {
		return nil, fmt.Errorf("pending outbox: %w", err)
	}
	return out, nil
}

// DeleteOutbox removes items by id.
func (s *Store) DeleteOutbox(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	err := s.retry(ctx, func() error {
		_, err := s.pool.Exec(ctx, `DELETE FROM outbox WHERE id = ANY($1)`, ids)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete outbox: %w", err)
	}
	return nil
}

// GetChannelSet returns the channels recorded for a subscriber.
func (s *Store) GetChannelSet(ctx context.Context, subscriber string) (store.ChannelSet, error) {
	set := store.ChannelSet{Subscriber: subscriber}
	var names string
	err := s.pool.QueryRow(ctx, `SELECT hash, names, set_by, set_at FROM notify_channel_sets WHERE subscriber = $1`,
		subscriber).Scan(&set.Hash, &names, &set.SetBy, &set.SetAt)
	if err != nil {
		return store.ChannelSet{}, fmt.Errorf("get channel set of %s: %w", subscriber, translate(err))
	}
	if err := json.Unmarshal([]byte(names), &set.Names); err != nil {
		return store.ChannelSet{}, fmt.Errorf("get channel set of %s: %w", subscriber, err)
	}
	set.SetAt = utc(set.SetAt)
	return set, nil
}

// PutChannelSet records the channels of a subscriber and deletes its
// deliveries of other channels, in one transaction.
func (s *Store) PutChannelSet(ctx context.Context, set store.ChannelSet) (int, error) {
	names := set.Names
	if names == nil {
		names = []string{}
	}
	doc, err := json.Marshal(names)
	if err != nil {
		return 0, fmt.Errorf("put channel set of %s: %w", set.Subscriber, err)
	}
	var gaveUp int
	err = s.retry(ctx, func() error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO notify_channel_sets (subscriber, hash, names, set_by, set_at)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (subscriber) DO UPDATE SET hash = excluded.hash, names = excluded.names, set_by = excluded.set_by,
	set_at = excluded.set_at`, set.Subscriber, set.Hash, string(doc), set.SetBy, ts(set.SetAt)); err != nil {
				return err
			}
			ct, err := tx.Exec(ctx, `DELETE FROM outbox WHERE subscriber = $1 AND NOT (channel = ANY($2))`, set.Subscriber, names)
			if err != nil {
				return err
			}
			gaveUp = int(ct.RowsAffected())
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("put channel set of %s: %w", set.Subscriber, translate(err))
	}
	return gaveUp, nil
}
