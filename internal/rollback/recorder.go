package rollback

import (
	"context"
	"log/slog"
	"sync"
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
	// ConfirmEvery is how often the same snapshot of a stack is confirmed
	// in the store (default 10m): passes in between that see it again
	// write nothing, so a healthy stack costs no write per pass.
	ConfirmEvery time.Duration
	Logger       *slog.Logger

	mu   sync.Mutex
	last map[string]confirmed // client/stack -> the snapshot last written
}

type confirmed struct {
	id string
	at time.Time
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
	if !r.due(v.ClientID+"/"+v.StackID, snap.ID, v.At) {
		return
	}
	if _, err := r.Store.PutSnapshot(ctx, snap); err != nil {
		r.forget(v.ClientID + "/" + v.StackID)
		log.WarnContext(ctx, "record known-good snapshot", "snapshot_id", snap.ID, "error", err)
	}
}

// due reports whether the snapshot is to be written: a new one, or the
// same one last written ConfirmEvery ago or more. It notes it as written.
func (r *Recorder) due(key, id string, at time.Time) bool {
	every := r.ConfirmEvery
	if every <= 0 {
		every = 10 * time.Minute
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last == nil {
		r.last = map[string]confirmed{}
	}
	if c, ok := r.last[key]; ok && c.id == id && at.Sub(c.at) < every {
		return false
	}
	r.last[key] = confirmed{id: id, at: at}
	return true
}

func (r *Recorder) forget(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.last, key)
}
