package audit

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/blackwellio/blackwell/internal/store"
)

// headMessage is what a signed head's signature covers: every field but
// the signature, in a fixed text form (distinct from a checkpoint's, so
// one cannot pass for the other).
func headMessage(h store.AuditHead) []byte {
	return fmt.Appendf(nil, "blackwell audit head v1\nseq=%d\nhash=%s\nsigned_at=%s\nkey_id=%s\n",
		h.Seq, h.Hash, store.Truncate(h.SignedAt).Format(time.RFC3339Nano), h.KeyID)
}

// SignHead returns h with KeyID and Signature set by k.
func (k *Key) SignHead(h store.AuditHead) store.AuditHead {
	h.SignedAt = store.Truncate(h.SignedAt)
	h.KeyID = k.ID()
	h.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(k.priv, headMessage(h)))
	return h
}

// VerifyHead checks that pub signed h as it is.
func VerifyHead(pub ed25519.PublicKey, h store.AuditHead) error {
	if h.KeyID != KeyID(pub) {
		return &Break{Seq: h.Seq, Reason: fmt.Sprintf("its signed head is signed by key %s, not by key %s", h.KeyID, KeyID(pub))}
	}
	sig, err := base64.StdEncoding.DecodeString(h.Signature)
	if err != nil || !ed25519.Verify(pub, headMessage(h), sig) {
		return &Break{Seq: h.Seq, Reason: "its signed head's signature does not verify (signed head forged or altered)"}
	}
	return nil
}

// HeadCheck checks signed heads against the chain as a Verifier reads it:
// every signed head must name an entry that is still stored with the
// signed hash. A rewrite of the chain at or before a signed head, even one
// that recomputes every hash after it (which the chain alone cannot
// reveal), changes that entry's hash; entries cut from the end leave a
// signed head beyond the chain's end. Rewrites after the newest signed head
// remain undetectable by signatures.
type HeadCheck struct {
	pending []store.AuditHead // by seq, not yet reached
	last    *store.AuditHead  // newest head verified
	checked int
	covered int // heads at or before the checkpoint
}

// NewHeadCheck verifies each head's signature with pub (the first that does
// not verify is a *Break naming its seq) and returns the check of the
// chain that follows cp (nil: the chain was never pruned). Heads at or
// before the checkpoint are covered by it; one at the checkpoint's own seq
// must carry its hash.
func NewHeadCheck(pub ed25519.PublicKey, heads []store.AuditHead, cp *store.AuditCheckpoint) (*HeadCheck, error) {
	hs := append([]store.AuditHead(nil), heads...)
	sort.SliceStable(hs, func(i, j int) bool { return hs[i].Seq < hs[j].Seq })
	c := &HeadCheck{}
	for _, h := range hs {
		if err := VerifyHead(pub, h); err != nil {
			return nil, err
		}
		if cp != nil && h.Seq <= cp.Seq {
			if h.Seq == cp.Seq && h.Hash != cp.Hash {
				return nil, &Break{Seq: h.Seq, Reason: "the checkpoint's hash differs from the signed head (history rewritten)"}
			}
			c.covered++
			continue
		}
		c.pending = append(c.pending, h)
	}
	return c, nil
}

// Add checks the signed heads at e's seq; call it with each entry that the
// Verifier accepted, in order.
func (c *HeadCheck) Add(e store.AuditEntry) error {
	for len(c.pending) > 0 && c.pending[0].Seq <= e.Seq {
		h := c.pending[0]
		if h.Seq < e.Seq {
			// The Verifier saw every seq in order, so this one was skipped:
			// the chain did not start where the heads say.
			return &Break{Seq: h.Seq, Reason: "its signed head names an entry that is not in the chain (entries removed)"}
		}
		if h.Hash != e.Hash {
			reason := fmt.Sprintf("differs from its signed head of %s: the chain at or before entry %d was rewritten", h.SignedAt.UTC().Format(time.RFC3339), h.Seq)
			if c.last != nil {
				reason += fmt.Sprintf(" (after entry %d, whose signed head still matches)", c.last.Seq)
			}
			return &Break{Seq: h.Seq, Reason: reason}
		}
		c.last = &c.pending[0]
		c.pending = c.pending[1:]
		c.checked++
	}
	return nil
}

// Finish checks, once the whole chain was read, that no signed head lies
// beyond its end (headSeq: the last entry's seq, or the checkpoint's when
// none follows it).
func (c *HeadCheck) Finish(headSeq int64) error {
	if len(c.pending) > 0 {
		h := c.pending[0]
		return &Break{Seq: h.Seq, Reason: fmt.Sprintf("the chain ends at entry %d, before this signed head of %s (entries removed from the end)",
			headSeq, h.SignedAt.UTC().Format(time.RFC3339))}
	}
	return nil
}

// Newest is the newest signed head verified (nil: none), how many heads
// were checked against entries and how many the checkpoint covers.
func (c *HeadCheck) Newest() (newest *store.AuditHead, checked, covered int) {
	return c.last, c.checked, c.covered
}

// HeadStore is what a HeadSigner needs of the store.
type HeadStore interface {
	ListAudit(ctx context.Context, q store.AuditQuery) ([]store.AuditEntry, store.Page, error)
	AuditCheckpoint(ctx context.Context) (store.AuditCheckpoint, error)
	store.AuditHeadStore
}

