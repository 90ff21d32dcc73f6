package demo

import (
	"context"

	"github.com/blackwellio/blackwell/internal/audit"
	"github.com/blackwellio/blackwell/internal/store"
)

// verifyAudit checks the demo store's whole audit chain.
func verifyAudit(ctx context.Context, st store.Store) (count, seq int64, hash string, err error) {
	var v audit.Verifier
	cursor := ""
	for {
		entries, next, err := st.ListAudit(ctx, store.AuditQuery{Cursor: cursor, Limit: 500})
		if err != nil {
			return 0, 0, "", err
		}
		for _, e := range entries {
			if err := v.Add(e); err != nil {
				seq, hash, count = v.Head()
				return count, seq, hash, err
			}
		}
		if next == "" || len(entries) == 0 {
			break
		}
		cursor = next
	}
	seq, hash, count = v.Head()
	return count, seq, hash, nil
}
