package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/blackwellio/blackwell/internal/store"
)

// The stream log (migration 0014). A transaction that writes events ends
// with qAppendStream: it takes stream_head's row lock, numbers the events
// after the head and holds the lock until it commits, so writers of the
// log commit in seq order and a reader that read every seq up to n never
// finds a lower one later (a bigserial would allow 10 to commit after 11,
// and a reader past 11 would miss it). Taking the lock in the statement
// before COMMIT keeps it for the commit's round trip and WAL flush only.
// The same statement notifies the schema's stream channel, delivered at
// commit (and never for a rollback), with the last seq as the payload.

// streamPrefix names the stream's notification channel (channelName).
const streamPrefix = "blackwell_stream"

// streamConns bounds the connections that read the stream log (the
// Store's streamPool, opened as they are needed): the replica's tail and
// the replays of reconnecting stream clients. Measured: on the shared
// pool (4 connections, busy with grouped loads and commits during a burst
// of passes), a tail's read waited there for most of a second.
const streamConns = 2

// qAppendStream numbers and writes events and notifies: $1 is their
// count, $2..$7 their columns, $8 the channel. created_at is the
// server's clock once the head is taken: the commit follows at once.
const qAppendStream = `WITH head AS (UPDATE stream_head SET seq = seq + $1 RETURNING seq - $1 AS base),
ins AS (
	INSERT INTO stream (seq, kind, client_id, stack_id, severity, timestamp, data, created_at)
	SELECT head.base + e.n, e.kind, e.client_id, e.stack_id, e.severity, e.ts, e.data, clock_timestamp()
	FROM head, unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::text[])
		WITH ORDINALITY AS e(kind, client_id, stack_id, severity, ts, data, n)
	RETURNING seq)
SELECT pg_notify($8, (SELECT max(seq) FROM ins)::text)`

// streamWrite is events encoded for qAppendStream.
type streamWrite struct {
	args []any
}

// encodeStream checks events and encodes them for queueStream; nil for
// none.
func (s *Store) encodeStream(ctx context.Context, events []store.StreamEvent) (*streamWrite, error) {
	if err := store.CheckStream(events); err != nil {
		return nil, err
	}
	if len(events) == 0 {
		return nil, nil
	}
	schema, err := s.schemaName(ctx)
	if err != nil {
		return nil, fmt.Errorf("stream: %w", err)
	}
	n := len(events)
	kinds, clients, stacks, sevs, data := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	stamps := make([]time.Time, n)
	for i, e := range events {
		kinds[i], clients[i], stacks[i], sevs[i] = e.Kind, e.ClientID, e.StackID, e.Severity
		stamps[i], data[i] = ts(e.Timestamp), store.StreamData(e)
	}
	return &streamWrite{args: []any{int64(n), kinds, clients, stacks, sevs, stamps, data,
		channelName(streamPrefix, schema)}}, nil
}

// queueStream adds w's statement to b, which must be the transaction's
// last batch (the head stays locked until the commit). A nil w adds
// nothing.
func queueStream(b *pgx.Batch, w *streamWrite) {
	if w != nil {
		b.Queue(qAppendStream, w.args...)
	}
}

// AppendStream commits events in a transaction of their own.
func (s *Store) AppendStream(ctx context.Context, events []store.StreamEvent) error {
	w, err := s.encodeStream(ctx, events)
	if err != nil {
		return fmt.Errorf("append stream: %w", err)
	}
	if w == nil {
		return nil
	}
	err = s.inTx(ctx, func(ctx context.Context, t *txn) error {
		b := t.batch()
		queueStream(b, w)
		return t.commit(ctx, b)
	})
	if err != nil {
		return fmt.Errorf("append stream: %w", err)
	}
	return nil
}

// ReadStream reads events after after, with the head and pruned mark, in
// one statement (one snapshot).
func (s *Store) ReadStream(ctx context.Context, after int64, limit int) (store.StreamPage, error) {
	limit = max(limit, 0)
	// COALESCE, not NULLs, where the head has no event after it: scanned
	// into values, a page allocates its events' strings and data only.
	rows, _ := s.streamPool.Query(ctx, `SELECT h.seq, h.pruned, COALESCE(e.seq, 0), COALESCE(e.kind, ''),
	COALESCE(e.client_id, ''), COALESCE(e.stack_id, ''), COALESCE(e.severity, ''),
	COALESCE(e.timestamp, 'epoch'), COALESCE(e.data, ''), COALESCE(e.created_at, 'epoch')
FROM (SELECT seq, pruned FROM stream_head LIMIT 1) h LEFT JOIN LATERAL (
	SELECT * FROM stream WHERE seq > $1 ORDER BY seq LIMIT $2) e ON true
ORDER BY e.seq`, after, int64(limit))
	defer rows.Close()
	var page store.StreamPage
	for rows.Next() {
		var e store.StreamEvent
		if err := rows.Scan(&page.Head, &page.Pruned, &e.Seq, &e.Kind, &e.ClientID, &e.StackID, &e.Severity,
			&e.Timestamp, &e.Data, &e.CreatedAt); err != nil {
			return store.StreamPage{}, fmt.Errorf("read stream after %d: %w", after, err)
		}
		if e.Seq == 0 {
			continue // no event: the head only (seqs start at 1)
		}
		e.Timestamp, e.CreatedAt = utc(e.Timestamp), utc(e.CreatedAt)
		page.Events = append(page.Events, e)
	}
	if err := rows.Err(); err != nil {
		return store.StreamPage{}, fmt.Errorf("read stream after %d: %w", after, err)
	}
	return page, nil
}

// qPruneStream deletes, of the limit ($3) oldest events, the newest that
// was written before $1 or is more than $2 rows below the head ($2 <= 0:
// none by rows), and every event before it, and moves the pruned mark
// there. Reading the oldest events only bounds the cost: they are the
// first to go.
const qPruneStream = `WITH pick AS (
	SELECT max(seq) AS upto FROM (SELECT seq, created_at FROM stream ORDER BY seq LIMIT $3) oldest
	WHERE created_at < $1 OR ($2 > 0 AND seq <= (SELECT seq FROM stream_head) - $2)),
gone AS (DELETE FROM stream WHERE seq <= (SELECT upto FROM pick) RETURNING seq),
mark AS (UPDATE stream_head SET pruned = GREATEST(pruned, (SELECT upto FROM pick))
	WHERE (SELECT upto FROM pick) IS NOT NULL)
SELECT count(*) FROM gone`

// PruneStream deletes events by q, at most limit (store.MaxLimit when <= 0).
func (s *Store) PruneStream(ctx context.Context, q store.StreamPrune, limit int) (int, error) {
	if limit <= 0 {
		limit = store.MaxLimit
	}
	before := q.Before
	if before.IsZero() {
		before = time.Unix(0, 0)
	}
	var n int64
	err := s.retry(ctx, func() error {
		return s.pool.QueryRow(ctx, qPruneStream, ts(before), q.MaxRows, int64(limit)).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("prune stream: %w", err)
	}
	return int(n), nil
}

// WatchStream listens on the schema's stream channel, on a connection of
// its own (reconnecting as ListenTriggers does), and calls wake for every
// notification and once each time it starts listening.
func (s *Store) WatchStream(ctx context.Context, wake func()) error {
	backoff := listenBackoffMin
	for ctx.Err() == nil {
		if schema, err := s.schemaName(ctx); err == nil {
			_ = s.listen(ctx, channelName(streamPrefix, schema), func(string) { wake() }, func() {
				backoff = listenBackoffMin
				wake()
			})
		}
		if ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, listenBackoffMax)
	}
	return nil
}
