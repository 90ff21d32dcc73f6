package rollback

import (
	"context"
	"log/slog"
	"time"

	"github.com/blackwellio/blackwell/internal/reconcile"
	"github.com/blackwellio/blackwell/internal/store"
)

// Recorder records a known-good snapshot after each verified pass
// (reconcile.SnapshotHook): the same state seen again confirms its
// snapshot instead of adding one.
type Recorder struct {
	Store    store.Store
	Capturer *Capturer
	// Timeout bounds the provider reads of one capture (default 15s).
	Timeout time.Duration
	Logger  *slog.Logger
}

var _ reconcile.SnapshotHook = (*Recorder)(nil)

// AfterVerifiedPass captures what runs and stores it as a snapshot. A
// component that cannot be read (a host unreachable) records nothing: a
// snapshot is known-good whole or not at all.
func (r *Recorder) AfterVerifiedPass(ctx context.Context, v reconcile.VerifiedPass) {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	log := r.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("client_id", v.ClientID, "stack_id", v.StackID, "reconciliation_id", v.ReconciliationID)
	comps, err := r.Capturer.Capture(ctx, v.ClientID, v.StackID, v.Spec, v.Observed)
	if err != nil {
		log.InfoContext(ctx, "no known-good snapshot of this pass", "error", err)
		return
	}
	snap := store.Snapshot{ClientID: v.ClientID, StackID: v.StackID, Version: v.Version, DesiredHash: v.DesiredHash,
		TakenAt: v.At, ConfirmedAt: v.At, ReconciliationID: v.ReconciliationID, Components: comps}
	snap.ID = store.SnapshotID(snap)
	if _, err := r.Store.PutSnapshot(ctx, snap); err != nil {
		log.WarnContext(ctx, "record known-good snapshot", "snapshot_id", snap.ID, "error", err)
	}
}
