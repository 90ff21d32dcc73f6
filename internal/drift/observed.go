package drift

import (
	"time"

	"github.com/blackwellio/blackwell/internal/config"
)

// Reachability of a provider's management API, as a driver saw it.
type Reachability string

// The reachability states.
const (
	Reachable    Reachability = "ok"
	Unreachable  Reachability = "unreachable"
	Unauthorized Reachability = "unauthorized" // revoked or wrong credentials
	Unknown      Reachability = "unknown"      // not observed this pass
	// NotFound: the provider answered that the account or binding does not
	// exist (a 404 for the store or project). Authoritative: the one
	// observation that is provider_missing.
	NotFound Reachability = "not_found"
)

// Known reports whether the provider answered: reachable, credentials
// rejected, or the account not found. Anything else (unreachable, timeout,
// throttled, breaker open, not observed) is unknown, and never drift about
// the provider.
func (r Reachability) Known() bool {
	return r == Reachable || r == Unauthorized || r == NotFound
}

// Reason says why an observation is unknown: what kept Blackwell from
// seeing the thing observed. An unknown observation is never drift about
// that thing (DESIGN.md: unknown is not drift).
type Reason string

// The reasons of an unknown observation.
const (
	ReasonUnreachable   Reason = "unreachable"    // connection refused, DNS failure, 5xx
	ReasonTimeout       Reason = "timeout"        // no answer in time
	ReasonThrottled     Reason = "throttled"      // 429 beyond the wait a pass allows
	ReasonBreakerOpen   Reason = "breaker_open"   // the endpoint's circuit breaker is open
	ReasonUnauthorized  Reason = "unauthorized"   // 401/403: credentials rejected
	ReasonInvalidAnswer Reason = "invalid_answer" // HTML, truncated or undecodable body
	ReasonUnresolved    Reason = "unresolved"     // a secret reference did not resolve
	ReasonNotObserved   Reason = "not_observed"   // cancelled, or not attempted this pass
	ReasonEgressRefused Reason = "egress_refused" // the operator's egress allowlist refused the address
	// ReasonAccountMissing is the evidence of a NotFound observation, not a
	// cause of unknown: the provider answered the listing of the account
	// (Shopify shop, Sanity project, Contentful space) with its own 404.
	ReasonAccountMissing Reason = "account_missing"
)

// Subscription is a webhook subscription held by a provider.
type Subscription struct {
	ID      string   `json:"id"`
	Address string   `json:"address"`
	Topics  []string `json:"topics,omitempty"`
	Filter  string   `json:"filter,omitempty"`
	Enabled bool     `json:"enabled"`
	// APIVersion is the provider API version the subscription's
	// deliveries use, where the provider has one (Shopify).
	APIVersion string `json:"api_version,omitempty"`
}

// ProviderObservation is what a provider driver saw of one declared binding.
type ProviderObservation struct {
	Name         string       `json:"name"`
	Reachability Reachability `json:"reachability"`
	// Detail says why a provider is not reachable ("401 from shopify",
	// "circuit open until ..."), for people; it never holds secrets.
	Detail string `json:"detail,omitempty"`
	// Reason says why Reachability is not Reachable, or why the
	// subscriptions are not known; empty when everything was seen.
	Reason Reason `json:"reason,omitempty"`
	// SubscriptionsKnown is false when the subscriptions could not be listed;
	// integrations are then not compared.
	SubscriptionsKnown bool           `json:"subscriptions_known"`
	Subscriptions      []Subscription `json:"subscriptions,omitempty"`
	// Answers are the HTTP statuses of the provider's answers to this
	// observation's API calls, in order (the forecasts' share of refused
	// answers); not stored.
	Answers []int `json:"-"`
	// Notice are the deprecation headers (Deprecation, Sunset,
	// X-Shopify-API-Deprecated-Reason) the provider's answers to this
	// observation carried, the last value of each by canonical name (the
	// forecasts' provider_sunset); not stored.
	Notice map[string]string `json:"-"`
}

// ProviderActivity is a provider seen sending events in the window.
type ProviderActivity struct {
	Name  string    `json:"name"`
	Count int       `json:"count"`
	Last  time.Time `json:"last"`
}

// ResourceStatus is a probe's verdict.
type ResourceStatus string

// The resource statuses. Unknown (the probe could not run) is not drift.
const (
	StatusHealthy   ResourceStatus = "healthy"
	StatusUnhealthy ResourceStatus = "unhealthy"
	StatusMissing   ResourceStatus = "missing"
	StatusUnknown   ResourceStatus = "unknown"
)

// ResourceObservation is the result of one resource's probe.
type ResourceObservation struct {
	Status  ResourceStatus `json:"status"`
	Detail  string         `json:"detail,omitempty"`
	Latency time.Duration  `json:"latency_ns,omitempty"`
	// Reason says why Status is unknown (empty otherwise; a probe that
	// gives none is taken as ReasonNotObserved).
	Reason Reason `json:"reason,omitempty"`
	// NotAfter is the leaf certificate's notAfter, from a tls probe that
	// completed a handshake; nil otherwise. Forecasts read it.
	NotAfter *time.Time `json:"not_after,omitempty"`
	// Answers are a dns probe's addresses, sorted (nil for other probes).
	// Known-good snapshots record them.
	Answers []string `json:"answers,omitempty"`
}

// Observed is everything one pass observed of a stack.
type Observed struct {
	// Providers by role, from provider drivers. A role absent here was not
	// observed through its API this pass.
	Providers map[string]ProviderObservation `json:"providers,omitempty"`
	// EventProviders are the providers seen in events since the window
	// start (and since the desired state last changed).
	EventProviders []ProviderActivity `json:"event_providers,omitempty"`
	// Resources by name, from probes.
	Resources map[string]ResourceObservation `json:"resources,omitempty"`
	// ContentUpdated is the time of the newest content change per content type.
	ContentUpdated map[string]time.Time `json:"content_updated,omitempty"`
	// LastBuild is the completion time of the last successful build; nil
	// when unknown.
	LastBuild *time.Time `json:"last_build,omitempty"`
	// LastBuildFailed is set when the newest build failed.
	LastBuildFailed bool   `json:"last_build_failed,omitempty"`
	DesiredHash     string `json:"desired_hash"`
	AppliedHash     string `json:"applied_hash"`
}

// Input is everything compare needs for one stack.
type Input struct {
	ClientID string
	StackID  string
	Desired  config.StackSpec
	Observed Observed
	// ReceiverPrefix is the address our receivers have for this client, for
	// example https://blackwell.example/v1/webhooks; a subscription belongs
	// to us when its address starts with ReceiverPrefix/{provider}/{client_id}.
	ReceiverPrefix string
	// MaxStaleness bounds how long content may wait for a build.
	MaxStaleness time.Duration
	// Now is the time of the pass.
	Now time.Time
	// LastKnown is the stack's knowledge after this pass's observation
	// (Remember): since when each provider has been unknown.
	LastKnown LastKnown
	// MaxUnknown is how long a provider's API may stay unknown before it is
	// provider_unreachable (the policy's confirmation.max_unknown); 0 never.
	MaxUnknown time.Duration
}
