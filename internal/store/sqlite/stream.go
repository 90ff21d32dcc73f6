package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/blackwellio/blackwell/internal/store"
)

// The stream log (migration 0014). The one writer commits one transaction
// after another, and a write numbers its events from stream_head in its
// transaction (a write rolled back to its savepoint gives its seqs back),
// so seqs are gap-free and increase in commit order. After a commit that
// wrote events, the Store wakes its watchers (WatchStream): one process
// serves a SQLite file.

const (
	qStreamHead   = `UPDATE stream_head SET seq = seq + ? RETURNING seq`
	qInsertStream = `INSERT INTO stream (seq, kind, client_id, stack_id, severity, timestamp, data, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
)

// appendStream writes events in tx, after the head.
func (s *Store) appendStream(ctx context.Context, tx *sql.Tx, events []store.StreamEvent) error {
	if len(events) == 0 {
		return nil
	}
	head, err := s.write(ctx, tx, qStreamHead)
	if err != nil {
		return err
	}
	var last int64
	if err := head.QueryRowContext(ctx, len(events)).Scan(&last); err != nil {
		return fmt.Errorf("advance stream head: %w", err)
	}
	ins, err := s.write(ctx, tx, qInsertStream)
	if err != nil {
		return err
	}
	now := micros(s.now())
	first := last - int64(len(events)) + 1
	for i, e := range events {
		if _, err := ins.ExecContext(ctx, first+int64(i), e.Kind, e.ClientID, e.StackID, e.Severity,
			micros(e.Timestamp), store.StreamData(e), now); err != nil {
			return fmt.Errorf("insert stream event: %w", err)
		}
	}
	s.stream.wrote.Store(true)
	return nil
}

// AppendStream commits events in a write of their own.
func (s *Store) AppendStream(ctx context.Context, events []store.StreamEvent) error {
	if err := store.CheckStream(events); err != nil {
		return fmt.Errorf("append stream: %w", err)
	}
	if len(events) == 0 {
		return nil
	}
	if err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return s.appendStream(ctx, tx, events)
	}); err != nil {
		return fmt.Errorf("append stream: %w", err)
	}
	return nil
}

// ReadStream reads events after after, with the head and pruned mark, in
// one read transaction (one snapshot).
func (s *Store) ReadStream(ctx context.Context, after int64, limit int) (store.StreamPage, error) {
	tx, err := s.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return store.StreamPage{}, fmt.Errorf("read stream after %d: %w", after, err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	var page store.StreamPage
	if err := tx.QueryRowContext(ctx, `SELECT seq, pruned FROM stream_head`).Scan(&page.Head, &page.Pruned); err != nil {
		return store.StreamPage{}, fmt.Errorf("read stream after %d: %w", after, err)
	}
	if limit <= 0 {
		return page, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT seq, kind, client_id, stack_id, severity, timestamp, data, created_at
FROM stream WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return store.StreamPage{}, fmt.Errorf("read stream after %d: %w", after, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			e              store.StreamEvent
			stamp, created int64
			data           string
		)
		if err := rows.Scan(&e.Seq, &e.Kind, &e.ClientID, &e.StackID, &e.Severity, &stamp, &data, &created); err != nil {
			return store.StreamPage{}, fmt.Errorf("read stream after %d: %w", after, err)
		}
		e.Timestamp, e.CreatedAt, e.Data = fromMicros(stamp), fromMicros(created), []byte(data)
		page.Events = append(page.Events, e)
	}
	if err := rows.Err(); err != nil {
		return store.StreamPage{}, fmt.Errorf("read stream after %d: %w", after, err)
	}
	return page, nil
}

// PruneStream deletes, of the limit oldest events, those written before
// q.Before or more than q.MaxRows below the head, and moves the pruned
// mark past them.
func (s *Store) PruneStream(ctx context.Context, q store.StreamPrune, limit int) (int, error) {
	if limit <= 0 {
		limit = store.MaxLimit
	}
	var before int64
	if !q.Before.IsZero() {
		before = micros(q.Before)
	}
	var n int64
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var gone sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT max(seq), count(*) FROM stream WHERE seq IN (SELECT seq FROM stream ORDER BY seq LIMIT ?)
AND (created_at < ? OR (? > 0 AND seq <= (SELECT seq FROM stream_head) - ?))`,
			limit, before, q.MaxRows, q.MaxRows).Scan(&gone, &n); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		// The oldest events go first, so those chosen are every event up
		// to the last of them.
		if _, err := tx.ExecContext(ctx, `DELETE FROM stream WHERE seq <= ?`, gone.Int64); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE stream_head SET pruned = max(pruned, ?)`, gone.Int64)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune stream: %w", err)
	}
	return int(n), nil
}

// streamHub wakes the Store's stream watchers after a commit that wrote
// events. Its zero value is ready.
type streamHub struct {
	wrote atomic.Bool // set by appendStream, on the committer's goroutine

	mu       sync.Mutex
	watchers map[chan struct{}]struct{}
}

// committed is called after every commit of the writer.
func (h *streamHub) committed() {
	if !h.wrote.Swap(false) {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.watchers {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// WatchStream calls wake after each commit of this Store that wrote
// events, and once at the start, until ctx ends.
func (s *Store) WatchStream(ctx context.Context, wake func()) error {
	c := make(chan struct{}, 1)
	h := &s.stream
	h.mu.Lock()
	if h.watchers == nil {
		h.watchers = map[chan struct{}]struct{}{}
	}
	h.watchers[c] = struct{}{}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.watchers, c)
		h.mu.Unlock()
	}()
	wake()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c:
			wake()
		}
	}
}