// HeadSigner signs the head of the audit chain with the server's key. It
// signs only a head that extends the last one it signed: the entries since
// must link to it, so a rewrite of the chain before the last signed head is
// reported (a *Break) instead of being signed.
type HeadSigner struct {
	Store HeadStore
	Key   *Key
	// Now is the clock of signed heads (default time.Now).
	Now func() time.Time

	mu   sync.Mutex
	last *store.AuditHead // the newest head this process signed or saw
}

// Sign signs the chain's current head unless this key signed it already.
// It returns the newest signed head and whether it stored a new one; with
// an empty chain, a zero head and false. Two replicas signing at once
// store one head (the store keeps the first per seq and key).
func (s *HeadSigner) Sign(ctx context.Context) (store.AuditHead, bool, error) {
	if s.Key == nil {
		return store.AuditHead{}, false, errors.New("sign audit head: no signing key")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	prev, err := s.Store.LatestAuditHead(ctx, s.Key.ID())
	switch {
	case err == nil:
		if err := VerifyHead(s.Key.Public(), prev); err != nil {
			return store.AuditHead{}, false, err
		}
		if s.last == nil || prev.Seq >= s.last.Seq {
			s.last = &prev
			break
		}
		fallthrough // the store lost the head this process signed last
	case errors.Is(err, store.ErrNotFound) && s.last != nil:
		// Pruning deletes the heads its checkpoint stands for; anything
		// else deleted them.
		cp, cerr := s.Store.AuditCheckpoint(ctx)
		if cerr != nil || VerifyCheckpoint(s.Key.Public(), cp) != nil || cp.Seq < s.last.Seq {
			return store.AuditHead{}, false, &Break{Seq: s.last.Seq, Reason: "its signed head is gone from the store (signed heads deleted)"}
		}
	case errors.Is(err, store.ErrNotFound):
	default:
		return store.AuditHead{}, false, fmt.Errorf("sign audit head: %w", err)
	}
	head, err := s.Store.AuditChainHead(ctx)
	if errors.Is(err, store.ErrNotFound) {
		if s.last != nil {
			return store.AuditHead{}, false, &Break{Seq: s.last.Seq, Reason: "the chain is empty, but this entry was signed as its head (entries removed)"}
		}
		return store.AuditHead{}, false, nil
	}
	if err != nil {
		return store.AuditHead{}, false, fmt.Errorf("sign audit head: %w", err)
	}
	if s.last != nil {
		if err := s.extends(ctx, *s.last, head); err != nil {
			return store.AuditHead{}, false, err
		}
		if head.Seq == s.last.Seq {
			return *s.last, false, nil
		}
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	h := s.Key.SignHead(store.AuditHead{Seq: head.Seq, Hash: head.Hash, SignedAt: now()})
	added, err := s.Store.AddAuditHead(ctx, h)
	if err != nil {
		return store.AuditHead{}, false, fmt.Errorf("sign audit head: %w", err)
	}
	if !added {
		// Another replica signed this head first; its row stands.
		if stored, err := s.Store.LatestAuditHead(ctx, s.Key.ID()); err == nil && stored.Seq == h.Seq {
			h = stored
		}
	}
	s.last = &h
	return h, added, nil
}

// extends checks that the chain from the last signed head to head links:
// entry last.Seq still has last.Hash (or was pruned behind a checkpoint
// this key signed) and every entry after it links to the one before.
func (s *HeadSigner) extends(ctx context.Context, last, head store.AuditHead) error {
	if head.Seq < last.Seq {
		return &Break{Seq: last.Seq, Reason: fmt.Sprintf("the chain ends at entry %d, before this signed head (entries removed from the end)", head.Seq)}
	}
	cursor := store.AuditCursor(last.Seq - 1)
	var v *Verifier
	for {
		es, next, err := s.Store.ListAudit(ctx, store.AuditQuery{Cursor: cursor, Limit: store.MaxLimit})
		if err != nil {
			return fmt.Errorf("sign audit head: %w", err)
		}
		for _, e := range es {
			if v == nil {
				switch {
				case e.Seq == last.Seq && e.Hash != last.Hash:
					return &Break{Seq: e.Seq, Reason: "differs from its signed head: the chain at or before it was rewritten; not signing"}
				case e.Seq == last.Seq:
					v = &Verifier{Anchor: last.Hash, AnchorSeq: last.Seq}
					continue
				default:
					// Entry last.Seq was pruned: the pruner checked it against
					// its signed head; go on from the checkpoint.
					cp, err := s.Store.AuditCheckpoint(ctx)
					if err != nil {
						return &Break{Seq: last.Seq, Reason: "its signed entry is gone and no checkpoint stands for it (entries removed)"}
					}
					if err := VerifyCheckpoint(s.Key.Public(), cp); err != nil || cp.Seq < last.Seq {
						return &Break{Seq: last.Seq, Reason: "its signed entry is gone and no checkpoint of this key stands for it (entries removed)"}
					}
					v = FromCheckpoint(cp)
				}
			}
			if err := v.Add(e); err != nil {
				return err
			}
			if e.Seq == head.Seq && e.Hash != head.Hash {
				return &Break{Seq: head.Seq, Reason: "the head changed while it was checked; try again"}
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if v == nil {
		return &Break{Seq: last.Seq, Reason: "its signed entry is gone (entries removed)"}
	}
	if seq, _, _ := v.Head(); seq < head.Seq {
		return &Break{Seq: seq, Reason: fmt.Sprintf("the chain ends here while its head was read as entry %d (entries removed from the end)", head.Seq)}
	}
	return nil
}
