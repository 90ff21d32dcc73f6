package reconcile

import (
	"context"
	"time"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/store"
)

// SnapshotHook records a known-good snapshot after a verified pass
// (implemented by internal/rollback.Recorder). It is called on the pass's
// worker after the commit, and its failures are its own, never the pass's.
type SnapshotHook interface {
	AfterVerifiedPass(ctx context.Context, v VerifiedPass)
}

// VerifiedPass is a committed pass that left its stack healthy: no open
// drift, every provider reachable with its subscriptions listed, every
// probe healthy.
type VerifiedPass struct {
	ClientID, StackID string
	ReconciliationID  string
	// Version and DesiredHash are the desired state the pass verified.
	Version, DesiredHash string
	At                   time.Time
	Spec                 config.StackSpec
	Observed             drift.Observed
}

// snapshot hands a verified pass to Options.Snapshots.
func (p *pass) snapshot(ctx context.Context, res store.ReconciliationResult) {
	h := p.r.opts.Snapshots
	if h == nil || res.Status != store.ResultSuccess || !p.verified() {
		return
	}
	h.AfterVerifiedPass(context.WithoutCancel(ctx), VerifiedPass{
		ClientID: res.ClientID, StackID: res.StackID, ReconciliationID: res.ReconciliationID,
		Version: p.committed.StateVersion, DesiredHash: p.committed.DesiredHash,
		At: p.started, Spec: p.spec, Observed: p.observed,
	})
}

// verified: the committed stack is healthy, nothing it declares went
// unjudged or unobserved, and every observation was good.
func (p *pass) verified() bool {
	if p.committed.Status != store.StatusHealthy || len(p.tracked.Open) > 0 || len(p.unjudged) > 0 {
		return false
	}
	for role := range p.spec.Providers {
		o, ok := p.observed.Providers[role]
		if ok && (o.Reachability != drift.Reachable || !o.SubscriptionsKnown) {
			return false
		}
	}
	for name := range p.spec.Resources {
		if o, ok := p.observed.Resources[name]; !ok || o.Status != drift.StatusHealthy {
			return false
		}
	}
	return true
}
