package promote

import (
	"context"
	"errors"
	"slices"

	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
)

// AfterPass hands a committed pass to auto-promotion (the reconcile loop's
// OnPass): it never blocks the loop's worker; a pass that finds the queue
// full is skipped (the stack's next pass asks again).
func (p *Promoter) AfterPass(res store.ReconciliationResult) {
	if res.Status != store.ResultSuccess {
		return
	}
	select {
	case p.passes <- res:
	default:
	}
}

// AutoPromote starts the promotion a pass of a source stack allows: into
// the next environment of its application's declared pipeline when that
// stage has auto_promote, the source's release has soaked and is healthy
// (Plan's checks), and the same release did not end there rolled back,
// failed or rejected before (a release that failed verification is not
// tried again by itself). A stage that needs approval gets an approval
// request, never more.
func (p *Promoter) AutoPromote(ctx context.Context, res store.ReconciliationResult) {
	apps, err := p.apps.apps(ctx, res.ClientID)
	if err != nil {
		p.log.Warn("auto-promotion: read applications", "client_id", res.ClientID, "error", err)
		return
	}
	a, env := appOfStack(apps, res.StackID)
	if a == nil || !a.Declared {
		return
	}
	envs := a.Environments()
	i := slices.Index(envs, env)
	if i < 0 || i+1 >= len(envs) {
		return
	}
	to := envs[i+1]
	if stage, _ := a.Pipeline.StageOf(to); !stage.AutoPromote {
		return
	}
	if p.triedBefore(ctx, a, env, to, a.Stacks[env].StateVersion) {
		return
	}
	rec, _, err := p.Start(ctx, Request{ClientID: res.ClientID, App: a.Name, From: env, To: to, By: "auto_promote"})
	var soak *SoakError
	switch {
	case err == nil:
		p.log.Info("auto-promotion started", "client_id", res.ClientID, "app", a.Name, "from", env, "to", to, "promotion_id", rec.ID)
	case errors.As(err, &soak), errors.Is(err, ErrUpToDate), errors.Is(err, ErrUnhealthy),
		errors.Is(err, store.ErrPromotionOpen), errors.Is(err, state.ErrPinned):
		// Not now: a later pass asks again (a pinned target stays as it is).
	default:
		p.log.Warn("auto-promotion", "client_id", res.ClientID, "app", a.Name, "from", env, "to", to, "error", err)
	}
}

// triedBefore reports whether the release (the source's version) was
// promoted from env to to before and did not succeed.
func (p *Promoter) triedBefore(ctx context.Context, a *App, from, to, version string) bool {
	list, _, err := p.opts.Store.ListPromotions(ctx, store.PromotionQuery{ClientID: a.ClientID, App: a.Name, Limit: store.MaxLimit})
	if err != nil {
		return true // unknown: do not promote blindly
	}
	for _, r := range list {
		if r.From == from && r.To == to && r.FromVersion == version &&
			(r.Status == store.PromotionRolledBack || r.Status == store.PromotionFailed || r.Status == store.PromotionRejected) {
			return true
		}
	}
	return false
}

// appOfStack finds the application a stack is an environment of.
func appOfStack(apps map[string]*App, stackID string) (*App, string) {
	for _, a := range apps {
		for env, st := range a.Stacks {
			if st.StackID == stackID {
				return a, env
			}
		}
	}
	return nil, ""
}
