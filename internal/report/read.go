package report

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/blackwellio/blackwell/internal/store"
)

// AuditReader is the part of the store a report reads: the audit chain.
type AuditReader interface {
	AuditChainHead(ctx context.Context) (store.AuditHead, error)
	ListAudit(ctx context.Context, q store.AuditQuery) ([]store.AuditEntry, store.Page, error)
}

// Compute reads the audit chain up to its head now, the covered client's
// entries only (brief: without hashes, which the report does not check),
// and builds the report of p from them. One goroutine reads
// pages while another folds the previous ones.
func Compute(ctx context.Context, st AuditReader, p Params) (Report, error) {
	if !p.To.After(p.From) {
		return Report{}, fmt.Errorf("%w: the period's end (to) must be after its start (from)", store.ErrInvalid)
	}
	head, err := st.AuditChainHead(ctx)
	switch {
	case errors.Is(err, store.ErrNotFound):
		head = store.AuditHead{} // an empty chain: an empty report
	case err != nil:
		return Report{}, fmt.Errorf("read the audit chain's head: %w", err)
	}
	b := NewBuilder(p)
	pages := make(chan []store.AuditEntry, 2)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(pages)
		q := store.AuditQuery{ClientID: p.ClientID, Until: p.To, Limit: store.MaxLimit, Brief: true}
		return readChain(gctx, st, q, head.Seq, pages)
	})
	g.Go(func() error {
		for page := range pages {
			for _, e := range page {
				b.Add(e)
			}
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return Report{}, err
	}
	return b.Finish(Head{Seq: head.Seq, Hash: head.Hash}), nil
}

// readChain sends the pages of entries q lists, up to entry last, in
// chain order.
func readChain(ctx context.Context, st AuditReader, q store.AuditQuery, last int64, pages chan<- []store.AuditEntry) error {
	for last > 0 {
		entries, next, err := st.ListAudit(ctx, q)
		if err != nil {
			return fmt.Errorf("read the audit chain: %w", err)
		}
		n := len(entries)
		for n > 0 && entries[n-1].Seq > last {
			n-- // appended after the head was read
		}
		select {
		case pages <- entries[:n]:
		case <-ctx.Done():
			return ctx.Err()
		}
		if next == "" || n < len(entries) {
			return nil
		}
		q.Cursor = next
	}
	return nil
}
