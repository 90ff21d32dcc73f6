package server

import (
	"context"
	"crypto/ed25519"
	"errors"
	"time"

	"github.com/blackwellio/blackwell/internal/audit"
)

// setupAudit loads the audit checkpoint key (--audit-key-file) and, with
// --audit-retention, the pruner the sweep runs. It returns the public key
// the API shows (nil without a key).
func (s *Server) setupAudit() (ed25519.PublicKey, error) {
	if s.opts.AuditKeyFile == "" {
		if s.opts.AuditRetention > 0 {
			return nil, UsageError{errors.New("--audit-retention needs --audit-key-file: pruned entries are replaced by a checkpoint signed with it (see blackwell audit keygen)")}
		}
		return nil, nil
	}
	key, err := audit.LoadKey(s.opts.AuditKeyFile)
	if err != nil {
		return nil, err
	}
	if s.opts.AuditRetention > 0 {
		s.pruner = &audit.Pruner{Store: s.store, Key: key}
	}
	if s.opts.AuditSignInterval > 0 {
		s.signer = &audit.HeadSigner{Store: s.store, Key: key}
	}
	s.log.Info("audit checkpoints and heads signed", "key_id", key.ID(), "retention", s.opts.AuditRetention.String(), "sign_interval", s.opts.AuditSignInterval.String())
	return key.Public(), nil
}

// sweepAudit prunes audit entries older than the retention, in bounded
// batches; a chain that does not verify is not pruned (the sweep logs why).
func (s *Server) sweepAudit(ctx context.Context) {
	if s.pruner == nil {
		return
	}
	s.sweepBatches(ctx, "old audit entries", func(ctx context.Context) (int, error) {
		return s.pruner.Prune(ctx, time.Now().Add(-s.opts.AuditRetention), 1000)
	})
}

// signHeads signs the audit chain's head at start and every
// --audit-sign-interval when it moved. Each signed head goes to the log
// too (seq, hash, signature: nothing secret), so a copy lives wherever the
// logs are shipped, away from the database. A chain that does not extend
// the last signed head is not signed: that is logged as an error, once per
// distinct break.
func (s *Server) signHeads(ctx context.Context) {
	t := time.NewTicker(s.opts.AuditSignInterval)
	defer t.Stop()
	var lastBreak string
	for {
		h, added, err := s.signer.Sign(ctx)
		switch {
		case err != nil && errors.Is(err, context.Canceled):
			return
		case err != nil:
			var br *audit.Break
			if errors.As(err, &br) {
				if err.Error() != lastBreak {
					s.log.Error("audit chain does not extend its last signed head: not signing", "error", err)
				}
				lastBreak = err.Error()
			} else {
				s.log.Warn("sign audit head", "error", err)
			}
		case added:
			lastBreak = ""
			s.log.Info("audit head signed", "seq", h.Seq, "hash", h.Hash, "key_id", h.KeyID,
				"signed_at", h.SignedAt.Format(time.RFC3339Nano), "signature", h.Signature)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
