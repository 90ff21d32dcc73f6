package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/blackwellio/blackwell/internal/store"
)

// The stream log (migration 0014), in two steps. A writer adds its
// events in its own transaction, unnumbered (seq NULL), with nothing
// locked: writers commit as concurrently as without the log. After such
// a commit the writer's Store wakes its watchers, and the replica's tail
// numbers what has committed (SequenceStream): in a transaction of its
// own that takes stream_head's row lock first and holds it to its commit,
// it gives the committed unnumbered events the seqs after the head, in
// the order they were added (id), and notifies the schema's stream
// channel. Numberers therefore commit one after another, seqs are
// gap-free and increase in commit order, and a reader that has read
// every seq up to n never finds a lower one later. (Numbering in the
// writers' transactions would serialise every pass's commit on the head's
// lock, and a sequence would let 10 commit after 11: a reader past 11
// would miss 10.) An event added after another of its stack (the next
// pass, a heal's outcome after its start) has a higher id and is numbered
// no earlier, so each stack's events keep their order.
//
// After its commit a numbering notifies the schema's stream channel with
// the events it numbered (JSON arrays of streamNote, as many events to a
// notification as fit; an event too large for one by its seq only), so
// that the other replicas' tails usually have every event without reading
// the log. Two numberings' notifications may arrive in either order: a
// tail that finds a gap reads the log.

// streamPrefix names the stream's notification channel (channelName).
const streamPrefix = "blackwell_stream"

// streamConns bounds the connections that read and number the stream log
// (the Store's streamPool, opened as they are needed): the replica's tail
// and the replays of reconnecting stream clients. Measured: on the shared
// pool (4 connections, busy with grouped loads and commits during a burst
// of passes), a tail's read waited there for most of a second.
const streamConns = 2

// qAppendStream adds events unnumbered: $1..$6 are their columns.
// created_at is the server's clock as the writer's transaction ends.
const qAppendStream = `INSERT INTO stream (kind, client_id, stack_id, severity, timestamp, data, created_at)
SELECT e.kind, e.client_id, e.stack_id, e.severity, e.ts, e.data, clock_timestamp()
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[])
	AS e(kind, client_id, stack_id, severity, ts, data)`

// qNumberStream numbers up to $1 committed unnumbered events after the
// head, in id order, and returns them. It runs after the transaction took
// the head's lock (qLockHead), so its snapshot holds what earlier
// numberers committed.
const qNumberStream = `WITH picked AS (
	SELECT id, row_number() OVER (ORDER BY id) AS n FROM (
		SELECT id FROM stream WHERE seq IS NULL ORDER BY id LIMIT $1) unnumbered),
head AS (UPDATE stream_head SET seq = seq + (SELECT count(*) FROM picked)
	RETURNING seq - (SELECT count(*) FROM picked) AS base)
UPDATE stream s SET seq = head.base + picked.n FROM picked, head WHERE s.id = picked.id
RETURNING s.seq, s.kind, s.client_id, s.stack_id, s.severity, s.timestamp, s.data, s.created_at`

// qLockHead takes the head's lock for a numbering.
const qLockHead = `SELECT seq FROM stream_head FOR UPDATE`

// numberBatch bounds the events one numbering takes.
const numberBatch = 5000

// maxNote is the largest notification payload sent (PostgreSQL refuses
// 8000 bytes or more).
const maxNote = 7900

