package promote

import (
	"context"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/store"
)

// Environments answers a pass's question about its stack's application
// (reconcile.Environments): the pipeline order and the other stacks. A
// client's applications are read at most once per TTL (default 1 minute)
// and when Invalidate says the client's desired state changed here; a
// change applied through another replica is judged on by the passes after
// the TTL. Only applications of two environments or more are kept: a
// stack alone in its application has no peer to diverge from, and a
// client of many such stacks costs no memory between reads. (With a 5 s
// TTL, the passes of a client's stacks spread over a full pass of 100,000
// stacks re-read the client's stacks every few seconds on every replica:
// 30 % of a replica's CPU.)
type Environments struct {
	Store store.Store
	TTL   time.Duration
	Now   func() time.Time

	cache ttlCache[map[string]*App] // by client
	// loads joins concurrent reads of one client's applications (a round
	// of its passes finds the cache stale together).
	loads singleflight.Group
}

// Peers returns the stack's application's pipeline order and its other
// stacks (none for a stack without an environment).
func (e *Environments) Peers(ctx context.Context, rec store.StateRecord) ([]string, []drift.EnvironmentPeer, error) {
	apps, err := e.apps(ctx, rec.ClientID)
	if err != nil {
		return nil, nil, err
	}
	a := apps[AppOfState(rec)]
	if a == nil {
		return nil, nil, nil
	}
	var peers []drift.EnvironmentPeer
	for _, env := range a.Environments() {
		st := a.Stacks[env]
		if st.StackID != rec.StackID {
			peers = append(peers, drift.EnvironmentPeer{StackID: st.StackID, Environment: env, Desired: st.Desired})
		}
	}
	return a.Order(), peers, nil
}

func (e *Environments) apps(ctx context.Context, clientID string) (map[string]*App, error) {
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	ttl := e.TTL
	if ttl == 0 {
		ttl = time.Minute
	}
	if apps, ok := e.cache.get(clientID, now(), ttl); ok {
		return apps, nil
	}
	v, err, _ := e.loads.Do(clientID, func() (any, error) { return e.load(ctx, clientID, now, ttl) })
	if err != nil {
		return nil, err
	}
	return v.(map[string]*App), nil
}

// Invalidate forgets a client's applications (every client's for ""):
// its desired state changed.
func (e *Environments) Invalidate(clientID string) {
	if clientID == "" {
		e.cache.clear()
		return
	}
	e.cache.delete(clientID)
}

// load reads a client's applications and caches them. Only the stacks
// of applications of two environments or more are read whole (the
// narrow listing names them), and of those only the ones whose desired
// hash changed since the last read.
func (e *Environments) load(ctx context.Context, clientID string, now func() time.Time, ttl time.Duration) (map[string]*App, error) {
	members, err := appMembers(ctx, e.Store, clientID)
	if err != nil {
		return nil, err
	}
	known := map[string]store.StateRecord{}
	last, _ := e.cache.last(clientID)
	for _, a := range last {
		for _, rec := range a.Stacks {
			known[rec.StackID] = rec
		}
	}
	var shared []store.StackApp
	for _, list := range members {
		if len(list) >= 2 {
			shared = append(shared, list...)
		}
	}
	apps := map[string]*App{}
	if len(shared) > 0 {
		states, err := readStates(ctx, e.Store, clientID, shared, known)
		if err != nil {
			return nil, err
		}
		pipelines, err := e.Store.ListPipelines(ctx, clientID)
		if err != nil {
			return nil, err
		}
		if apps, err = Group(clientID, states, pipelines); err != nil {
			return nil, err
		}
		for name, a := range apps {
			if len(a.Stacks) < 2 {
				delete(apps, name) // a peer was deleted since the listing
			}
		}
	}
	e.cache.put(clientID, apps, now(), ttl)
	return apps, nil
}
