package store

import (
	"context"
	"time"
)

// AuditHead is a signed statement of where the audit chain ended at a
// moment: entry Seq had hash Hash at SignedAt. A server with an audit key
// signs the head now and then (package audit); audit verify then checks
// that every signed head still matches the chain, so a rewrite of the
// chain at or before a signed head, even one that recomputes every hash
// after it, is detected by whoever holds the public key.
type AuditHead struct {
	Seq      int64     `json:"seq"`
	Hash     string    `json:"hash"`
	SignedAt time.Time `json:"signed_at"`
	// KeyID names the signing key (a fingerprint of its public key);
	// Signature is the signature of the other fields (package audit).
	KeyID     string `json:"key_id"`
	Signature string `json:"signature"`
}

// AuditHeadStore keeps the signed heads of the audit chain.
type AuditHeadStore interface {
	// AuditChainHead returns the newest entry of the chain as an unsigned
	// AuditHead (Seq and Hash only), or ErrNotFound when the chain has no
	// entry.
	AuditChainHead(ctx context.Context) (AuditHead, error)
	// AddAuditHead stores a signed head. It fails with ErrConflict, storing
	// nothing, unless entry h.Seq is stored with hash h.Hash. It is
	// idempotent per (Seq, KeyID): when that key's head at h.Seq is stored
	// already, the stored one is kept and added is false (two replicas may
	// sign the same head).
	AddAuditHead(ctx context.Context, h AuditHead) (added bool, err error)
	// ListAuditHeads lists the signed heads by Seq, then KeyID,
	// cursor-paginated.
	ListAuditHeads(ctx context.Context, cursor string, limit int) ([]AuditHead, Page, error)
	// LatestAuditHead returns keyID's signed head of the highest Seq, or
	// ErrNotFound when that key signed none.
	LatestAuditHead(ctx context.Context, keyID string) (AuditHead, error)
}

// AuditCursor is the ListAudit cursor that starts after entry seq. Every
// driver's ListAudit cursor is EncodeCursor of the last listed Seq, so a
// reader can resume the chain from a known entry (a signed head) without
// paging from the start.
func AuditCursor(seq int64) string { return EncodeCursor(seq) }

// AuditHeadKey is the cursor key of ListAuditHeads: Seq and KeyID.
func AuditHeadKey(h AuditHead) []any { return []any{h.Seq, h.KeyID} }
