package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/blackwellio/blackwell/internal/store"
)

// DataKeys returns the wrapped data keys, oldest first.
func (s *Store) DataKeys(ctx context.Context) ([]store.DataKey, error) {
	var out []store.DataKey
	err := s.retry(ctx, func() error {
		rows, _ := s.pool.Query(ctx, `SELECT id, kek_id, wrapped, created_at FROM data_keys ORDER BY created_at, id`)
		var err error
		out, err = collectRows(rows, func(row pgx.CollectableRow) (store.DataKey, error) {
			var k store.DataKey
			err := row.Scan(&k.ID, &k.KEKID, &k.Wrapped, &k.CreatedAt)
			k.CreatedAt = utc(k.CreatedAt)
			return k, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("data keys: %w", err)
	}
	return out, nil
}

// PutDataKeys upserts keys by id in one transaction.
func (s *Store) PutDataKeys(ctx context.Context, keys []store.DataKey) error {
	if len(keys) == 0 {
		return nil
	}
	err := s.inTx(ctx, func(ctx context.Context, t *txn) error {
		b := t.batch()
		for _, k := range keys {
			b.Queue(`INSERT INTO data_keys (id, kek_id, wrapped, created_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (id) DO UPDATE SET kek_id = excluded.kek_id, wrapped = excluded.wrapped`,
				k.ID, k.KEKID, k.Wrapped, store.Truncate(k.CreatedAt))
		}
		return t.commit(ctx, b)
	})
	if err != nil {
		return fmt.Errorf("put data keys: %w", err)
	}
	return nil
}

// ScanPayloads reads payloads as stored, in key order (COLLATE "C":
// bytewise, as SQLite orders them).
func (s *Store) ScanPayloads(ctx context.Context, q store.PayloadScan) ([]store.PayloadRow, error) {
	limit, err := store.BatchLimit(q.Limit)
	if err != nil {
		return nil, fmt.Errorf("scan %s payloads: %w", q.Table, err)
	}
	var (
		query string
		args  []any
	)
	switch q.Table {
	case store.PayloadEvents:
		query = `SELECT event_id, client_id, provider_name, content_id, event_type, payload FROM events
WHERE payload IS NOT NULL AND event_id > $1 AND ($2 = '' OR client_id = $2) AND ($3 = '' OR provider_name = $3)
ORDER BY event_id LIMIT $4`
		args = []any{q.After, q.ClientID, q.ProviderName, limit}
	case store.PayloadOutbox:
		query = `SELECT id, '', '', '', '', payload FROM outbox WHERE id > $1 ORDER BY id LIMIT $2`
		args = []any{q.After, limit}
	default:
		return nil, fmt.Errorf("scan payloads: unknown table %q", q.Table)
	}
	var out []store.PayloadRow
	err = s.retry(ctx, func() error {
		rows, _ := s.pool.Query(ctx, query, args...)
		var err error
		out, err = collectRows(rows, func(row pgx.CollectableRow) (store.PayloadRow, error) {
			var (
				r       store.PayloadRow
				payload string
			)
			err := row.Scan(&r.Key, &r.ClientID, &r.ProviderName, &r.ContentID, &r.EventType, &payload)
			r.Payload = json.RawMessage(payload)
			return r, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("scan %s payloads: %w", q.Table, err)
	}
	return out, nil
}

// payloadKey is the key column of a payload table.
func payloadKey(t store.PayloadTable) (string, error) {
	switch t {
	case store.PayloadEvents:
		return "event_id", nil
	case store.PayloadOutbox:
		return "id", nil
	}
	return "", fmt.Errorf("unknown table %q", t)
}

// SwapPayloads writes the swaps whose row still holds Old, in one
// statement.
func (s *Store) SwapPayloads(ctx context.Context, table store.PayloadTable, swaps []store.PayloadSwap) (int, error) {
	key, err := payloadKey(table)
	if err != nil {
		return 0, fmt.Errorf("swap payloads: %w", err)
	}
	if len(swaps) == 0 {
		return 0, nil
	}
	keys, olds, news := make([]string, len(swaps)), make([]string, len(swaps)), make([]string, len(swaps))
	for i, w := range swaps {
		if !json.Valid(w.New) {
			return 0, fmt.Errorf("swap payloads: %s %s: the new payload is not JSON", table, w.Key)
		}
		keys[i], olds[i], news[i] = w.Key, string(w.Old), string(w.New)
	}
	var n int64
	err = s.retry(ctx, func() error {
		tag, err := s.pool.Exec(ctx, `UPDATE `+string(table)+` t SET payload = w.new
FROM unnest($1::text[], $2::text[], $3::text[]) AS w(key, old, new)
WHERE t.`+key+` = w.key AND t.payload = w.old`, keys, olds, news)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("swap %s payloads: %w", table, err)
	}
	return int(n), nil
}

// qDeleteEvents deletes events by id and takes them out of their activity
// buckets, as qDeleteExpired does for expired ones.
var qDeleteEvents = deleteEventsWhere(`event_id = ANY($1)`)

// DeleteRows deletes rows by key; deleted events leave their activity
// buckets as expired ones do.
func (s *Store) DeleteRows(ctx context.Context, table store.PayloadTable, keys []string) (int, error) {
	if _, err := payloadKey(table); err != nil {
		return 0, fmt.Errorf("delete rows: %w", err)
	}
	if len(keys) == 0 {
		return 0, nil
	}
	if table == store.PayloadOutbox {
		var n int64
		err := s.retry(ctx, func() error {
			tag, err := s.pool.Exec(ctx, `DELETE FROM outbox WHERE id = ANY($1)`, keys)
			n = tag.RowsAffected()
			return err
		})
		if err != nil {
			return 0, fmt.Errorf("delete outbox rows: %w", err)
		}
		return int(n), nil
	}
	n, err := s.deleteEvents(ctx, qDeleteEvents, keys)
	if err != nil {
		return 0, fmt.Errorf("delete events rows: %w", err)
	}
	return n, nil
}

// DeleteContent deletes content-cache rows.
func (s *Store) DeleteContent(ctx context.Context, q store.ContentErase) (int, error) {
	if q.ClientID == "" || q.ProviderName == "" {
		return 0, fmt.Errorf("delete content: client and provider are required")
	}
	ids := q.ContentIDs
	if ids == nil {
		ids = []string{}
	}
	var n int64
	err := s.retry(ctx, func() error {
		tag, err := s.pool.Exec(ctx, `DELETE FROM content WHERE client_id = $1 AND provider_name = $2
	AND ($3 = '' OR source = $3) AND (cardinality($4::text[]) = 0 OR content_id = ANY($4))`,
			q.ClientID, q.ProviderName, q.Source, ids)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete content: %w", err)
	}
	return int(n), nil
}