// streamNote is an event as a notification carries it; one without a
// kind names an event too large to carry.
type streamNote struct {
	Seq       int64           `json:"seq"`
	Kind      string          `json:"kind"`
	ClientID  string          `json:"client_id"`
	StackID   string          `json:"stack_id"`
	Severity  string          `json:"severity"`
	Timestamp time.Time       `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
	CreatedAt time.Time       `json:"created_at"`
}

// streamWrite is events encoded for qAppendStream.
type streamWrite struct {
	args []any
}

// encodeStream checks events and encodes them for queueStream; nil for
// none.
func (s *Store) encodeStream(events []store.StreamEvent) (*streamWrite, error) {
	if err := store.CheckStream(events); err != nil {
		return nil, err
	}
	if len(events) == 0 {
		return nil, nil
	}
	n := len(events)
	kinds, clients, stacks, sevs, data := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	stamps := make([]time.Time, n)
	for i, e := range events {
		kinds[i], clients[i], stacks[i], sevs[i] = e.Kind, e.ClientID, e.StackID, e.Severity
		stamps[i], data[i] = ts(e.Timestamp), store.StreamData(e)
	}
	return &streamWrite{args: []any{kinds, clients, stacks, sevs, stamps, data}}, nil
}

// queueStream adds w's statement to b, the transaction's last batch. A
// nil w adds nothing.
func queueStream(b *pgx.Batch, w *streamWrite) {
	if w != nil {
		b.Queue(qAppendStream, w.args...)
	}
}

// streamed is called after a transaction that added events w committed:
// the Store's watchers number and read them.
func (s *Store) streamed(w *streamWrite) {
	if w != nil {
		s.stream.added.Store(true)
		s.stream.wake()
	}
}

// AppendStream commits events in a transaction of their own.
func (s *Store) AppendStream(ctx context.Context, events []store.StreamEvent) error {
	w, err := s.encodeStream(events)
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
	s.streamed(w)
	return nil
}

// SequenceStream numbers the committed unnumbered events (see above), a
// batch at a time, and returns them. Unless this Store added events since
// its last numbering, it reads first whether there are any (another
// replica's, left when it died), so that a call with nothing to do takes
// no lock.
func (s *Store) SequenceStream(ctx context.Context) ([]store.StreamEvent, error) {
	schema, err := s.schemaName(ctx)
	if err != nil {
		return nil, fmt.Errorf("number stream: %w", err)
	}
	channel := channelName(streamPrefix, schema)
	var out []store.StreamEvent
	for check := !s.stream.added.Swap(false); ; check = true {
		if check {
			var waiting bool
			if err := s.streamPool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM stream WHERE seq IS NULL)`).Scan(&waiting); err != nil {
				return out, fmt.Errorf("number stream: %w", err)
			}
			if !waiting {
				return out, nil
			}
		}
		var batch []store.StreamEvent
		err := s.retry(ctx, func() error {
			batch = batch[:0]
			conn, err := s.streamPool.Acquire(ctx)
			if err != nil {
				return err
			}
			defer conn.Release()
			b := &pgx.Batch{}
			b.Queue(`BEGIN`)
			b.Queue(qLockHead)
			b.Queue(qNumberStream, int64(numberBatch)).Query(func(rows pgx.Rows) error {
				for rows.Next() {
					var e store.StreamEvent
					var data string
					if err := rows.Scan(&e.Seq, &e.Kind, &e.ClientID, &e.StackID, &e.Severity, &e.Timestamp, &data, &e.CreatedAt); err != nil {
						return err
					}
					e.Timestamp, e.CreatedAt, e.Data = utc(e.Timestamp), utc(e.CreatedAt), []byte(data)
					batch = append(batch, e)
				}
				return rows.Err()
			})
			b.Queue(`COMMIT`)
			if err := conn.SendBatch(ctx, b).Close(); err != nil {
				if conn.Conn().PgConn().TxStatus() != 'I' {
					rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
					defer cancel()
					_, _ = conn.Exec(rctx, `ROLLBACK`)
				}
				return err
			}
			return nil
		})
		if err != nil {
			return out, fmt.Errorf("number stream: %w", err)
		}
		slices.SortFunc(batch, func(a, b store.StreamEvent) int { return cmp.Compare(a.Seq, b.Seq) })
		if err := s.announce(ctx, channel, batch); err != nil {
			// The others read the log at their next poll.
			return append(out, batch...), fmt.Errorf("number stream: %w", err)
		}
		out = append(out, batch...)
		if len(batch) < numberBatch {
			return out, nil
		}
	}
}

// announce notifies channel of the numbered events, as many to a
// notification as fit in maxNote bytes, in one statement.
func (s *Store) announce(ctx context.Context, channel string, events []store.StreamEvent) error {
	if len(events) == 0 {
		return nil
	}
	var (
		payloads []string
		buf      []byte
	)
	flush := func() {
		if len(buf) > 0 {
			payloads = append(payloads, string(append(buf, ']')))
			buf = buf[:0]
		}
	}
	for _, e := range events {
		note, err := json.Marshal(streamNote{Seq: e.Seq, Kind: e.Kind, ClientID: e.ClientID, StackID: e.StackID,
			Severity: e.Severity, Timestamp: e.Timestamp, Data: e.Data, CreatedAt: e.CreatedAt})
		if err != nil || len(note)+2 > maxNote {
			note = fmt.Appendf(nil, `{"seq":%d}`, e.Seq)
		}
		if len(buf)+len(note)+2 > maxNote {
			flush()
		}
		if len(buf) == 0 {
			buf = append(buf, '[')
		} else {
			buf = append(buf, ',')
		}
		buf = append(buf, note...)
	}
	flush()
	if _, err := s.streamPool.Exec(ctx, `SELECT pg_notify($1, p) FROM unnest($2::text[]) WITH ORDINALITY AS n(p, i) ORDER BY i`,
		channel, payloads); err != nil {
		return fmt.Errorf("announce: %w", err)
	}
	return nil
}

