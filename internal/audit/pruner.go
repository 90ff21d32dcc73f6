package audit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/blackwellio/blackwell/internal/store"
)

// PruneStore is what a Pruner needs of the store.
type PruneStore interface {
	ListAudit(ctx context.Context, q store.AuditQuery) ([]store.AuditEntry, store.Page, error)
	ListAuditHeads(ctx context.Context, cursor string, limit int) ([]store.AuditHead, store.Page, error)
	store.AuditRetentionStore
}

// Pruner deletes old audit entries behind a signed checkpoint, so that the
// rest of the chain still verifies from it.
type Pruner struct {
	Store PruneStore
	Key   *Key
	// Now is the clock of checkpoints (default time.Now).
	Now func() time.Time
}

// ErrCheckpointKey: the stored checkpoint was not signed by the pruner's
// key (it was altered, or the key changed); the pruner does not build on it.
var ErrCheckpointKey = errors.New("audit checkpoint is not signed by this key")

// Prune deletes up to limit of the oldest entries whose Timestamp is
// before the given time, stopping at the first newer one (entries go in
// chain order) and never deleting the newest entry (the next append links
// to it). It first verifies what it deletes: the entries must link from the
// current checkpoint, whose signature must verify with the pruner's key,
// and match the signed heads among them (the store drops those with the
// entries), or nothing is deleted and the *Break or ErrCheckpointKey is returned; a
// pruner never blesses tampering with a new checkpoint. It returns how many
// entries it deleted; 0 when another pruner went first.
func (p *Pruner) Prune(ctx context.Context, before time.Time, limit int) (int, error) {
	if p.Key == nil {
		return 0, errors.New("prune audit: no signing key")
	}
	limit = store.PageLimit(limit)
	v := &Verifier{}
	var prev store.AuditCheckpoint
	cp, err := p.Store.AuditCheckpoint(ctx)
	switch {
	case err == nil:
		if err := VerifyCheckpoint(p.Key.Public(), cp); err != nil {
			return 0, fmt.Errorf("prune audit: %w: %v", ErrCheckpointKey, err)
		}
		prev, v = cp, FromCheckpoint(cp)
	case !errors.Is(err, store.ErrNotFound):
		return 0, fmt.Errorf("prune audit: %w", err)
	}
	// Everything up to the checkpoint is gone, so the first page is what
	// follows it.
	entries, next, err := p.Store.ListAudit(ctx, store.AuditQuery{Limit: limit})
	if err != nil {
		return 0, fmt.Errorf("prune audit: %w", err)
	}
	var last *store.AuditEntry
	for i, e := range entries {
		if err := v.Add(e); err != nil {
			return 0, fmt.Errorf("prune audit: refusing to prune a chain that does not verify: %w", err)
		}
		if !e.Timestamp.Before(before) || (i == len(entries)-1 && next == "") {
			break
		}
		last = &entries[i]
	}
	if last == nil {
		return 0, nil
	}
	if err := p.checkHeads(ctx, entries, last.Seq); err != nil {
		return 0, fmt.Errorf("prune audit: refusing to prune a chain that does not match its signed heads: %w", err)
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	ncp := p.Key.Sign(store.AuditCheckpoint{Seq: last.Seq, Hash: last.Hash, Count: prev.Count + (last.Seq - prev.Seq), CreatedAt: now()})
	n, err := p.Store.PruneAudit(ctx, prev.Seq, ncp)
	if errors.Is(err, store.ErrConflict) {
		// Another pruner (another replica) moved the checkpoint first, or an
		// append raced the read; the next sweep starts from what is stored.
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("prune audit: %w", err)
	}
	return n, nil
}

// checkHeads checks the signed heads up to entry upTo against entries (the
// prefix being pruned): each must name an entry with its hash, and one
// signed by the pruner's key must verify. Pruning deletes those heads, so
// this is the last moment they can reveal a rewrite.
func (p *Pruner) checkHeads(ctx context.Context, entries []store.AuditEntry, upTo int64) error {
	hashes := make(map[int64]string, len(entries))
	for _, e := range entries {
		hashes[e.Seq] = e.Hash
	}
	cursor := ""
	for {
		heads, next, err := p.Store.ListAuditHeads(ctx, cursor, store.MaxLimit)
		if err != nil {
			return err
		}
		for _, h := range heads {
			if h.Seq > upTo {
				return nil
			}
			if h.KeyID == p.Key.ID() {
				if err := VerifyHead(p.Key.Public(), h); err != nil {
					return err
				}
			}
			if got, ok := hashes[h.Seq]; ok && got != h.Hash {
				return &Break{Seq: h.Seq, Reason: fmt.Sprintf("differs from its signed head of %s: the chain at or before it was rewritten", h.SignedAt.UTC().Format(time.RFC3339))}
			}
		}
		if next == "" {
			return nil
		}
		cursor = next
	}
}
