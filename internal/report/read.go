package report

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	"golang.org/x/sync/errgroup"

	"github.com/blackwellio/blackwell/internal/store"
)

// AuditReader is the part of the store a report reads: the audit chain.
type AuditReader interface {
	AuditChainHead(ctx context.Context) (store.AuditHead, error)
	ListAudit(ctx context.Context, q store.AuditQuery) ([]store.AuditEntry, store.Page, error)
}

// chunkSeqs is the span of sequence numbers one reader reads at a time:
// about 50 pages of store.MaxLimit entries.
const chunkSeqs = 50_000

// maxReaders bounds the goroutines reading chunks at once.
const maxReaders = 4

// Compute reads the audit chain up to its head now, the covered client's
// entries only (brief: without hashes, which the report does not check),
// and builds the report of p from them. The chain (of every client) is
// cut into chunks of chunkSeqs sequence numbers (a ListAudit cursor is the sequence number
// after which it reads: store.AuditKey); several goroutines read chunks
// at once, each chunk page by page, while one folds them in chain order.
// On a store of several connections (SQLite's readers, PostgreSQL's
// pool) the reads use more than one core and overlap each other's waits.
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
	readers, size := min(maxReaders, max(2, runtime.GOMAXPROCS(0))), int64(chunkSeqs)
	if p.ClientID != "" {
		// One client's entries are a small part of the chain: a chunk's
		// last page would mostly read the next chunks' entries.
		readers, size = 1, max(head.Seq, 1)
	}
	q := store.AuditQuery{ClientID: p.ClientID, Until: p.To, Limit: store.MaxLimit, Brief: true}
	err = readChunked(ctx, st, q, head.Seq, size, readers, func(page readPage) {
		for i := range page.entries {
			b.add(page.entries[i], page.changes[i])
		}
	})
	if err != nil {
		return Report{}, err
	}
	return b.Finish(Head{Seq: head.Seq, Hash: head.Hash}), nil
}

// readPage is a page of entries as read, with their changes_made decoded
// by the reader (changesOf) so that the fold, which is serial, does not.
type readPage struct {
	entries []store.AuditEntry
	changes []changes
}

// chunkJob is one chunk to read: the entries after seq from, up to seq
// to, into pages (buffered to hold a chunk of full pages, so that its
// reader need not wait for the fold).
type chunkJob struct {
	from, to int64
	pages    chan readPage
}

// readChunked calls fold with the pages of entries q lists up to entry
// last, in chain order: chunks of size sequence numbers are read by
// readers goroutines at once, at most readers chunks ahead of the one
// being folded.
func readChunked(ctx context.Context, st AuditReader, q store.AuditQuery, last, size int64, readers int, fold func(readPage)) error {
	if last <= 0 {
		return nil
	}
	g, gctx := errgroup.WithContext(ctx)
	jobs := make(chan chunkJob)
	order := make(chan chan readPage, readers)
	g.Go(func() error {
		defer close(jobs)
		defer close(order)
		for from := int64(0); from < last; from += size {
			to := min(from+size, last)
			j := chunkJob{from: from, to: to, pages: make(chan readPage, size/store.MaxLimit+2)}
			select {
			case order <- j.pages: // waits while readers chunks are ahead of the fold
			case <-gctx.Done():
				return gctx.Err()
			}
			select {
			case jobs <- j:
			case <-gctx.Done():
				close(j.pages)
				return gctx.Err()
			}
		}
		return nil
	})
	for range readers {
		g.Go(func() error {
			for j := range jobs {
				err := readRange(gctx, st, q, j)
				close(j.pages)
				if err != nil {
					return err
				}
			}
			return nil
		})
	}
	g.Go(func() error {
		for pages := range order {
			for page := range pages {
				fold(page)
			}
			if gctx.Err() != nil {
				return gctx.Err()
			}
		}
		return nil
	})
	return g.Wait()
}

// readRange sends the pages of entries q lists after entry j.from up to
// entry j.to.
func readRange(ctx context.Context, st AuditReader, q store.AuditQuery, j chunkJob) error {
	q.Cursor = ""
	if j.from > 0 {
		q.Cursor = store.EncodeCursor(store.AuditKey(store.AuditEntry{Seq: j.from})...)
	}
	for {
		entries, next, err := st.ListAudit(ctx, q)
		if err != nil {
			return fmt.Errorf("read the audit chain: %w", err)
		}
		n := len(entries)
		for n > 0 && entries[n-1].Seq > j.to {
			n-- // the next chunk's, or appended after the head was read
		}
		if n > 0 {
			page := readPage{entries: entries[:n], changes: make([]changes, n)}
			for i := range page.entries {
				page.changes[i] = changesOf(page.entries[i])
			}
			select {
			case j.pages <- page: // the buffer holds a chunk of full pages: no wait for the fold
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if next == "" || n < len(entries) || ctx.Err() != nil {
			return ctx.Err()
		}
		q.Cursor = next
	}
}
