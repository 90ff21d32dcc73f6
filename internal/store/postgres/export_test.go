package postgres

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/blackwellio/blackwell/internal/store"
)

// Pool exposes the store's pool to tests of its settings.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// StreamPool exposes the pool that reads the stream log.
func (s *Store) StreamPool() *pgxpool.Pool { return s.streamPool }

// CommitIngestBatch runs IngestEvents calls as one group-commit batch, as
// if they had queued together, and returns each call's answer.
func (s *Store) CommitIngestBatch(calls [][]store.IngestEvent) ([][]bool, []error) {
	batch := make([]*call[*ingestOp, []bool], len(calls))
	for i, in := range calls {
		batch[i] = &call[*ingestOp, []bool]{in: &ingestOp{in: in, now: s.now(), inserted: make([]bool, len(in))}}
	}
	s.commitBatch(context.Background(), batch)
	inserted, errs := make([][]bool, len(calls)), make([]error, len(calls))
	for i, c := range batch {
		inserted[i], errs[i] = c.in.inserted, c.err
	}
	return inserted, errs
}