// ReadStream reads events after after, with the head and pruned mark, in
// one statement (one snapshot).
func (s *Store) ReadStream(ctx context.Context, after int64, limit int) (store.StreamPage, error) {
	limit = max(limit, 0)
	rows, _ := s.streamPool.Query(ctx, `SELECT h.seq, h.pruned, e.seq, e.kind, e.client_id, e.stack_id, e.severity, e.timestamp, e.data, e.created_at
FROM stream_head h LEFT JOIN LATERAL (
	SELECT * FROM stream WHERE seq > $1 ORDER BY seq LIMIT $2) e ON true
ORDER BY e.seq`, after, int64(limit))
	defer rows.Close()
	var page store.StreamPage
	for rows.Next() {
		var (
			seq                            *int64
			kind, client, stack, sev, data *string
			stamp, created                 *time.Time
		)
		if err := rows.Scan(&page.Head, &page.Pruned, &seq, &kind, &client, &stack, &sev, &stamp, &data, &created); err != nil {
			return store.StreamPage{}, fmt.Errorf("read stream after %d: %w", after, err)
		}
		if seq == nil {
			continue // no event: the head only
		}
		page.Events = append(page.Events, store.StreamEvent{Seq: *seq, Kind: *kind, ClientID: *client, StackID: *stack,
			Severity: *sev, Timestamp: utc(*stamp), Data: []byte(*data), CreatedAt: utc(*created)})
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
	SELECT max(seq) AS upto FROM (SELECT seq, created_at FROM stream WHERE seq IS NOT NULL ORDER BY seq LIMIT $3) oldest
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

// WatchStream calls fn with none after each commit of this Store that
// added events (they are to be numbered), and, listening on the schema's
// stream channel on a connection of its own (reconnecting as
// ListenTriggers does), with the events of every notification of a
// numbering (none when its payload does not decode) and with none each
// time it starts listening. Calls come one at a time.
func (s *Store) WatchStream(ctx context.Context, fn func([]store.StreamEvent)) error {
	var (
		mu   sync.Mutex
		done sync.WaitGroup
	)
	call := func(es []store.StreamEvent) {
		mu.Lock()
		defer mu.Unlock()
		fn(es)
	}
	added := s.stream.subscribe()
	defer s.stream.unsubscribe(added)
	defer done.Wait()
	done.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-added:
				call(nil)
			}
		}
	})
	backoff := listenBackoffMin
	for ctx.Err() == nil {
		if schema, err := s.schemaName(ctx); err == nil {
			_ = s.listen(ctx, channelName(streamPrefix, schema), func(p string) {
				var notes []streamNote
				if err := json.Unmarshal([]byte(p), &notes); err != nil || len(notes) == 0 {
					call(nil)
					return
				}
				events := make([]store.StreamEvent, len(notes))
				for i, n := range notes {
					events[i] = store.StreamEvent{Seq: n.Seq, Kind: n.Kind, ClientID: n.ClientID, StackID: n.StackID,
						Severity: n.Severity, Timestamp: n.Timestamp.UTC(), Data: n.Data, CreatedAt: n.CreatedAt.UTC()}
				}
				call(events)
			}, func() {
				backoff = listenBackoffMin
				call(nil)
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

// streamHub wakes the Store's watchers after a commit that added events.
// Its zero value is ready.
type streamHub struct {
	added atomic.Bool // events were added since the last numbering

	mu       sync.Mutex
	watchers map[chan struct{}]struct{}
}

func (h *streamHub) subscribe() chan struct{} {
	c := make(chan struct{}, 1)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.watchers == nil {
		h.watchers = map[chan struct{}]struct{}{}
	}
	h.watchers[c] = struct{}{}
	return c
}

func (h *streamHub) unsubscribe(c chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.watchers, c)
}

func (h *streamHub) wake() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.watchers {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}
