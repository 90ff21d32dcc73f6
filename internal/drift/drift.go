// Package drift holds the drift taxonomy and the pure comparison of a stack's
// desired composition against what was observed. Nothing here does I/O or
// reads a clock: time is passed in.
package drift

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Code is a drift code of DESIGN.md's taxonomy.
type Code string

// The drift codes. Their names are public (API, metrics, policy YAML).
const (
	ProviderMissing     Code = "provider_missing"
	ProviderChanged     Code = "provider_changed"
	WebhookBroken       Code = "webhook_broken"
	IntegrationMismatch Code = "integration_mismatch"
	ResourceUnhealthy   Code = "resource_unhealthy"
	ResourceMissing     Code = "resource_missing"
	ContentStale        Code = "content_stale"
	ConfigPending       Code = "config_pending"
	// ProviderUnauthorized: the provider rejected our credentials (401 or
	// 403). What the provider holds is unknown; the fix is the operator's.
	ProviderUnauthorized Code = "provider_unauthorized"
	// ProviderUnreachable: the provider's API has been unknown (unreachable,
	// timing out, throttling, breaker open) for longer than the policy's
	// confirmation.max_unknown.
	ProviderUnreachable Code = "provider_unreachable"
	// EnvironmentDivergence: the stack's composition differs, beyond the
	// declared overrides, from the environment before it in its
	// application's pipeline (CompareEnvironments).
	EnvironmentDivergence Code = "environment_divergence"
)

// Codes lists every drift code, in taxonomy order.
var Codes = []Code{
	ProviderMissing, ProviderChanged, WebhookBroken, IntegrationMismatch,
	ResourceUnhealthy, ResourceMissing, ContentStale, ConfigPending,
	ProviderUnauthorized, ProviderUnreachable, EnvironmentDivergence,
}

// Type is the spec's DriftDetail.type.
type Type string

// The drift types of the spec (plus integration, which the spec's compare emits).
const (
	TypeProvider      Type = "provider"
	TypeIntegration   Type = "integration"
	TypeResource      Type = "resource"
	TypeContent       Type = "content"
	TypeConfiguration Type = "configuration"
)

// Severity is low, medium, high or critical.
type Severity string

// The severities, in increasing order.
const (
	SeverityLow      Severity = "low"
	SeverityMedium   Severity = "medium"
	SeverityHigh     Severity = "high"
	SeverityCritical Severity = "critical"
)

// Severities lists the severities from lowest to highest.
var Severities = []Severity{SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical}

// Rank orders severities: low 1 ... critical 4; an unknown severity is 0.
func (s Severity) Rank() int {
	for i, v := range Severities {
		if v == s {
			return i + 1
		}
	}
	return 0
}

// Valid reports whether s is one of the four severities.
func (s Severity) Valid() bool { return s.Rank() > 0 }

// Class describes a drift code: its type, default severity, heal action and
// approval class.
type Class struct {
	Type          Type
	Severity      Severity
	HealAction    string
	ApprovalClass string // empty when no approval class applies by default
}

var classes = map[Code]Class{
	ProviderMissing:     {TypeProvider, SeverityCritical, "register_provider", ""},
	ProviderChanged:     {TypeProvider, SeverityCritical, "switch_binding", "provider_change"},
	WebhookBroken:       {TypeIntegration, SeverityHigh, "recreate_subscription", ""},
	IntegrationMismatch: {TypeIntegration, SeverityMedium, "update_subscription", ""},
	ResourceUnhealthy:   {TypeResource, SeverityHigh, "rebuild", ""},
	ResourceMissing:     {TypeResource, SeverityHigh, "recreate_resource", "resource_replacement"},
	ContentStale:        {TypeContent, SeverityMedium, "rebuild", ""},
	ConfigPending:       {TypeConfiguration, SeverityLow, "apply_desired_state", ""},
	// No heal action: credentials and a provider's outage are not ours to
	// fix, so Decide only ever alerts about these two.
	ProviderUnauthorized: {TypeProvider, SeverityHigh, "", ""},
	ProviderUnreachable:  {TypeProvider, SeverityMedium, "", ""},
	// The fix is a promotion or an edit of the lagging stack, which a
	// person (or the pipeline's auto_promote) chooses: Decide alerts only.
	EnvironmentDivergence: {TypeConfiguration, SeverityLow, "", ""},
}

