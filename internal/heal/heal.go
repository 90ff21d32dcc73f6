// Package heal performs the heal actions of the drift taxonomy through the
// provider drivers and the builder: re-register a provider, recreate or
// update a webhook subscription, rebuild the site, apply the desired state.
// It implements reconcile.HealActions; the reconcile loop decides when an
// action runs (policy, approvals, attempts, backoff, breakers).
//
// Every action is idempotent for its attempt: a driver's Register keeps
// what already exists at our receiver address, Update makes a subscription
// match (a second Update changes nothing), and a rebuild of a stack whose
// build is running joins that build.
package heal

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/blackwellio/blackwell/internal/build"
	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/store"
)

// The heal actions of drift.Classify.
const (
	ActionRegisterProvider     = "register_provider"
	ActionSwitchBinding        = "switch_binding"
	ActionRecreateSubscription = "recreate_subscription"
	ActionUpdateSubscription   = "update_subscription"
	ActionRebuild              = "rebuild"
	ActionRecreateResource     = "recreate_resource"
	ActionApplyDesiredState    = "apply_desired_state"
	// ActionReregisterSubscription runs ahead of a webhook_broken forecast
	// (predict.preempt): the integration's subscription is replaced by a
	// fresh one where the driver can (provider.Reregistrar), else made to
	// exist and match as recreate_subscription does.
	ActionReregisterSubscription = "reregister_subscription"
)

// ErrUnsupported: the stack gives the action nothing to act with (no
// driver for its provider, no build declared).
var ErrUnsupported = errors.New("heal action not possible for this stack")

// Builder runs a build of a binding and waits for it; *build.Builder.
type Builder interface {
	Trigger(ctx context.Context, b provider.Binding) (build.BuildResult, error)
}

// Pins rebuilds a pinned stack's site from its pinned snapshot
// (internal/rollback): a rebuild of a stack pinned by a rollback must not
// publish the newer source the rollback undid.
type Pins interface {
	// RebuildPinned makes the deployment of the stack's pinned snapshot
	// live (pinned true) when the stack is pinned at a snapshot that
	// recorded its build; pinned false leaves the rebuild to the Builder.
	RebuildPinned(ctx context.Context, b provider.Binding) (detail string, pinned bool, err error)
}

// Options configure Actions.
type Options struct {
	Registry *provider.Registry
	// Builder runs rebuilds; nil makes rebuild actions unsupported.
	Builder Builder
	// Pins, when set, turns the rebuild of a pinned stack into a restore
	// of its pinned deployment (Pins.RebuildPinned).
	Pins Pins
	// ReceiverPrefix is {public_url}/v1/webhooks: subscriptions are
	// (re)created at {prefix}/{provider}/{client_id}/{stack_id}.
	ReceiverPrefix string
	// OnRecreated, when set, is told of each subscription a heal created
	// afresh (reregister_subscription, or a subscription created where
	// none was): the provider counts its failed deliveries from zero, so
	// the refusal streaks the webhook_broken forecast reads restart
	// (forecast.RefusalLog.Recreated). Topic is each of the new
	// subscription's topics ("" when it has none).
	OnRecreated func(provider, clientID, topic string, at time.Time)
	// Now is the clock of OnRecreated (default time.Now).
	Now func() time.Time
}

// Actions performs heal actions.
type Actions struct{ opts Options }

// New returns Actions.
func New(opts Options) *Actions {
	opts.ReceiverPrefix = strings.TrimRight(opts.ReceiverPrefix, "/")
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Actions{opts: opts}
}

// Provider names the provider an action on d talks to: the binding of the
// drift's role (provider drifts), of the integration's role (integration
// drifts), or the ssg binding (rebuilds); "" when the stack has none.
func (a *Actions) Provider(d drift.Drift, spec config.StackSpec) string {
	if role := roleOf(d, spec); role != "" {
		return spec.Providers[role].Name
	}
	return ""
}

// roleOf is the binding role an action on d goes to.
func roleOf(d drift.Drift, spec config.StackSpec) string {
	switch d.Code {
	case drift.ProviderMissing, drift.ProviderChanged:
		return d.Component
	case drift.WebhookBroken, drift.IntegrationMismatch:
		if ig, ok := spec.Integrations[d.Component]; ok {
			return ig.Provider
		}
		return ""
	case drift.ResourceUnhealthy, drift.ResourceMissing, drift.ContentStale:
		if _, ok := spec.Providers[config.RoleSSG]; ok {
			return config.RoleSSG
		}
	}
	return ""
}

