package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/ingest/webhook"
	"github.com/blackwellio/blackwell/internal/store"
)

// clientBindings is what the gateway knows of one client: its stacks, each
// with the webhook secrets of the providers it binds, resolved.
type clientBindings struct {
	stacks  map[string]*stackBindings
	ordered []string // stack ids, sorted
	// events is each stack's events policy (payload, retention), from its
	// effective policy; "" maps the stacks without one.
	events map[string]eventsRule
}

// eventsRule is what one policy says of the events it covers.
type eventsRule struct {
	payload   webhook.Payload
	retention time.Duration // 0: the gateway's
}

// stackBindings is one stack's receivers: provider name -> the active
// webhook secrets of every binding of that provider (several during a
// rotation), resolved from the server's environment.
type stackBindings struct {
	hash        string // desired_hash they were resolved from
	environment string
	secrets     map[string][]string
	// settings are the settings of each binding of a provider (the shop a
	// Shopify delivery must come from).
	settings map[string][]map[string]string
}

// match is the stacks of a client that a delivery to provider (and, when
// not empty, to stackID) concerns, with their secrets.
type match struct {
	stacks      []string
	secrets     []string
	environment string // shared by the stacks, else empty
	settings    []map[string]string
	// payload is the most protective events.payload of the stacks, and
	// retention the shortest events.retention (0: none set).
	payload   webhook.Payload
	retention time.Duration
}

// eventsOf is the stack's events policy: its own policy's, else the
// client's (the policies the stack's passes use).
func (c *clientBindings) eventsOf(stackID string) eventsRule {
	if p, ok := c.events[stackID]; ok {
		return p
	}
	return c.events[""]
}

// find returns the stacks of c that bind provider: stackID alone when it is
// not empty. ok is false when there are none.
func (c *clientBindings) find(provider, stackID string) (m match, ok bool) {
	add := func(id string, s *stackBindings) {
		secrets, binds := s.secrets[provider]
		if !binds {
			return
		}
		ev := c.eventsOf(id)
		if len(m.stacks) == 0 {
			m.environment = s.environment
			m.payload, m.retention = ev.payload, ev.retention
		} else {
			if m.environment != s.environment {
				m.environment = ""
			}
			m.payload = webhook.Least(m.payload, ev.payload)
			if ev.retention > 0 && (m.retention == 0 || ev.retention < m.retention) {
				m.retention = ev.retention
			}
		}
		m.stacks = append(m.stacks, id)
		m.settings = append(m.settings, s.settings[provider]...)
		for _, v := range secrets {
			if !slices.Contains(m.secrets, v) {
				m.secrets = append(m.secrets, v)
			}
		}
	}
	if stackID != "" {
		if s, found := c.stacks[stackID]; found {
			add(stackID, s)
		}
	} else {
		for _, id := range c.ordered {
			add(id, c.stacks[id])
		}
	}
	return m, len(m.stacks) > 0
}

// bindingCache keeps each client's resolved bindings so that a delivery
// neither decodes desired documents nor resolves secrets: an entry is
// reused for ttl, then revalidated with one read of the client's stacks,
// re-resolving only stacks whose desired_hash changed. Invalidate drops an
// entry at once (the state service's OnChange, after an apply); ttl bounds
// how long another replica's apply goes unseen. Unknown clients are not
// cached, so made-up client ids cannot grow the cache.
type bindingCache struct {
	store  store.Store
	getenv func(string) (string, bool)
	now    func() time.Time
	ttl    time.Duration
	log    *slog.Logger

	mu      sync.Mutex
	clients map[string]*cacheEntry
}

type cacheEntry struct {
	ready    chan struct{} // closed once loaded
	b        *clientBindings
	err      error
	loadedAt time.Time
}

func newBindingCache(st store.Store, getenv func(string) (string, bool), now func() time.Time, ttl time.Duration, log *slog.Logger) *bindingCache {
	return &bindingCache{store: st, getenv: getenv, now: now, ttl: ttl, log: log, clients: map[string]*cacheEntry{}}
}