// Classify returns the class of a code and whether the code is known.
func Classify(c Code) (Class, bool) {
	cl, ok := classes[c]
	return cl, ok
}

// Valid reports whether c is a known drift code.
func (c Code) Valid() bool { _, ok := classes[c]; return ok }

// Drift is one detected difference between desired and observed state: the
// spec's DriftDetail plus identity and lifecycle fields.
type Drift struct {
	ID        string   `json:"id"`
	ClientID  string   `json:"client_id"`
	StackID   string   `json:"stack_id"`
	Code      Code     `json:"code"`
	Type      Type     `json:"type"`
	Component string   `json:"component"`
	Expected  any      `json:"expected"`
	Observed  any      `json:"observed"`
	Severity  Severity `json:"severity"`
	// Cause names an upstream component whose drift explains this one, when known.
	Cause      string    `json:"cause,omitempty"`
	DetectedAt time.Time `json:"detected_at"`

	FirstSeen    time.Time `json:"first_seen"`
	LastSeen     time.Time `json:"last_seen"`
	Observations int       `json:"observations"`
	// Confirmed is set once the drift persisted long enough to be reported.
	Confirmed bool `json:"confirmed"`
	// Authoritative is set by Compare when the provider itself answered
	// what the drift says (a subscription list that lacks ours, a 404 for
	// the account, a 401), as opposed to an inference (events from another
	// provider, a probe's view). Only authoritative critical drift may skip
	// confirmation (Rule.CriticalImmediate). It holds for one pass and is
	// not stored.
	Authoritative  bool       `json:"-"`
	Acknowledged   bool       `json:"acknowledged"`
	AcknowledgedBy string     `json:"acknowledged_by,omitempty"`
	ResolvedAt     *time.Time `json:"resolved_at,omitempty"`
	// HealStatus is heal_exhausted once the drift's heal attempts are used
	// up (it is then left for a person), else empty.
	HealStatus string `json:"heal_status,omitempty"`

	// Confidence and Evidence are derived from the lifecycle fields for
	// answers (Explain); they are not stored.
	Confidence Confidence `json:"confidence,omitempty"`
	Evidence   *Evidence  `json:"evidence,omitempty"`
}

// Confidence says how sure Blackwell is of a drift.
type Confidence string

// The confidences.
const (
	// ConfidenceConfirmed: the drift persisted per the policy's
	// confirmation rule (or the provider answered it authoritatively).
	ConfidenceConfirmed Confidence = "confirmed"
	// ConfidenceSuspected: seen, not yet for long enough.
	ConfidenceSuspected Confidence = "suspected"
)

// Evidence is the observations behind a drift.
type Evidence struct {
	// Observations is how many passes saw the drift.
	Observations int       `json:"observations"`
	FirstSeen    time.Time `json:"first_seen"`
	LastSeen     time.Time `json:"last_seen"`
	// Span is LastSeen - FirstSeen, as text ("1m30s") and in seconds.
	Span        string  `json:"span"`
	SpanSeconds float64 `json:"span_seconds"`
	// LastObserved is the value the last pass observed.
	LastObserved any `json:"last_observed"`
}

// Explain returns d with Confidence and Evidence filled from its lifecycle
// fields, for an answer.
func Explain(d Drift) Drift {
	d.Confidence = ConfidenceSuspected
	if d.Confirmed {
		d.Confidence = ConfidenceConfirmed
	}
	span := max(d.LastSeen.Sub(d.FirstSeen), 0)
	d.Evidence = &Evidence{
		Observations: d.Observations, FirstSeen: d.FirstSeen, LastSeen: d.LastSeen,
		Span: span.String(), SpanSeconds: span.Seconds(), LastObserved: d.Observed,
	}
	return d
}

// ID returns the stable identity of a drift: a hash of client, stack, type and
// component, so the same problem keeps its id across passes.
func ID(clientID, stackID string, t Type, component string) string {
	h := sha256.New()
	for _, s := range []string{clientID, stackID, string(t), component} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}
