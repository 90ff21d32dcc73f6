package rollback

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/reconcile"
	"github.com/blackwellio/blackwell/internal/store"
)

// Releaser ends what a host's rollback left in place beyond the
// deployment it serves (build.DeployClient): a Vercel instant rollback
// stops assigning new production deployments to the domains until a
// deployment is promoted.
type Releaser interface {
	Promote(ctx context.Context, d config.DeployAPI, id string) error
}

// Unpinned gives the providers of a stack whose hold h just ended their
// usual behaviour back: on Vercel, the live deployment is promoted, so it
// goes on serving and the next production deployment goes live again as
// it did before the rollback. Netlify and Cloudflare Pages publish new
// builds after a rollback as usual: nothing is called. It returns what
// was done ("" for nothing). Only a hold that restored a snapshot (a
// rollback across providers, whose build step or pinned heals may have
// rolled the host back) calls anything.
func (s *Service) Unpinned(ctx context.Context, clientID, stackID string, h *store.Hold) (string, error) {
	if h == nil || h.Snapshot == "" || s.opts.Pins == nil {
		return "", nil
	}
	rel, ok := s.opts.Pins.Deployer.(Releaser)
	if !ok {
		return "", nil
	}
	cur, err := s.opts.Store.GetState(ctx, clientID, stackID)
	if err != nil {
		return "", err
	}
	var spec config.StackSpec
	if err := json.Unmarshal(cur.Desired, &spec); err != nil {
		return "", fmt.Errorf("decode the desired state: %w", err)
	}
	ssg, ok := spec.Providers[config.RoleSSG]
	if !ok || ssg.Build == nil || ssg.Build.Deploy == nil || ssg.Build.Deploy.Host != config.HostVercel {
		return "", nil
	}
	bindings, err := s.opts.Registry.Bindings(clientID, stackID, spec)
	if err != nil {
		return "", fmt.Errorf("%w: %v", provider.ErrConfig, err)
	}
	b, ok := bindings[config.RoleSSG]
	if !ok || b.Build == nil || b.Build.Deploy == nil {
		return "", nil
	}
	d := *b.Build.Deploy
	live, err := s.opts.Pins.Deployer.Live(ctx, d)
	if err != nil {
		return "", fmt.Errorf("read the live deployment: %w", err)
	}
	if live.ID == "" {
		return "", nil
	}
	if err := rel.Promote(ctx, d, live.ID); err != nil {
		return "", err
	}
	return fmt.Sprintf("vercel deployment %s promoted: it serves production as before, and new production deployments go live again", live.ID), nil
}

// HoldWatch gives a host its publishing back when a rollback's hold
// expires by itself, as unpin does when it ends one (Unpinned): after a
// pass of a stack whose hold restored a snapshot and has expired, the
// live Vercel deployment is promoted, once per hold and process (a
// promote of the live deployment changes nothing served, so a second one
// after a restart or a failover is harmless). It is a reconcile.PassHook
// (reconcile.Options.Holds); the expired hold itself stays in the record
// until unpin or the next change of desired state removes it.
type HoldWatch struct {
	Service *Service
	Logger  *slog.Logger
	Now     func() time.Time

	mu   sync.Mutex
	done map[string]time.Time // client/stack -> the At of the hold released
}

var _ reconcile.PassHook = (*HoldWatch)(nil)

// AfterPass implements reconcile.PassHook.
func (w *HoldWatch) AfterPass(ctx context.Context, p reconcile.PassObservation) {
	h := p.Hold
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	if h == nil || h.Snapshot == "" || h.Active(now()) {
		return
	}
	key := p.ClientID + "/" + p.StackID
	w.mu.Lock()
	at, seen := w.done[key]
	w.mu.Unlock()
	if seen && at.Equal(h.At) {
		return
	}
	// Is the host one that holds production? (Nothing is called, or
	// recorded, for the others.)
	ssg, ok := p.Spec.Providers[config.RoleSSG]
	if !ok || ssg.Build == nil || ssg.Build.Deploy == nil || ssg.Build.Deploy.Host != config.HostVercel {
		w.mark(key, h.At)
		return
	}
	detail, err := w.Service.Unpinned(ctx, p.ClientID, p.StackID, h)
	if err != nil {
		// Tried again after the next pass.
		if w.Logger != nil {
			w.Logger.WarnContext(ctx, "expired hold: give the host its publishing back", "client_id", p.ClientID, "stack_id", p.StackID, "error", err)
		}
		return
	}
	w.mark(key, h.At)
	if detail == "" {
		return
	}
	changes, _ := json.Marshal(map[string]any{"state_version": h.Version, "snapshot": h.Snapshot, "detail": detail, "hold_until": h.Until})
	if err := w.Service.opts.Store.AppendAudit(context.WithoutCancel(ctx), []store.AuditEntry{{Timestamp: now(), Action: "unpin_providers",
		ClientID: p.ClientID, StackID: p.StackID, TriggeredBy: "hold_expired", Success: true, ChangesMade: changes,
		ReconciliationID: p.ReconciliationID}}); err != nil && w.Logger != nil {
		w.Logger.WarnContext(ctx, "audit unpin_providers", "client_id", p.ClientID, "stack_id", p.StackID, "error", err)
	}
}

func (w *HoldWatch) mark(key string, at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done == nil {
		w.done = map[string]time.Time{}
	}
	w.done[key] = at
}
