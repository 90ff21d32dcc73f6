package postgres

import (
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/blackwellio/blackwell/internal/store"
)

// Pool exposes the store's pool to tests of its settings.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// CommitIngestBatch runs IngestEvents calls as one group-commit batch, as
// if they had queued together, and returns each call's answer.
func (s *Store) CommitIngestBatch(calls [][]store.IngestEvent) ([][]bool, []error) {
	batch := make([]*ingestOp, len(calls))
	for i, in := range calls {
		batch[i] = &ingestOp{in: in, now: s.now(), inserted: make([]bool, len(in)), done: make(chan error, 1)}
	}
	s.commitBatch(batch)
	inserted, errs := make([][]bool, len(calls)), make([]error, len(calls))
	for i, op := range batch {
		errs[i] = <-op.done
		inserted[i] = op.inserted
	}
	return inserted, errs
}