// Execute runs the attempt's action on the stack and says what it did.
func (a *Actions) Execute(ctx context.Context, at store.HealAttempt, spec config.StackSpec) (string, error) {
	// A heal's calls go ahead of observation reads in each provider
	// account's rate limit, and see the provider fresh.
	ctx = provider.ForHeal(ctx)
	d := drift.Drift{Code: at.Code, Component: at.Component}
	bindings, err := a.opts.Registry.Bindings(at.ClientID, at.StackID, spec)
	if err != nil {
		// Unresolved secrets: the action would fail at the provider.
		return "", fmt.Errorf("%w: %v", provider.ErrConfig, err)
	}
	switch at.Action {
	case ActionRegisterProvider:
		return a.registerProvider(ctx, bindings, spec, d.Component)
	case ActionSwitchBinding:
		// The events come from another provider than the declared one:
		// point the declared provider's subscriptions back at us. What
		// the other provider sends stays its owner's to stop.
		return a.ensureRole(ctx, bindings, spec, d.Component)
	case ActionRecreateSubscription, ActionUpdateSubscription, ActionReregisterSubscription:
		ig, ok := spec.Integrations[d.Component]
		if !ok {
			return "", fmt.Errorf("%w: integration %q is not declared", ErrUnsupported, d.Component)
		}
		b, ok := bindings[ig.Provider]
		if !ok {
			return "", fmt.Errorf("%w: role %q of integration %q is not declared", ErrUnsupported, ig.Provider, d.Component)
		}
		pi := provider.Integration{Name: d.Component, Integration: ig}
		if at.Action == ActionReregisterSubscription {
			return a.reregister(ctx, b, pi)
		}
		return a.ensureIntegration(ctx, b, pi)
	case ActionRebuild, ActionRecreateResource:
		return a.rebuild(ctx, bindings)
	case ActionApplyDesiredState:
		var done []string
		for _, role := range sortedRoles(bindings) {
			detail, err := a.ensureRole(ctx, bindings, spec, role)
			if err != nil && !errors.Is(err, ErrUnsupported) {
				return strings.Join(done, "; "), err
			}
			if detail != "" {
				done = append(done, detail)
			}
		}
		return strings.Join(done, "; "), nil
	}
	return "", fmt.Errorf("%w: unknown action %q", ErrUnsupported, at.Action)
}

// registerProvider re-registers the provider of role with the stack (a
// driver whose provider keeps such a registration), then makes sure its
// subscriptions exist.
func (a *Actions) registerProvider(ctx context.Context, bindings map[string]provider.Binding, spec config.StackSpec, role string) (string, error) {
	b, ok := bindings[role]
	if !ok {
		return "", fmt.Errorf("%w: role %q is not declared", ErrUnsupported, role)
	}
	drv, ok := a.opts.Registry.Driver(b.Name)
	if !ok {
		return "", fmt.Errorf("%w: no driver for provider %q", ErrUnsupported, b.Name)
	}
	var done []string
	if reg, ok := drv.(provider.ProviderRegistrar); ok {
		if err := reg.RegisterProvider(ctx, b, a.address(b)); err != nil {
			return "", err
		}
		done = append(done, "registered provider "+b.Name)
	}
	detail, err := a.ensureRole(ctx, bindings, spec, role)
	if detail != "" {
		done = append(done, detail)
	}
	if errors.Is(err, ErrUnsupported) && len(done) > 0 {
		err = nil
	}
	return strings.Join(done, "; "), err
}

// ensureRole makes every declared integration of role exist and match.
func (a *Actions) ensureRole(ctx context.Context, bindings map[string]provider.Binding, spec config.StackSpec, role string) (string, error) {
	b, ok := bindings[role]
	if !ok {
		return "", fmt.Errorf("%w: role %q is not declared", ErrUnsupported, role)
	}
	names := make([]string, 0, len(b.Integrations))
	for name := range b.Integrations {
		names = append(names, name)
	}
	if len(names) == 0 {
		return "", fmt.Errorf("%w: role %q declares no integration", ErrUnsupported, role)
	}
	slices.Sort(names)
	var done []string
	for _, name := range names {
		detail, err := a.ensureIntegration(ctx, b, provider.Integration{Name: name, Integration: b.Integrations[name]})
		if err != nil {
			return strings.Join(done, "; "), err
		}
		done = append(done, detail)
	}
	return strings.Join(done, "; "), nil
}

// ensureIntegration makes the integration's subscription exist and match:
// a subscription of ours that carries any of its topics (or, for a
// filter-based integration, any of ours) is updated; with none, one is
// registered.
func (a *Actions) ensureIntegration(ctx context.Context, b provider.Binding, ig provider.Integration) (string, error) {
	drv, ok := a.opts.Registry.Driver(b.Name)
	if !ok {
		return "", fmt.Errorf("%w: no driver for provider %q", ErrUnsupported, b.Name)
	}
	obs := drv.Observe(ctx, b)
	if obs.Reachability != drift.Reachable || !obs.SubscriptionsKnown {
		return "", fmt.Errorf("%s: %w: %s", b.Name, provider.ErrUnreachable, orDefault(obs.Detail, string(obs.Reachability)))
	}
	if sub, ok := a.Matching(b, ig, obs.Subscriptions); ok {
		if err := drv.Update(ctx, b, sub, ig, sub.Address); err != nil {
			return "", fmt.Errorf("update subscription %s of %s: %w", sub.ID, ig.Name, err)
		}
		return fmt.Sprintf("updated %s subscription %s for %s", b.Name, sub.ID, ig.Name), nil
	}
	sub, err := drv.Register(ctx, b, ig, a.address(b))
	if err != nil {
		return "", fmt.Errorf("register subscription for %s: %w", ig.Name, err)
	}
	a.recreated(b, sub, ig)
	return fmt.Sprintf("created %s subscription %s for %s", b.Name, sub.ID, ig.Name), nil
}

