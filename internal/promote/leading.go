package promote

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
	"github.com/blackwellio/blackwell/internal/store"
)

// LeadingDrifts finds, for a pass's forecasts, the leading environment of
// the stack's application (the nearest environment before its own in the
// pipeline that has a stack, read through Envs like divergence is) and
// that stack's open drifts. The drifts of a leading stack are read at most
// once per TTL (default 30s), so the passes of an application's later
// stacks cost a store read per TTL, not per pass; a drift that opens or
// clears in the leading environment is judged on by the later stack's
// first pass after that.
type LeadingDrifts struct {
	Envs  *Environments
	Store store.Store
	TTL   time.Duration
	Now   func() time.Time

	cache ttlCache[[]drift.Drift] // by client/stack
}

// Leading implements the forecast evaluator's LeadingSource: nil for a
// stack of no application or of its first environment.
func (l *LeadingDrifts) Leading(ctx context.Context, clientID, stackID, environment string, spec config.StackSpec) (*forecast.Leading, error) {
	if environment == "" {
		return nil, nil
	}
	doc, _ := json.Marshal(map[string]string{"app": spec.App}) // what AppOfState reads of the document
	order, peers, err := l.Envs.Peers(ctx, store.StateRecord{ClientID: clientID, StackID: stackID, Environment: environment, Desired: doc})
	if err != nil {
		return nil, err
	}
	lead, ok := leadingOf(order, peers, stackID, environment)
	if !ok {
		return nil, nil
	}
	drifts, err := l.drifts(ctx, clientID, lead.StackID)
	if err != nil {
		return nil, err
	}
	out := &forecast.Leading{StackID: lead.StackID, Environment: lead.Environment, Drifts: drifts}
	if len(drifts) == 0 {
		return out, nil // the usual case: no composition to decode
	}
	if err := json.Unmarshal(lead.Desired, &out.Spec); err != nil {
		return nil, fmt.Errorf("decode the desired state of %s/%s: %w", clientID, lead.StackID, err)
	}
	return out, nil
}

// leadingOf is the peer of the nearest environment before env in order.
func leadingOf(order []string, peers []drift.EnvironmentPeer, stackID, env string) (drift.EnvironmentPeer, bool) {
	at := slices.Index(order, env)
	for i := at - 1; i >= 0; i-- {
		for _, p := range peers {
			if p.Environment == order[i] && p.StackID != stackID {
				return p, true
			}
		}
	}
	return drift.EnvironmentPeer{}, false
}

// drifts are a stack's open drifts, cached for TTL.
func (l *LeadingDrifts) drifts(ctx context.Context, clientID, stackID string) ([]drift.Drift, error) {
	now := time.Now
	if l.Now != nil {
		now = l.Now
	}
	ttl := l.TTL
	if ttl == 0 {
		ttl = 30 * time.Second
	}
	key := clientID + "/" + stackID
	if ds, ok := l.cache.get(key, now(), ttl); ok {
		return ds, nil
	}
	ds, err := l.Store.ListDrifts(ctx, store.DriftQuery{ClientID: clientID, StackID: stackID})
	if err != nil {
		return nil, fmt.Errorf("read the drifts of %s: %w", key, err)
	}
	l.cache.put(key, ds, now(), ttl)
	return ds, nil
}
