package reconcile

import (
	"context"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/store"
)

// Environments finds the other stacks of a stack's application and its
// pipeline order (implemented by internal/promote).
type Environments interface {
	Peers(ctx context.Context, rec store.StateRecord) (order []string, peers []drift.EnvironmentPeer, err error)
}

// compareEnvironments adds environment_divergence to the pass's findings.
// When the application cannot be read, divergence is not judged: the
// stack's open divergence drifts stay as they are (unjudged).
func (p *pass) compareEnvironments(ctx context.Context) {
	envs := p.r.opts.Environments
	if envs == nil || p.rec.Environment == "" {
		return
	}
	order, peers, err := envs.Peers(ctx, p.rec)
	var found []drift.Drift
	if err == nil {
		found, err = drift.CompareEnvironments(drift.EnvironmentInput{
			ClientID: p.rec.ClientID, StackID: p.rec.StackID, Environment: p.rec.Environment,
			Desired: p.rec.Desired, Order: order, Peers: peers, Now: p.started,
		})
	}
	if err != nil {
		p.log.Warn("environment divergence not judged", "error", err)
		if p.unjudged == nil {
			p.unjudged = map[string]bool{}
		}
		for _, d := range p.open {
			if d.Code == drift.EnvironmentDivergence {
				p.unjudged[d.ID] = true
			}
		}
		return
	}
	p.found = append(p.found, found...)
}
