package report

import (
	"context"
	"errors"
	"fmt"

	"github.com/blackwellio/blackwell/internal/store"
)

// AuditReader is the part of the store a report reads: the audit chain.
type AuditReader interface {
	AuditChainHead(ctx context.Context) (store.AuditHead, error)
	ListAudit(ctx context.Context, q store.AuditQuery) ([]store.AuditEntry, store.Page, error)
}

// Compute reads the audit chain up to its head now, the covered client's
// entries only, and builds the report of p from them.
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
	q := store.AuditQuery{ClientID: p.ClientID, Until: p.To, Limit: store.MaxLimit}
	for head.Seq > 0 {
		entries, next, err := st.ListAudit(ctx, q)
		if err != nil {
			return Report{}, fmt.Errorf("read the audit chain: %w", err)
		}
		done := next == ""
		for _, e := range entries {
			if e.Seq > head.Seq {
				done = true // appended after the head was read
				break
			}
			b.Add(e)
		}
		if done {
			break
		}
		q.Cursor = string(next)
	}
	return b.Finish(Head{Seq: head.Seq, Hash: head.Hash}), nil
}
