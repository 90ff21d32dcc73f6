// Package audit verifies and exports the hash-chained audit trail. The chain
// itself is written by the store drivers (store.ChainHash inside the
// appending transaction); this package checks it from the outside, so a
// verifier needs nothing but the entries.
package audit

import (
	"fmt"

	"github.com/blackwellio/blackwell/internal/store"
)

// Break is where a chain stops verifying.
type Break struct {
	// Seq is the first entry that does not verify.
	Seq int64
	// Reason says what is wrong with it.
	Reason string
}

func (b *Break) Error() string {
	return fmt.Sprintf("audit chain breaks at entry %d: %s", b.Seq, b.Reason)
}

// Verifier checks entries one by one, in Seq order, as they are read page by
// page. The zero value expects a chain that starts at its first entry.
type Verifier struct {
	// Anchor, when set, is the hash the first entry must link to (a
	// checkpoint after pruning), and AnchorSeq the seq of the entry it is
	// the hash of: the first entry must be AnchorSeq+1. Empty means the
	// first entry starts the chain.
	Anchor    string
	AnchorSeq int64
	prev      *store.AuditEntry
	n         int64
}

// FromCheckpoint returns a Verifier for the entries after a checkpoint
// (whose signature the caller has checked with VerifyCheckpoint).
func FromCheckpoint(cp store.AuditCheckpoint) *Verifier {
	return &Verifier{Anchor: cp.Hash, AnchorSeq: cp.Seq}
}

// Add checks the next entry; the first error is a *Break naming it.
func (v *Verifier) Add(e store.AuditEntry) error {
	if got := store.ChainHash(e); got != e.Hash {
		return &Break{Seq: e.Seq, Reason: "content does not match its hash (altered)"}
	}
	switch {
	case v.prev == nil && v.Anchor != "" && e.PrevHash != v.Anchor:
		return &Break{Seq: e.Seq, Reason: fmt.Sprintf("does not link to the checkpoint at entry %d (entries after the checkpoint removed, or the checkpoint replaced)", v.AnchorSeq)}
	case v.prev == nil && v.Anchor != "" && e.Seq != v.AnchorSeq+1:
		return &Break{Seq: e.Seq, Reason: fmt.Sprintf("is not the entry after the checkpoint at entry %d", v.AnchorSeq)}
	case v.prev == nil && e.PrevHash != v.Anchor:
		return &Break{Seq: e.Seq, Reason: "does not link to the start of the chain (entries before it removed?)"}
	case v.prev != nil && e.Seq <= v.prev.Seq:
		return &Break{Seq: e.Seq, Reason: fmt.Sprintf("out of order after entry %d (reordered)", v.prev.Seq)}
	case v.prev != nil && e.PrevHash != v.prev.Hash:
		return &Break{Seq: e.Seq, Reason: fmt.Sprintf("does not link to entry %d (an entry between them removed, or reordered)", v.prev.Seq)}
	case v.prev != nil && e.Seq != v.prev.Seq+1:
		return &Break{Seq: e.Seq, Reason: fmt.Sprintf("sequence jumps from %d (entries removed)", v.prev.Seq)}
	}
	v.prev = &e
	v.n++
	return nil
}

// Head is the last verified entry's Seq and Hash; record it somewhere safe
// to detect later truncation of the chain's end (which no chain alone can
// reveal).
func (v *Verifier) Head() (seq int64, hash string, count int64) {
	if v.prev == nil {
		return v.AnchorSeq, v.Anchor, 0
	}
	return v.prev.Seq, v.prev.Hash, v.n
}

// Verify checks a whole chain in Seq order.
func Verify(entries []store.AuditEntry) error {
	var v Verifier
	for _, e := range entries {
		if err := v.Add(e); err != nil {
			return err
		}
	}
	return nil
}
