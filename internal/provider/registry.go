package provider

import (
	"context"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
)

// DefaultObserveTimeout bounds one ObserveProviders call.
const DefaultObserveTimeout = 15 * time.Second

// RegistryOptions configure a Registry.
type RegistryOptions struct {
	// Drivers by provider name (shopify, sanity, contentful, generic).
	Drivers map[string]Driver
	// Getenv resolves the ${VAR} references of a stack's secrets
	// (default: none resolve).
	Getenv func(string) (string, bool)
	// Timeout bounds one ObserveProviders call, all roles together
	// (default DefaultObserveTimeout).
	Timeout time.Duration
	// Logger receives a line when a binding's reachability changes.
	Logger *slog.Logger
}

// Registry maps provider names to drivers and observes a stack's declared
// bindings through them. It implements reconcile.ProviderObserver. Build it
// in main; it holds no global state.
type Registry struct {
	drivers map[string]Driver
	getenv  func(string) (string, bool)
	timeout time.Duration
	log     *slog.Logger

	mu   sync.Mutex
	last map[string]string // client/stack/role -> last reachability/reason logged
}

// NewRegistry returns a Registry.
func NewRegistry(opts RegistryOptions) *Registry {
	if opts.Getenv == nil {
		opts.Getenv = func(string) (string, bool) { return "", false }
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultObserveTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	drivers := make(map[string]Driver, len(opts.Drivers))
	for name, d := range opts.Drivers {
		drivers[strings.ToLower(name)] = d
	}
	return &Registry{drivers: drivers, getenv: opts.Getenv, timeout: opts.Timeout, log: opts.Logger, last: map[string]string{}}
}

// Driver returns the driver of a provider name.
func (r *Registry) Driver(name string) (Driver, bool) {
	d, ok := r.drivers[strings.ToLower(strings.TrimSpace(name))]
	return d, ok
}

// Names lists the provider names that have a driver, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.drivers))
	for n := range r.drivers {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Bindings resolves the spec's secrets and returns its bindings by role.
// A secret that does not resolve is left unresolved (its binding still
// returned); the error names every such secret.
func (r *Registry) Bindings(clientID, stackID string, spec config.StackSpec) (map[string]Binding, error) {
	err := spec.ResolveSecrets(r.getenv)
	out := make(map[string]Binding, len(spec.Providers))
	for role := range spec.Providers {
		b, _ := NewBinding(clientID, stackID, role, spec)
		out[role] = b
	}
	return out, err
}

// ObserveProviders observes every declared role whose provider has a
// driver, the roles concurrently, all under the registry's timeout. Roles
// whose provider has no driver are left out. A role whose credentials do
// not resolve is observed as unknown with drift.ReasonUnresolved (not
// drift: an operator must set the variable), and logged; a driver that
// has not answered when the timeout ends is unreachable with
// drift.ReasonTimeout, and one whose pass was cancelled unknown with
// drift.ReasonNotObserved.
func (r *Registry) ObserveProviders(ctx context.Context, clientID, stackID string, spec config.StackSpec) map[string]drift.ProviderObservation {
	bindings, _ := r.Bindings(clientID, stackID, spec)
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()

	type result struct {
		role string
		obs  Observation
	}
	results := make(chan result, len(bindings))
	pending := map[string]string{} // role -> provider name
	for role, b := range bindings {
		d, ok := r.Driver(b.Name)
		if !ok {
			continue
		}
		pending[role] = b.Name
		if missing := b.unresolved(); len(missing) > 0 {
			slices.Sort(missing)
			results <- result{role, Observation{
				ProviderObservation: drift.ProviderObservation{Name: b.Name, Reachability: drift.Unknown,
					Reason: drift.ReasonUnresolved, Detail: "unresolved " + strings.Join(missing, ", ")},
			}}
			continue
		}
		go func() {
			var calls CallLog
			obs := d.Observe(WithCallLog(ctx, &calls), b)
			obs.Answers, obs.Notice = calls.Statuses(), calls.Notice()
			results <- result{role, obs}
		}()
	}
	out := make(map[string]drift.ProviderObservation, len(pending))
	for len(pending) > 0 {
		select {
		case res := <-results:
			delete(pending, res.role)
			out[res.role] = res.obs.ProviderObservation
			r.note(clientID, stackID, res.role, res.obs)
		case <-ctx.Done():
			// A driver that ignores its context must not hold the pass.
			for role, name := range pending {
				o := Observation{ProviderObservation: drift.ProviderObservation{Name: name, Reachability: drift.Unknown,
					Reason: drift.ReasonNotObserved, Detail: "observation cancelled"}}
				if ctx.Err() == context.DeadlineExceeded && context.Cause(ctx) == context.DeadlineExceeded {
					o.Reachability, o.Reason = drift.Unreachable, drift.ReasonTimeout
					o.Detail = "no observation within " + r.timeout.String()
				}
				out[role] = o.ProviderObservation
				r.note(clientID, stackID, role, o)
			}
			return out
		}
	}
	return out
}

// note logs a binding's observation when its reachability or reason
// changed since the last one logged, so a provider that stays down is
// logged once.
func (r *Registry) note(clientID, stackID, role string, o Observation) {
	key := clientID + "/" + stackID + "/" + role
	state := string(o.Reachability) + "/" + string(o.Reason)
	r.mu.Lock()
	prev, seen := r.last[key]
	r.last[key] = state
	r.mu.Unlock()
	if seen && prev == state {
		return
	}
	attrs := []any{"client_id", clientID, "stack_id", stackID, "role", role, "provider", o.Name,
		"reachability", string(o.Reachability), "subscriptions_known", o.SubscriptionsKnown}
	if o.Reason != "" {
		attrs = append(attrs, "reason", string(o.Reason))
	}
	if o.Detail != "" {
		attrs = append(attrs, "detail", o.Detail)
	}
	switch o.Reachability {
	case drift.Reachable:
		if !seen && o.SubscriptionsKnown {
			return // first sight, all well: nothing to say
		}
		r.log.Info("provider observed", attrs...)
	default:
		r.log.Warn("provider observation", attrs...)
	}
}

// Destiner is implemented by drivers that send a binding's credentials
// (its token, its webhook secret) to an address computed from its
// settings: Destination returns that address, "" when the settings name
// none.
type Destiner interface {
	Destination(b Binding) string
}

// Destinations returns the origins (scheme://host[:port]) the binding of
// role in spec sends its credentials to through its provider driver; nil
// when there is no such binding or driver. Settings decide it, not
// secrets: spec need not be resolved. The API compares them before and
// after a change made by a client-scoped token (config.Tenant).
func (r *Registry) Destinations(clientID, stackID, role string, spec config.StackSpec) []string {
	b, ok := NewBinding(clientID, stackID, role, spec)
	if !ok {
		return nil
	}
	d, ok := r.Driver(b.Name)
	if !ok {
		return nil
	}
	dd, ok := d.(Destiner)
	if !ok {
		return nil
	}
	if o := Origin(dd.Destination(b)); o != "" {
		return []string{o}
	}
	return nil
}

// Origin is the scheme://host[:port] of a URL, lower-cased; "" when it is
// not an absolute URL.
func Origin(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return strings.ToLower(u.Scheme + "://" + u.Host)
}
