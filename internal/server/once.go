package server

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"

	"github.com/blackwellio/blackwell/internal/build"
	"github.com/blackwellio/blackwell/internal/egress"
	"github.com/blackwellio/blackwell/internal/probe"
	"github.com/blackwellio/blackwell/internal/reconcile"
	"github.com/blackwellio/blackwell/internal/rollback"
	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
)

// OnceOptions are the parts of a reconciler that runs passes on demand,
// without a server: reconcile --once, and blackwell lambda's scheduled
// invocations.
type OnceOptions struct {
	Store  store.Store
	State  *state.Service
	Getenv func(string) (string, bool)
	Logger *slog.Logger
	// Egress is checked by probes, provider APIs and builds (nil: none).
	Egress *egress.Policy
	// PublicURL is where providers' webhooks are sent (the receiver
	// addresses heals register); empty: none.
	PublicURL string
	// Workers is how many passes run at once (default 8).
	Workers int
	// AllowCommandBuilds: a stack's local build command may run.
	AllowCommandBuilds bool
}

// Once runs passes of stacks on demand.
type Once struct {
	opts OnceOptions
	loop *reconcile.Reconciler
}

// ErrNoStacks: the store holds no stack of the target.
var ErrNoStacks = errors.New("no stacks to reconcile")

// NewOnce assembles the reconciler of o, with serve's providers, probes and
// heal actions.
func NewOnce(o OnceOptions) *Once {
	if o.Workers <= 0 {
		o.Workers = 8
	}
	prefix := ""
	if o.PublicURL != "" {
		prefix = strings.TrimRight(o.PublicURL, "/") + "/v1/webhooks"
	}
	providers := NewProviderRegistry(o.Getenv, o.Logger, o.Egress)
	// As serve: heals of pinned stacks toward their snapshot, and
	// known-good snapshots of verified passes (internal/rollback).
	parts := rollback.NewParts(o.Store, providers, NewBuilder(o.Store, o.Getenv, o.Logger, o.AllowCommandBuilds, nil, o.Egress),
		build.NewDeployClient(o.Egress.HTTPClient(), 0), prefix, nil, o.Logger)
	loop := reconcile.New(reconcile.Options{
		Store: o.Store, Policies: o.State, Prober: probe.New(probe.Options{Egress: o.Egress}), Providers: providers,
		Logger: o.Logger, ReceiverPrefix: prefix,
		Heal:      reconcile.HealOptions{Actions: parts.Actions},
		Snapshots: parts.Recorder,
	})
	return &Once{opts: o, loop: loop}
}

// Keys are the stacks of a target: clientID's stackID, or every stack of
// clientID, or of every client when clientID is empty. ErrNoStacks when
// there are none.
func (o *Once) Keys(ctx context.Context, clientID, stackID string) ([]string, error) {
	if stackID != "" {
		return []string{reconcile.Key(clientID, stackID)}, nil
	}
	recs, err := store.AllStates(ctx, o.opts.Store, clientID)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(recs))
	for _, r := range recs {
		keys = append(keys, r.Key())
	}
	if len(keys) == 0 {
		return nil, ErrNoStacks
	}
	return keys, nil
}

// Run runs a pass of each stack, then the heals they decided, then a pass
// of each healed stack to verify them; it returns each stack's last
// result.
func (o *Once) Run(ctx context.Context, keys []string) (map[string]store.ReconciliationResult, error) {
	results := o.passAll(ctx, keys, reconcile.TriggerManual)
	n, err := o.loop.HealOnce(ctx)
	if err != nil || n == 0 {
		return results, err
	}
	var healed []string
	for _, k := range keys {
		if results[k].AutoHealAttempted {
			healed = append(healed, k)
		}
	}
	for k, r := range o.passAll(ctx, healed, reconcile.TriggerHeal) {
		results[k] = r
	}
	return results, nil
}

// passAll runs one pass of each stack, Workers at a time.
func (o *Once) passAll(ctx context.Context, keys []string, trigger string) map[string]store.ReconciliationResult {
	var mu sync.Mutex
	out := make(map[string]store.ReconciliationResult, len(keys))
	sem := make(chan struct{}, o.opts.Workers)
	var wg sync.WaitGroup
	for _, k := range keys {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			res, _, err := o.loop.Reconcile(ctx, k, trigger)
			if res.ReconciliationID == "" && err != nil {
				c, s, _ := strings.Cut(k, "/")
				res = store.ReconciliationResult{ClientID: c, StackID: s, Trigger: trigger, Status: store.ResultFailed, Errors: []string{err.Error()}}
			}
			mu.Lock()
			out[k] = res
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}
