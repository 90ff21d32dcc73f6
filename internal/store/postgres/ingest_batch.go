package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/blackwellio/blackwell/internal/store"
)

// Group commit of IngestEvents. Each call used to be a transaction of its
// own: one WAL flush per delivery, and with 64 concurrent senders and a
// pool of a few connections, deliveries queued for a connection and then
// for the flush. Now deliveries that arrive while earlier ones commit are
// queued and share the next transaction: one statement inserts all their
// events, one more upserts their content items (more only when several
// deliveries of the batch are about one item: see contentRounds), in the
// same pipelined batch, and one COMMIT (one flush) acknowledges them all.
// A delivery that arrives when a transaction slot is free commits at once,
// alone: nothing waits to fill a batch. At most maxIngestFlights
// transactions are in flight, so ingest leaves connections of the pool to
// passes and reads.

const (
	// maxIngestFlights bounds the ingest transactions in flight. One was
	// measured best (BenchmarkIngestEvents, PostgreSQL on the same two
	// cores: 7,200-13,400 events/s against 5,400-6,900 with two and
	// 6,300-7,900 with four): larger batches cost the server less per
	// event. A delivery that arrives during a commit waits for it, then
	// commits with the others that queued meanwhile.
	maxIngestFlights = 1
	// maxIngestBatch bounds the events one transaction takes (a call with
	// more is still taken whole).
	maxIngestBatch = 512
)

// ingestBatcher queues IngestEvents calls for group commit. Its zero value
// is ready.
type ingestBatcher struct {
	mu      sync.Mutex
	queue   []*ingestOp
	flights int // transactions in flight, or about to be
}

// ingestOp is one IngestEvents call, validated.
type ingestOp struct {
	in       []store.IngestEvent
	now      time.Time
	inserted []bool
	taken    bool       // a flight has taken it (mu)
	done     chan error // buffered: a flight never blocks on it
}

// enqueue queues op and reports whether the caller must fly: run
// transactions until the queue is empty (a free slot).
func (b *ingestBatcher) enqueue(op *ingestOp) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.queue = append(b.queue, op)
	if b.flights < maxIngestFlights {
		b.flights++
		return true
	}
	return false
}

// take removes the next batch from the queue: calls in arrival order up to
// maxIngestBatch events. An empty queue ends the caller's flight.
func (b *ingestBatcher) take() []*ingestOp {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, events := 0, 0
	for n < len(b.queue) && (n == 0 || events+len(b.queue[n].in) <= maxIngestBatch) {
		events += len(b.queue[n].in)
		b.queue[n].taken = true
		n++
	}
	if n == 0 {
		b.flights--
		return nil
	}
	batch := slices.Clone(b.queue[:n])
	clear(b.queue[:n])
	b.queue = b.queue[n:]
	return batch
}

// withdraw removes op from the queue unless a flight has taken it.
func (b *ingestBatcher) withdraw(op *ingestOp) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if op.taken {
		return false
	}
	if i := slices.Index(b.queue, op); i >= 0 {
		b.queue = slices.Delete(b.queue, i, i+1)
	}
	return true
}

// ingest commits op with whatever is queued with it, and returns op's
// result once its transaction has committed (or failed). If ctx ends while
// op is still queued, op is withdrawn and never written.
func (s *Store) ingest(ctx context.Context, op *ingestOp) error {
	op.done = make(chan error, 1)
	if s.ingestQ.enqueue(op) {
		s.fly(op)
	}
	select {
	case err := <-op.done:
		return err
	case <-ctx.Done():
		if s.ingestQ.withdraw(op) {
			return ctx.Err()
		}
		return <-op.done
	}
}

// fly commits batches from the queue until it is empty. A caller flying
// for its own op hands the rest of the flight to a goroutine once its op is
// committed, so that it answers its delivery without waiting for later
// ones.
func (s *Store) fly(own *ingestOp) {
	for {
		batch := s.ingestQ.take()
		if batch == nil {
			return
		}
		s.commitBatch(batch)
		if own != nil && slices.Contains(batch, own) {
			go s.fly(nil)
			return
		}
	}
}

