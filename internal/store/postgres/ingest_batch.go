package postgres

import (
	"context"
	"errors"
	"fmt"
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

// ingestOp is one IngestEvents call, validated; ingestTx sets inserted.
type ingestOp struct {
	in       []store.IngestEvent
	now      time.Time
	inserted []bool
}

// newIngestGroup is the group of IngestEvents calls: batches weighed in
// events.
func (s *Store) newIngestGroup() group[*ingestOp, []bool] {
	return group[*ingestOp, []bool]{maxFlights: maxIngestFlights, maxBatch: maxIngestBatch,
		weight: func(op *ingestOp) int { return len(op.in) }, run: s.commitBatch}
}

// commitBatch runs a batch in one transaction and reports to each call.
// If the server rejects the transaction (so nothing of it was written) and
// it held several calls, each runs again alone, so that one bad call fails
// alone.
func (s *Store) commitBatch(ctx context.Context, batch []*call[*ingestOp, []bool]) {
	ops := make([]*ingestOp, len(batch))
	for i, c := range batch {
		ops[i] = c.in
	}
	err := s.ingestTx(ctx, ops)
	var pe *pgconn.PgError
	for i, c := range batch {
		if err != nil && len(batch) > 1 && errors.As(err, &pe) {
			c.err = s.ingestTx(ctx, ops[i:i+1])
		} else {
			c.err = err
		}
		if c.err == nil {
			c.out = c.in.inserted
		}
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
