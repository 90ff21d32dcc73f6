package server

import (
	"context"
	"errors"
	"time"

	"github.com/blackwellio/blackwell/internal/store"
)

// sweep deletes expired events, reconciliation results older than their
// client's history retention and the stream log's events past its
// retention, and prunes the audit log (audit.go), in bounded batches, so a
// large backlog never holds the write lock for long.
func (s *Server) sweep(ctx context.Context) {
	t := time.NewTicker(s.opts.EventTTLSweep)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.sweepBatches(ctx, "expired events", func(ctx context.Context) (int, error) {
			return s.store.DeleteExpiredEvents(ctx, time.Now(), 1000)
		})
		s.sweepHistory(ctx, time.Now())
		s.sweepBatches(ctx, "old stream events", func(ctx context.Context) (int, error) {
			return s.store.PruneStream(ctx, store.StreamPrune{Before: time.Now().Add(-s.opts.StreamRetention),
				MaxRows: s.opts.StreamMaxRows}, 1000)
		})
		s.sweepAudit(ctx)
	}
}

// sweepHistory deletes reconciliation results older than their client's
// (or stack's) history retention (planHistoryPrunes).
func (s *Server) sweepHistory(ctx context.Context, now time.Time) {
	prunes, err := planHistoryPrunes(ctx, s.store, now, s.opts.HistoryRetention)
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			s.log.Warn("sweep old reconciliation results", "error", err)
		}
		return
	}
	for _, q := range prunes {
		s.sweepBatches(ctx, "old reconciliation results", func(ctx context.Context) (int, error) {
			return s.store.DeleteReconciliations(ctx, q, 1000)
		})
	}
}

// sweepBatches runs a bounded delete until a batch comes back short.
func (s *Server) sweepBatches(ctx context.Context, what string, del func(context.Context) (int, error)) {
	for {
		n, err := del(ctx)
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				s.log.Warn("sweep "+what, "error", err)
			}
			return
		}
		if n > 0 {
			s.log.Debug("swept "+what, "count", n)
		}
		if n < 1000 {
			return
		}
	}
}
