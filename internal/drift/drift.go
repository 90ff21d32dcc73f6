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
)

// Codes lists every drift code, in taxonomy order.
var Codes = []Code{
	ProviderMissing, ProviderChanged, WebhookBroken, IntegrationMismatch,
	ResourceUnhealthy, ResourceMissing, ContentStale, ConfigPending,
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
	Confirmed      bool       `json:"confirmed"`
	Acknowledged   bool       `json:"acknowledged"`
	AcknowledgedBy string     `json:"acknowledged_by,omitempty"`
	ResolvedAt     *time.Time `json:"resolved_at,omitempty"`
	// HealStatus is heal_exhausted once the drift's heal attempts are used
	// up (it is then left for a person), else empty.
	HealStatus string `json:"heal_status,omitempty"`
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
