package store

import (
	"context"
	"time"
)

// AuditCheckpoint stands for the pruned start of the audit chain: the
// entries up to Seq were deleted, and Hash is the hash of entry Seq, which
// the first remaining entry links to. A checkpoint is signed by a key the
// server holds (package audit), so one written by anyone else is detected.
type AuditCheckpoint struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
	// Count is how many entries the checkpoint stands for (all pruned ones,
	// so far): Seq, since the chain starts at 1 and has no gaps.
	Count     int64     `json:"count"`
	CreatedAt time.Time `json:"created_at"`
	// KeyID names the signing key (a fingerprint of its public key);
	// Signature is the signature of the other fields (package audit).
	KeyID     string `json:"key_id"`
	Signature string `json:"signature"`
}

// AuditRetentionStore prunes the start of the audit chain behind a
// checkpoint.
type AuditRetentionStore interface {
	// AuditCheckpoint returns the latest checkpoint, or ErrNotFound when the
	// chain was never pruned.
	AuditCheckpoint(ctx context.Context) (AuditCheckpoint, error)
	// PruneAudit deletes the entries with Seq <= cp.Seq and stores cp as the
	// checkpoint, in one transaction, returning how many entries it deleted;
	// it also deletes the signed heads with Seq <= cp.Seq (AuditHeadStore),
	// which the signed checkpoint now stands for.
	// prevSeq is the Seq of the checkpoint the caller built on (0 when
	// none). It fails with ErrConflict, writing nothing, when the stored
	// checkpoint is not at prevSeq (another pruner went first), when
	// cp.Seq <= prevSeq, when entry cp.Seq is not stored with hash cp.Hash,
	// or when cp.Seq is the newest entry (the head is never pruned: the next
	// append links to it).
	PruneAudit(ctx context.Context, prevSeq int64, cp AuditCheckpoint) (int, error)
}
