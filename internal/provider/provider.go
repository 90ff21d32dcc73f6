// Package provider gives the reconciler hands and eyes on the providers of a
// stack: a Driver per provider (shopify, sanity, contentful, generic, in the
// subpackages) reads and repairs webhook subscriptions through the
// provider's documented management API, and a Registry, built explicitly in
// main, maps provider names to drivers and observes a stack's declared
// bindings for the reconcile pass.
//
// Drivers report honestly (classify.go): an observation that could not be
// made is unreachable, unauthorized or unknown with a drift.Reason saying
// why, never an empty list; only the provider's own 404 on the account is
// "missing" (drift.NotFound with drift.ReasonAccountMissing).
//
// Drivers never hang a pass: every request runs under a timeout, 429 answers
// are waited out only up to a bound, and a circuit breaker per provider
// endpoint (APIClient) turns a provider that keeps failing into an
// immediate "unreachable" observation, with a cooldown that starts short
// and doubles while the endpoint stays down. Rate limits are kept per
// provider account (AccountKey), with heal writes served before
// observation reads, and stacks of one account share one listing of it
// (Shared).
package provider

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
)

// Binding is one declared provider binding of a stack, with its secrets
// resolved: what a driver needs to reach the provider for that stack.
// Credentials and webhook secrets stay config.Secret values, whose
// formatting prints the reference, never the value.
type Binding struct {
	ClientID string
	StackID  string
	// Role is cms, ecommerce or ssg.
	Role string
	// Name is the provider name (shopify, sanity, ...), which also names the
	// receiver: {public_url}/v1/webhooks/{Name}/{client_id}.
	Name           string
	Settings       map[string]string
	Credentials    map[string]config.Secret
	WebhookSecrets config.SecretList
	Build          *config.Build
	// Integrations are the stack's integrations on this binding's role, by
	// name: a driver that repairs one leaves its siblings' subscriptions be.
	Integrations map[string]config.Integration
}

// NewBinding returns the binding of role in spec, whose secrets must be
// resolved already (config.StackSpec.ResolveSecrets).
func NewBinding(clientID, stackID, role string, spec config.StackSpec) (Binding, bool) {
	pb, ok := spec.Providers[role]
	if !ok {
		return Binding{}, false
	}
	b := Binding{
		ClientID: clientID, StackID: stackID, Role: role, Name: pb.Name,
		Settings: pb.Settings, Credentials: pb.Credentials, WebhookSecrets: pb.WebhookSecret,
		Build: pb.Build,
	}
	for name, ig := range spec.Integrations {
		if ig.Provider == role {
			if b.Integrations == nil {
				b.Integrations = map[string]config.Integration{}
			}
			b.Integrations[name] = ig
		}
	}
	return b, true
}

// Setting returns settings[key], or def when it is unset or blank.
func (b Binding) Setting(key, def string) string {
	if v := strings.TrimSpace(b.Settings[key]); v != "" {
		return v
	}
	return def
}

// Credential returns the resolved value of credentials[key] ("" when unset
// or unresolved).
func (b Binding) Credential(key string) string { return b.Credentials[key].Value() }

// Token is the resolved credentials.token.
func (b Binding) Token() string { return b.Credential("token") }

// WebhookSecret is the first resolved webhook secret, the one a provider is
// told to sign with when a subscription is created ("" when none).
func (b Binding) WebhookSecret() string {
	for _, s := range b.WebhookSecrets {
		if v := s.Value(); v != "" {
			return v
		}
	}
	return ""
}

// APIBase returns settings.api_base, which overrides every driver's API
// base (a proxy or a fake), else def; without a trailing slash.
func (b Binding) APIBase(def string) string {
	return strings.TrimRight(b.Setting("api_base", def), "/")
}

// unresolved names the credentials that hold a ${VAR} reference that could
// not be resolved.
func (b Binding) unresolved() []string {
	var out []string
	for k, s := range b.Credentials {
		if !s.Resolved() {
			out = append(out, "credentials."+k+" ("+s.Ref+")")
		}
	}
	return out
}

// LogValue lets a Binding be logged: identity only, never settings or
// secrets.
func (b Binding) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("client_id", b.ClientID), slog.String("stack_id", b.StackID),
		slog.String("role", b.Role), slog.String("provider", b.Name))
}

// Integration is a declared integration with its name.
type Integration struct {
	Name string
	config.Integration
}

// Observation is what a driver saw of a binding: the reconciler's
// drift.ProviderObservation and, when the provider was not reachable or its
// subscriptions could not be listed, a sanitised Detail saying why.
type Observation struct {
	drift.ProviderObservation
}

// Driver reads and repairs a provider's webhook subscriptions through its
// management API. Implementations are safe for concurrent use.
type Driver interface {
	// Observe says whether the provider is reachable with the binding's
	// credentials and lists its webhook subscriptions. It never fails
	// and never panics: an unreachable provider or rejected credentials
	// are observations (drift.Unreachable, drift.Unauthorized), and
	// anything else that prevents listing every page leaves
	// SubscriptionsKnown false; a Reason says why (Classify).
	Observe(ctx context.Context, b Binding) Observation
	// Register creates the subscription of ig pointing at address (our
	// receiver) and returns it. It is idempotent: what already exists at
	// address for ig is kept.
	Register(ctx context.Context, b Binding, ig Integration, address string) (drift.Subscription, error)
	// Update makes an existing subscription (as observed) match ig and
	// point at address.
	Update(ctx context.Context, b Binding, sub drift.Subscription, ig Integration, address string) error
}

// Reregistrar is implemented by drivers whose provider deletes a
// subscription after a run of failed deliveries (Shopify): Reregister
// replaces the subscriptions of ig at address with fresh ones (deleted,
// then created), whose failure count starts from zero. The heal run ahead
// of a webhook_broken forecast. Running it twice leaves fresh
// subscriptions too.
type Reregistrar interface {
	Reregister(ctx context.Context, b Binding, ig Integration, address string) (drift.Subscription, error)
}

// ProviderRegistrar is implemented by drivers whose provider keeps a
// registration of the provider itself (the spec's Integration API): the
// heal of provider_missing.
type ProviderRegistrar interface {
	RegisterProvider(ctx context.Context, b Binding, address string) error
}

// Errors a driver's API calls wrap; test with errors.Is.
var (
	// ErrUnauthorized: the provider rejected the credentials (401/403).
	ErrUnauthorized = errors.New("credentials rejected")
	// ErrUnreachable: no answer, a 5xx, a timeout, or an open breaker.
	ErrUnreachable = errors.New("provider unreachable")
	// ErrRateLimited: the provider asked to wait longer than the bound.
	ErrRateLimited = errors.New("rate limited")
	// ErrNotFound: the addressed object does not exist (404).
	ErrNotFound = errors.New("not found")
	// ErrConfig: the binding lacks a setting or credential the driver needs.
	ErrConfig = errors.New("binding incomplete")
)

// ConfigError is an ErrConfig naming what the binding lacks.
func ConfigError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
}
