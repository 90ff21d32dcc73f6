package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/blackwellio/blackwell/internal/store"
)

// DataKeys returns the wrapped data keys, oldest first.
func (s *Store) DataKeys(ctx context.Context) ([]store.DataKey, error) {
	st, err := s.read(ctx, `SELECT id, kek_id, wrapped, created_at FROM data_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("data keys: %w", err)
	}
	rows, err := st.QueryContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("data keys: %w", err)
	}
	defer rows.Close()
	var out []store.DataKey
	for rows.Next() {
		var (
			k  store.DataKey
			at int64
		)
		if err := rows.Scan(&k.ID, &k.KEKID, &k.Wrapped, &at); err != nil {
			return nil, fmt.Errorf("data keys: %w", err)
		}
		k.CreatedAt = fromMicros(at)
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("data keys: %w", err)
	}
	return out, nil
}

// PutDataKeys upserts keys by id in one transaction.
func (s *Store) PutDataKeys(ctx context.Context, keys []store.DataKey) error {
	if len(keys) == 0 {
		return nil
	}
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, `INSERT INTO data_keys (id, kek_id, wrapped, created_at) VALUES (?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET kek_id = excluded.kek_id, wrapped = excluded.wrapped`,
				k.ID, k.KEKID, k.Wrapped, micros(k.CreatedAt)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("put data keys: %w", err)
	}
	return nil
}

// ScanPayloads reads payloads as stored, in key order.
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
WHERE payload IS NOT NULL AND event_id > ?`
		args = append(args, q.After)
		if q.ClientID != "" {
			query += ` AND client_id = ?`
			args = append(args, q.ClientID)
		}
		if q.ProviderName != "" {
			query += ` AND provider_name = ?`
			args = append(args, q.ProviderName)
		}
		query += ` ORDER BY event_id LIMIT ?`
	case store.PayloadOutbox:
		query = `SELECT id, '', '', '', '', payload FROM outbox WHERE id > ? ORDER BY id LIMIT ?`
		args = append(args, q.After)
	default:
		return nil, fmt.Errorf("scan payloads: unknown table %q", q.Table)
	}
	args = append(args, limit)
	st, err := s.read(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("scan %s payloads: %w", q.Table, err)
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("scan %s payloads: %w", q.Table, err)
	}
	defer rows.Close()
	var out []store.PayloadRow
	for rows.Next() {
		var (
			r       store.PayloadRow
			payload string
		)
		if err := rows.Scan(&r.Key, &r.ClientID, &r.ProviderName, &r.ContentID, &r.EventType, &payload); err != nil {
			return nil, fmt.Errorf("scan %s payloads: %w", q.Table, err)
		}
		r.Payload = json.RawMessage(payload)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
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

// SwapPayloads writes the swaps whose row still holds Old.
func (s *Store) SwapPayloads(ctx context.Context, table store.PayloadTable, swaps []store.PayloadSwap) (int, error) {
	key, err := payloadKey(table)
	if err != nil {
		return 0, fmt.Errorf("swap payloads: %w", err)
	}
	for _, w := range swaps {
		if !json.Valid(w.New) {
			return 0, fmt.Errorf("swap payloads: %s %s: the new payload is not JSON", table, w.Key)
		}
	}
	n := 0
	err = s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		n = 0
		for _, w := range swaps {
			res, err := tx.ExecContext(ctx, `UPDATE `+string(table)+` SET payload = ? WHERE `+key+` = ? AND payload = ?`,
				string(w.New), w.Key, string(w.Old))
			if err != nil {
				return err
			}
			k, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += int(k)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("swap %s payloads: %w", table, err)
	}
	return n, nil
}

// DeleteRows deletes rows by key. Deleting an event updates its activity
// bucket (the trigger of migration 0004), as TTL expiry does.
func (s *Store) DeleteRows(ctx context.Context, table store.PayloadTable, keys []string) (int, error) {
	key, err := payloadKey(table)
	if err != nil {
		return 0, fmt.Errorf("delete rows: %w", err)
	}
	if len(keys) == 0 {
		return 0, nil
	}
	n := 0
	err = s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		n = 0
		for _, k := range keys {
			res, err := tx.ExecContext(ctx, `DELETE FROM `+string(table)+` WHERE `+key+` = ?`, k)
			if err != nil {
				return err
			}
			d, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += int(d)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("delete %s rows: %w", table, err)
	}
	return n, nil
}

// DeleteContent deletes content-cache rows.
func (s *Store) DeleteContent(ctx context.Context, q store.ContentErase) (int, error) {
	if q.ClientID == "" || q.ProviderName == "" {
		return 0, fmt.Errorf("delete content: client and provider are required")
	}
	query := `DELETE FROM content WHERE client_id = ? AND provider_name = ?`
	args := []any{q.ClientID, q.ProviderName}
	if q.Source != "" {
		query += ` AND source = ?`
		args = append(args, q.Source)
	}
	if len(q.ContentIDs) > 0 {
		query += ` AND content_id IN (?` + strings.Repeat(`, ?`, len(q.ContentIDs)-1) + `)`
		for _, id := range q.ContentIDs {
			args = append(args, id)
		}
	}
	var n int64
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete content: %w", err)
	}
	return int(n), nil
}