// get returns the client's bindings, loaded at most maxAge ago (ttl when
// maxAge <= 0); nil when the client has no stacks. Concurrent callers share
// one load.
func (c *bindingCache) get(ctx context.Context, clientID string, maxAge time.Duration) (*clientBindings, error) {
	if maxAge <= 0 || maxAge > c.ttl {
		maxAge = c.ttl
	}
	c.mu.Lock()
	e := c.clients[clientID]
	if e != nil {
		select {
		case <-e.ready:
			if e.err != nil || c.now().Sub(e.loadedAt) > maxAge {
				e = nil // reload below
			}
		default: // loading: wait for it
		}
	}
	if e != nil {
		c.mu.Unlock()
		select {
		case <-e.ready:
			return e.b, e.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	var prev *clientBindings
	if old := c.clients[clientID]; old != nil {
		select {
		case <-old.ready:
			prev = old.b
		default:
		}
	}
	e = &cacheEntry{ready: make(chan struct{})}
	c.clients[clientID] = e
	c.mu.Unlock()

	// The load runs under a context of its own: callers that share it may
	// give up without failing the others.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	e.b, e.err = c.load(lctx, clientID, prev)
	cancel()
	e.loadedAt = c.now()
	close(e.ready)
	if e.err != nil || e.b == nil {
		c.mu.Lock()
		if c.clients[clientID] == e {
			delete(c.clients, clientID)
		}
		c.mu.Unlock()
	}
	return e.b, e.err
}

// invalidate drops a client's entry; the next delivery reloads it.
func (c *bindingCache) invalidate(clientID string) {
	c.mu.Lock()
	delete(c.clients, clientID)
	c.mu.Unlock()
}

// load reads the client's stacks and resolves the webhook secrets of each,
// reusing prev's stacks whose desired_hash is unchanged.
func (c *bindingCache) load(ctx context.Context, clientID string, prev *clientBindings) (*clientBindings, error) {
	states, err := store.AllStates(ctx, c.store, clientID)
	if err != nil {
		return nil, fmt.Errorf("read stacks of %s: %w", clientID, err)
	}
	if len(states) == 0 {
		return nil, nil
	}
	policies, err := c.store.ListPolicies(ctx, clientID)
	if err != nil {
		return nil, fmt.Errorf("read policies of %s: %w", clientID, err)
	}
	b := &clientBindings{stacks: make(map[string]*stackBindings, len(states)), events: c.eventsRules(clientID, policies)}
	for _, rec := range states {
		if prev != nil {
			if s, ok := prev.stacks[rec.StackID]; ok && s.hash == rec.DesiredHash && s.environment == rec.Environment {
				b.stacks[rec.StackID] = s
				b.ordered = append(b.ordered, rec.StackID)
				continue
			}
		}
		b.stacks[rec.StackID] = c.resolve(rec)
		b.ordered = append(b.ordered, rec.StackID)
	}
	slices.Sort(b.ordered)
	return b, nil
}

// eventsRules reads events.payload and events.retention of each stack's
// effective policy (the stack's own, else the client's:
// config.EffectivePolicy); "" maps the stacks without one. A policy that
// does not decode is logged and keeps least (payload none): a delivery is
// then stored without its body rather than with more than the operator
// asked for.
func (c *bindingCache) eventsRules(clientID string, recs []store.PolicyRecord) map[string]eventsRule {
	out := map[string]eventsRule{}
	for _, rec := range recs {
		var p config.PolicySpec
		rule := eventsRule{payload: webhook.PayloadNone}
		if err := json.Unmarshal(rec.Document, &p); err != nil {
			c.log.Warn("webhook bindings: policy does not decode; payloads are not kept", "client_id", clientID, "stack_id", rec.StackID, "error", err)
		} else {
			rule = eventsRule{payload: webhook.Payload(p.Events.Payload), retention: p.Events.Retention.D()}
		}
		out[rec.StackID] = rule
	}
	return out
}

// resolve decodes a stack's desired document and resolves the webhook
// secrets of its bindings. A secret whose variable is unset is left out
// (and logged, by variable name): the binding's other secrets still
// verify, and with none the binding answers 401.
func (c *bindingCache) resolve(rec store.StateRecord) *stackBindings {
	s := &stackBindings{hash: rec.DesiredHash, environment: rec.Environment, secrets: map[string][]string{}, settings: map[string][]map[string]string{}}
	var spec config.StackSpec
	if err := json.Unmarshal(rec.Desired, &spec); err != nil {
		c.log.Warn("webhook bindings: desired document does not decode", "client_id", rec.ClientID, "stack_id", rec.StackID, "error", err)
		return s
	}
	if err := spec.ResolveSecrets(c.getenv); err != nil {
		c.log.Warn("webhook bindings: secrets not resolved", "client_id", rec.ClientID, "stack_id", rec.StackID, "error", err)
	}
	for _, role := range slices.Sorted(maps.Keys(spec.Providers)) {
		b := spec.Providers[role]
		list := s.secrets[b.Name]
		for _, v := range b.WebhookSecret.Values() {
			if v != "" && !slices.Contains(list, v) {
				list = append(list, v)
			}
		}
		if list == nil {
			list = []string{}
		}
		s.secrets[b.Name] = list
		s.settings[b.Name] = append(s.settings[b.Name], b.Settings)
	}
	return s
}