// reregister replaces the integration's subscription of ours with a fresh
// one at the same address (provider.Reregistrar); a driver that cannot,
// or a subscription that is not there, gets ensureIntegration.
func (a *Actions) reregister(ctx context.Context, b provider.Binding, ig provider.Integration) (string, error) {
	drv, ok := a.opts.Registry.Driver(b.Name)
	if !ok {
		return "", fmt.Errorf("%w: no driver for provider %q", ErrUnsupported, b.Name)
	}
	re, ok := drv.(provider.Reregistrar)
	if !ok {
		return a.ensureIntegration(ctx, b, ig)
	}
	obs := drv.Observe(ctx, b)
	if obs.Reachability != drift.Reachable || !obs.SubscriptionsKnown {
		return "", fmt.Errorf("%s: %w: %s", b.Name, provider.ErrUnreachable, orDefault(obs.Detail, string(obs.Reachability)))
	}
	old, ok := a.Matching(b, ig, obs.Subscriptions)
	if !ok {
		return a.ensureIntegration(ctx, b, ig)
	}
	fresh, err := re.Reregister(ctx, b, ig, old.Address)
	if err != nil {
		return "", fmt.Errorf("re-register subscription %s of %s: %w", old.ID, ig.Name, err)
	}
	a.recreated(b, fresh, ig)
	return fmt.Sprintf("re-registered %s subscription %s for %s as %s", b.Name, old.ID, ig.Name, fresh.ID), nil
}

// recreated tells Options.OnRecreated of sub, created afresh for ig, once
// per topic (the subscription's, else the integration's).
func (a *Actions) recreated(b provider.Binding, sub drift.Subscription, ig provider.Integration) {
	if a.opts.OnRecreated == nil {
		return
	}
	topics := sub.Topics
	if len(topics) == 0 {
		topics = ig.Topics
	}
	if len(topics) == 0 {
		topics = []string{""}
	}
	at := a.opts.Now()
	for _, t := range topics {
		a.opts.OnRecreated(b.Name, b.ClientID, t, at)
	}
}

// Matching finds the subscription of ours (addressed at the stack's or the
// client's receiver) that serves ig.
func (a *Actions) Matching(b provider.Binding, ig provider.Integration, subs []drift.Subscription) (drift.Subscription, bool) {
	client := a.opts.ReceiverPrefix + "/" + b.Name + "/" + b.ClientID
	var ours []drift.Subscription
	for _, s := range subs {
		addr := strings.TrimRight(s.Address, "/")
		if i := strings.IndexAny(addr, "?#"); i >= 0 {
			addr = addr[:i]
		}
		if addr == client || addr == client+"/"+b.StackID {
			ours = append(ours, s)
		}
	}
	if len(ig.Topics) == 0 {
		if len(ours) == 1 {
			return ours[0], true
		}
		return drift.Subscription{}, false
	}
	for _, s := range ours {
		for _, t := range s.Topics {
			if slices.ContainsFunc(ig.Topics, func(want string) bool { return strings.EqualFold(want, t) }) {
				return s, true
			}
		}
	}
	return drift.Subscription{}, false
}

// rebuild runs a build of the stack's ssg binding and waits for it.
func (a *Actions) rebuild(ctx context.Context, bindings map[string]provider.Binding) (string, error) {
	b, ok := bindings[config.RoleSSG]
	if !ok || b.Build == nil {
		return "", fmt.Errorf("%w: the stack declares no build", ErrUnsupported)
	}
	if a.opts.Pins != nil {
		detail, pinned, err := a.opts.Pins.RebuildPinned(ctx, b)
		if err != nil {
			return "", fmt.Errorf("rebuild pinned stack: %w", err)
		}
		if pinned {
			return detail, nil
		}
	}
	if a.opts.Builder == nil {
		return "", fmt.Errorf("%w: no builder", ErrUnsupported)
	}
	res, err := a.opts.Builder.Trigger(ctx, b)
	if err != nil {
		return "", fmt.Errorf("rebuild: %w", err)
	}
	if res.Status != build.StatusSucceeded {
		return "", fmt.Errorf("rebuild %s: %s", res.Status, orDefault(res.Detail, "build failed"))
	}
	detail := "rebuilt with " + res.Driver
	if res.ID != "" {
		detail += " (" + res.ID + ")"
	}
	return detail, nil
}

// address is the receiver address of a binding's stack.
func (a *Actions) address(b provider.Binding) string {
	return a.opts.ReceiverPrefix + "/" + b.Name + "/" + b.ClientID + "/" + b.StackID
}

func sortedRoles(m map[string]provider.Binding) []string {
	out := make([]string, 0, len(m))
	for r := range m {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
