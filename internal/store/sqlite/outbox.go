package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/blackwellio/blackwell/internal/store"
)

// AuditAfter returns up to limit entries with seq > after, oldest first.
// Appends hold the write lock from reading the chain's head to commit, so
// seqs become visible in order.
func (s *Store) AuditAfter(ctx context.Context, after int64, limit int) ([]store.AuditEntry, error) {
	limit, err := store.BatchLimit(limit)
	if err != nil {
		return nil, fmt.Errorf("audit after %d: %w", after, err)
	}
	st, err := s.read(ctx, `SELECT seq, timestamp, action, client_id, stack_id, triggered_by, success, changes_made,
	approval_required, approver, reconciliation_id, drift_id, prev_hash, hash
FROM audit WHERE seq > ? ORDER BY seq LIMIT ?`)
	if err != nil {
		return nil, fmt.Errorf("audit after %d: %w", after, err)
	}
	rows, err := st.QueryContext(ctx, after, limit)
	if err != nil {
		return nil, fmt.Errorf("audit after %d: %w", after, err)
	}
	defer rows.Close()
	var out []store.AuditEntry
	for rows.Next() {
		var (
			e                 store.AuditEntry
			ts                int64
			success, approval int64
			changes           sql.NullString
		)
		if err := rows.Scan(&e.Seq, &ts, &e.Action, &e.ClientID, &e.StackID, &e.TriggeredBy, &success, &changes,
			&approval, &e.Approver, &e.ReconciliationID, &e.DriftID, &e.PrevHash, &e.Hash); err != nil {
			return nil, fmt.Errorf("audit after %d: %w", after, err)
		}
		e.Timestamp, e.Success, e.ApprovalRequired = fromMicros(ts), success != 0, approval != 0
		if changes.Valid {
			e.ChangesMade = json.RawMessage(changes.String)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit after %d: %w", after, err)
	}
	return out, nil
}

// AuditHead returns the newest entry's seq, 0 for none.
func (s *Store) AuditHead(ctx context.Context) (int64, error) {
	st, err := s.read(ctx, `SELECT COALESCE(MAX(seq), 0) FROM audit`)
	if err != nil {
		return 0, fmt.Errorf("audit head: %w", err)
	}
	var seq int64
	if err := st.QueryRowContext(ctx).Scan(&seq); err != nil {
		return 0, fmt.Errorf("audit head: %w", err)
	}
	return seq, nil
}

// GetSubscriber returns a subscriber's cursor and states, or ErrNotFound.
func (s *Store) GetSubscriber(ctx context.Context, name string) (store.Subscriber, error) {
	sub := store.Subscriber{Name: name, States: map[string]json.RawMessage{}}
	st, err := s.read(ctx, `SELECT seq FROM subscriber_cursors WHERE name = ?`)
	if err != nil {
		return store.Subscriber{}, fmt.Errorf("get subscriber %s: %w", name, err)
	}
	if err := st.QueryRowContext(ctx, name).Scan(&sub.Cursor); err != nil {
		return store.Subscriber{}, fmt.Errorf("get subscriber %s: %w", name, translate(err))
	}
	st, err = s.read(ctx, `SELECT key, doc FROM subscriber_states WHERE subscriber = ?`)
	if err != nil {
		return store.Subscriber{}, fmt.Errorf("get subscriber %s: %w", name, err)
	}
	rows, err := st.QueryContext(ctx, name)
	if err != nil {
		return store.Subscriber{}, fmt.Errorf("get subscriber %s: %w", name, err)
	}
	defer rows.Close()
	for rows.Next() {
		var key, doc string
		if err := rows.Scan(&key, &doc); err != nil {
			return store.Subscriber{}, fmt.Errorf("get subscriber %s: %w", name, err)
		}
		sub.States[key] = json.RawMessage(doc)
	}
	if err := rows.Err(); err != nil {
		return store.Subscriber{}, fmt.Errorf("get subscriber %s: %w", name, err)
	}
	return sub, nil
}

// errCursorMoved rolls back a commit whose subscriber cursor is not From.
var errCursorMoved = errors.New("cursor moved")

// CommitSubscriber writes the cursor, states and deliveries in one
// transaction.
func (s *Store) CommitSubscriber(ctx context.Context, c store.SubscriberCommit) error {
	if err := store.CheckSubscriberCommit(c); err != nil {
		return err
	}
	now := micros(s.now())
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if c.Create {
			if _, err := tx.ExecContext(ctx, `INSERT INTO subscriber_cursors (name, seq, updated_at) VALUES (?, ?, ?)`,
				c.Name, c.To, now); err != nil {
				return translate(err)
			}
		} else {
			res, err := tx.ExecContext(ctx, `UPDATE subscriber_cursors SET seq = ?, updated_at = ? WHERE name = ? AND seq = ?`,
				c.To, now, c.Name, c.From)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				if err != nil {
					return err
				}
				var seq int64
				if err := tx.QueryRowContext(ctx, `SELECT seq FROM subscriber_cursors WHERE name = ?`, c.Name).Scan(&seq); err != nil {
					return translate(err)
				}
				return fmt.Errorf("%w: %w: at %d, not %d", store.ErrConflict, errCursorMoved, seq, c.From)
			}
		}
		for k, doc := range c.States {
			if _, err := tx.ExecContext(ctx, `INSERT INTO subscriber_states (subscriber, key, doc, updated_at) VALUES (?, ?, ?, ?)
ON CONFLICT (subscriber, key) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at`,
				c.Name, k, string(doc), now); err != nil {
				return err
			}
		}
		for _, k := range c.DeleteStates {
			if _, err := tx.ExecContext(ctx, `DELETE FROM subscriber_states WHERE subscriber = ? AND key = ?`, c.Name, k); err != nil {
				return err
			}
		}
		for _, d := range c.Deliveries {
			created := d.CreatedAt
			if created.IsZero() {
				created = s.now()
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO outbox (id, subscriber, channel, payload, created_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (id) DO NOTHING`, d.ID, c.Name, d.Channel, string(d.Payload), micros(created)); err != nil {
				return err
			}
		}
		return s.appendStream(ctx, tx, c.Stream)
	})
	if err != nil {
		return fmt.Errorf("commit subscriber %s: %w", c.Name, err)
	}
	return nil
}

// PendingOutbox lists a subscriber's pending deliveries after seq q.After,
// of q.Channels when set (the index outbox_channel serves one channel in
// order).
func (s *Store) PendingOutbox(ctx context.Context, q store.OutboxQuery) ([]store.OutboxItem, error) {
	limit, err := store.BatchLimit(q.Limit)
	if err != nil {
		return nil, fmt.Errorf("pending outbox: %w", err)
	}
	if q.Channels != nil && len(q.Channels) == 0 {
		return nil, nil
	}
	query, args := `SELECT seq, id, subscriber, channel, payload, created_at FROM outbox
WHERE subscriber = ? AND seq > ? ORDER BY seq LIMIT ?`, []any{q.Subscriber, q.After, limit}
	if len(q.Channels) == 1 {
		query, args = `SELECT seq, id, subscriber, channel, payload, created_at FROM outbox
WHERE subscriber = ? AND channel = ? AND seq > ? ORDER BY seq LIMIT ?`, []any{q.Subscriber, q.Channels[0], q.After, limit}
	} else if len(q.Channels) > 1 {
		names, err := json.Marshal(q.Channels)
		if err != nil {
			return nil, fmt.Errorf("pending outbox: %w", err)
		}
		query, args = `SELECT seq, id, subscriber, channel, payload, created_at FROM outbox
WHERE subscriber = ? AND channel IN (SELECT value FROM json_each(?)) AND seq > ? ORDER BY seq LIMIT ?`,
			[]any{q.Subscriber, string(names), q.After, limit}
	}
	st, err := s.read(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("pending outbox: %w", err)
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("pending outbox: %w", err)
	}
	defer rows.Close()
	var out []store.OutboxItem
	for rows.Next() {
		var (
			it      store.OutboxItem
			payload string
			created int64
		)
		if err := rows.Scan(&it.Seq, &it.ID, &it.Subscriber, &it.Channel, &payload, &created); err != nil {
			return nil, fmt.Errorf("pending outbox: %w", err)
		}
		it.Payload, it.CreatedAt = json.RawMessage(payload), fromMicros(created)
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pending outbox: %w", err)
	}
	return out, nil
}

// DeleteOutbox removes items by id.
func (s *Store) DeleteOutbox(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE id = ?`, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete outbox: %w", err)
	}
	return nil
}

// GetChannelSet returns the channels recorded for a subscriber.
func (s *Store) GetChannelSet(ctx context.Context, subscriber string) (store.ChannelSet, error) {
	st, err := s.read(ctx, `SELECT hash, names, set_by, set_at FROM notify_channel_sets WHERE subscriber = ?`)
	if err != nil {
		return store.ChannelSet{}, fmt.Errorf("get channel set of %s: %w", subscriber, err)
	}
	set := store.ChannelSet{Subscriber: subscriber}
	var (
		names string
		at    int64
	)
	if err := st.QueryRowContext(ctx, subscriber).Scan(&set.Hash, &names, &set.SetBy, &at); err != nil {
		return store.ChannelSet{}, fmt.Errorf("get channel set of %s: %w", subscriber, translate(err))
	}
	if err := json.Unmarshal([]byte(names), &set.Names); err != nil {
		return store.ChannelSet{}, fmt.Errorf("get channel set of %s: %w", subscriber, err)
	}
	set.SetAt = fromMicros(at)
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
	var gaveUp int64
	err = s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO notify_channel_sets (subscriber, hash, names, set_by, set_at)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (subscriber) DO UPDATE SET hash = excluded.hash, names = excluded.names, set_by = excluded.set_by,
	set_at = excluded.set_at`, set.Subscriber, set.Hash, string(doc), set.SetBy, micros(set.SetAt)); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE subscriber = ? AND channel NOT IN (SELECT value FROM json_each(?))`,
			set.Subscriber, string(doc))
		if err != nil {
			return err
		}
		gaveUp, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("put channel set of %s: %w", set.Subscriber, translate(err))
	}
	return int(gaveUp), nil
}
