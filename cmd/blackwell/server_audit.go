package main

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
func (s *server) setupAudit() (ed25519.PublicKey, error) {
	if s.opts.auditKeyFile == "" {
		if s.opts.auditRetention > 0 {
			return nil, usageError{errors.New("--audit-retention needs --audit-key-file: pruned entries are replaced by a checkpoint signed with it (see blackwell audit keygen)")}
		}
		return nil, nil
	}
	key, err := audit.LoadKey(s.opts.auditKeyFile)
	if err != nil {
		return nil, err
	}
	if s.opts.auditRetention > 0 {
		s.pruner = &audit.Pruner{Store: s.store, Key: key}
	}
	s.log.Info("audit checkpoints signed", "key_id", key.ID(), "retention", s.opts.auditRetention.String())
	return key.Public(), nil
}

// sweepAudit prunes audit entries older than the retention, in bounded
// batches; a chain that does not verify is not pruned (the sweep logs why).
func (s *server) sweepAudit(ctx context.Context) {
	if s.pruner == nil {
		return
	}
	s.sweepBatches(ctx, "old audit entries", func(ctx context.Context) (int, error) {
		return s.pruner.Prune(ctx, time.Now().Add(-s.opts.auditRetention), 1000)
	})
}