// commitBatch runs a batch in one transaction and reports to each op. If
// the server rejects the transaction (so nothing of it was written) and it
// held several calls, each runs again alone, so that one bad call fails
// alone.
func (s *Store) commitBatch(batch []*ingestOp) {
	// Not the callers' contexts: a caller that gives up after its op was
	// taken only stops waiting.
	ctx := context.Background()
	err := s.ingestTx(ctx, batch)
	var pe *pgconn.PgError
	if err != nil && len(batch) > 1 && errors.As(err, &pe) {
		for _, op := range batch {
			op.done <- s.ingestTx(ctx, []*ingestOp{op})
		}
		return
	}
	for _, op := range batch {
		op.done <- err
	}
}

// ingestTx inserts the batch's events (one statement; an id that repeats,
// within a call or across calls, is written once, by its first event) and
// upserts the content item of each new one, in order (contentRounds), in one transaction
// committed with synchronous_commit on, whatever the server's or role's
// default: a nil error means the WAL is flushed (and, where synchronous
// standbys are configured, flushed on them), so the webhooks may be
// acknowledged. It sets each op's inserted.
func (s *Store) ingestTx(ctx context.Context, batch []*ingestOp) error {
	n := 0
	for _, op := range batch {
		n += len(op.in)
	}
	rows := newEventRows(n)
	received := make([]time.Time, n)
	first := make([]bool, n) // the first event of its id in the batch
	all := make([]store.IngestEvent, 0, n)
	for _, op := range batch {
		for _, r := range op.in {
			i := len(all)
			received[i], first[i] = rows.add(i, r.Event, op.now)
			all = append(all, r)
		}
	}
	rounds := contentRounds(all, first, received)
	inserted := make([]bool, n)
	err := s.inTx(ctx, func(ctx context.Context, t *txn) error {
		clear(inserted)
		b := t.batch()
		b.Queue(`SET LOCAL synchronous_commit TO on`)
		rows.queue(b, inserted)
		for _, round := range rounds {
			round.queue(b)
		}
		return t.commit(ctx, b)
	})
	if err != nil {
		return fmt.Errorf("ingest events: %w", err)
	}
	for _, op := range batch {
		inserted = inserted[copy(op.inserted, inserted):]
	}
	return nil
}

// contentRows are content items as the arrays of qUpsertContents, one per
// column.
type contentRows struct {
	clients, providers, sources, ids, types, events []string
	updated, received                               []time.Time
	versions                                        []int64
	deleted                                         []bool
}

func (c *contentRows) add(e store.Event, item *store.ContentItem, received time.Time) {
	c.clients, c.providers, c.sources = append(c.clients, e.ClientID), append(c.providers, item.ProviderName), append(c.sources, item.Source)
	c.ids, c.types, c.events = append(c.ids, item.ContentID), append(c.types, item.ContentType), append(c.events, e.EventID)
	c.updated, c.received = append(c.updated, ts(item.UpdatedAt)), append(c.received, received)
	c.versions, c.deleted = append(c.versions, item.Version), append(c.deleted, item.Deleted)
}

// queue adds the upsert of the items to b: qUpsertContent for one, as for
// an event (one-element arrays cost both ends more than the row).
func (c *contentRows) queue(b *pgx.Batch) {
	if len(c.ids) == 1 {
		b.Queue(qUpsertContent, c.clients[0], c.providers[0], c.sources[0], c.ids[0], c.types[0],
			c.updated[0], c.versions[0], c.deleted[0], c.events[0], c.received[0])
		return
	}
	b.Queue(qUpsertContents, c.clients, c.providers, c.sources, c.ids, c.types,
		c.updated, c.versions, c.deleted, c.events, c.received)
}

// contentKey is a content item's identity, the content table's key.
type contentKey struct{ client, provider, source, id string }

// contentRounds splits the content items of a batch's events (all[i] whose
// id first appears there, first[i]; received[i] its ReceivedAt) into the
// statements that upsert them: the first state of each item in the first,
// its second state in the second, and so on, so that no statement updates
// a row twice and each item's states apply in input order, as if one
// statement ran per state. A batch of deliveries about distinct items is
// one statement.
func contentRounds(all []store.IngestEvent, first []bool, received []time.Time) []*contentRows {
	var rounds []*contentRows
	seen := make(map[contentKey]int)
	for i, r := range all {
		c := r.Content
		if c == nil || !first[i] {
			continue
		}
		k := contentKey{r.Event.ClientID, c.ProviderName, c.Source, c.ContentID}
		n := seen[k]
		seen[k] = n + 1
		if n == len(rounds) {
			rounds = append(rounds, &contentRows{})
		}
		rounds[n].add(r.Event, c, received[i])
	}
	return rounds
}
