package rollback

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/provider"
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
