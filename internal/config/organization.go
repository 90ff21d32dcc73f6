package config

import (
	"fmt"
	"slices"
	"time"
)

// KindOrganizationPolicy is the kind of the document that holds what every
// client shares: policy defaults, locked fields, compliance rules and their
// exceptions (docs/POLICY.md).
const KindOrganizationPolicy = "OrganizationPolicy"

// OrganizationPolicy is a document of kind OrganizationPolicy. A
// configuration holds at most one; the store keeps the last applied.
type OrganizationPolicy struct {
	APIVersion string           `json:"apiVersion" yaml:"apiVersion"`
	Kind       string           `json:"kind" yaml:"kind"`
	Metadata   OrganizationMeta `json:"metadata" yaml:"metadata"`
	Spec       OrganizationSpec `json:"spec" yaml:"spec"`
}

// OrganizationMeta names the organisation.
type OrganizationMeta struct {
	Name string `json:"name" yaml:"name" jsonschema:"required"`
}

// OrganizationSpec is the top of the policy hierarchy.
type OrganizationSpec struct {
	// Defaults are a ReconciliationPolicy spec whose fields fill what a
	// client's (or stack's) policy leaves unset, before the built-in
	// defaults.
	Defaults PolicySpec `json:"defaults" yaml:"defaults"`
	// Locked are field paths of a policy spec ("auto_heal.require_approval")
	// that no client or stack policy may set to another value than the
	// organisation's.
	Locked []string `json:"locked,omitempty" yaml:"locked"`
	// Rules are compliance rules written in CEL.
	Rules []ComplianceRule `json:"rules,omitempty" yaml:"rules"`
	// Exceptions exempt one client, or one stack, from a rule until they
	// expire.
	Exceptions []RuleException `json:"exceptions,omitempty" yaml:"exceptions"`
}

// The modes of a compliance rule.
const (
	// RuleEnforce refuses an apply or a policy change that breaks the rule.
	RuleEnforce = "enforce"
	// RuleAudit only reports.
	RuleAudit = "audit"
)

// ComplianceRule is a declarative check over a stack's desired state,
// effective policy and observed state: a CEL expression that is true when
// the stack complies.
type ComplianceRule struct {
	Name        string `json:"name" yaml:"name" jsonschema:"required"`
	Description string `json:"description,omitempty" yaml:"description"`
	Mode        string `json:"mode" yaml:"mode" jsonschema:"required,enum=enforce,enum=audit"`
	// Match limits the stacks the rule applies to (unset: every stack).
	Match RuleMatch `json:"match,omitzero" yaml:"match"`
	// Expression is CEL over the variables stack, policy and observed.
	Expression string `json:"expression" yaml:"expression" jsonschema:"required"`
	// Message says what is wrong when the rule fails.
	Message string `json:"message,omitempty" yaml:"message"`
}

// RuleMatch selects stacks by environment and client; an empty list
// matches every one.
type RuleMatch struct {
	Environments []string `json:"environments,omitempty" yaml:"environments"`
	Clients      []string `json:"clients,omitempty" yaml:"clients"`
}

// Matches reports whether a stack of client in environment is selected.
func (m RuleMatch) Matches(clientID, environment string) bool {
	return (len(m.Environments) == 0 || slices.Contains(m.Environments, environment)) &&
		(len(m.Clients) == 0 || slices.Contains(m.Clients, clientID))
}

// RuleException exempts a client (StackID empty) or one stack from a rule
// until Expires.
type RuleException struct {
	Rule     string `json:"rule" yaml:"rule" jsonschema:"required"`
	ClientID string `json:"client_id" yaml:"client_id" jsonschema:"required"`
	StackID  string `json:"stack_id,omitempty" yaml:"stack_id"`
	Owner    string `json:"owner" yaml:"owner" jsonschema:"required"`
	Reason   string `json:"reason" yaml:"reason" jsonschema:"required"`
	Ticket   string `json:"ticket,omitempty" yaml:"ticket"`
	// Expires is an RFC 3339 time; the exception holds before it.
	Expires string `json:"expires" yaml:"expires" jsonschema:"required,format=date-time"`
	// Source is "api" for an exception added through the API (blackwell
	// exception add), kept in the stored policy across applies of the
	// file; empty for one the OrganizationPolicy document declares. A file
	// cannot set it.
	Source string `json:"source,omitempty" yaml:"-" jsonschema:"-"`
}

// ExceptionFromAPI is the Source of exceptions added through the API.
const ExceptionFromAPI = "api"

// SameTarget reports whether two exceptions are for the same rule, client
// and stack (one replaces the other).
func (e RuleException) SameTarget(o RuleException) bool {
	return e.Rule == o.Rule && e.ClientID == o.ClientID && e.StackID == o.StackID
}

// ExpiresAt is Expires parsed (zero when it does not parse).
func (e RuleException) ExpiresAt() time.Time {
	t, err := time.Parse(time.RFC3339, e.Expires)
	if err != nil {
		return time.Time{}
	}
	return t
}

// Covers reports whether the exception exempts (client, stack) from rule
// at now: it names them and has not expired.
func (e RuleException) Covers(rule, clientID, stackID string, now time.Time) bool {
	return e.Rule == rule && e.ClientID == clientID && (e.StackID == "" || e.StackID == stackID) &&
		now.Before(e.ExpiresAt())
}

// Exception returns the exception that exempts (client, stack) from rule
// at now, if any.
func (o *OrganizationSpec) Exception(rule, clientID, stackID string, now time.Time) (RuleException, bool) {
	if o == nil {
		return RuleException{}, false
	}
	for _, e := range o.Exceptions {
		if e.Covers(rule, clientID, stackID, now) {
			return e, true
		}
	}
	return RuleException{}, false
}

// checkOrganization validates an OrganizationPolicy document.
func (r reporter) checkOrganization(o *OrganizationPolicy) {
	r.checkID("metadata.name", o.Metadata.Name, true)
	r.checkPolicySpec("spec.defaults", &o.Spec.Defaults)
	fields := PolicyFieldPaths()
	seen := map[string]bool{}
	for i, path := range o.Spec.Locked {
		p := fmt.Sprintf("spec.locked[%d]", i)
		switch {
		case !slices.Contains(fields, path):
			r.value(p, "unknown policy field %q (want a path such as auto_heal.require_approval)", path)
		case seen[path]:
			r.value(p, "%q is listed twice", path)
		}
		seen[path] = true
	}
	rules := map[string]bool{}
	for i, rule := range o.Spec.Rules {
		p := fmt.Sprintf("spec.rules[%d]", i)
		r.checkID(p+".name", rule.Name, true)
		if rules[rule.Name] {
			r.value(p+".name", "a rule named %q is already declared", rule.Name)
		}
		rules[rule.Name] = true
		r.checkEnum(p+".mode", rule.Mode, []string{RuleEnforce, RuleAudit}, true)
		if rule.Expression == "" {
			r.value(p+".expression", "is required (a CEL expression, true when the stack complies)")
		}
		r.checkList(p+".match.environments", rule.Match.Environments, []string{"dev", "staging", "prod"})
		r.checkList(p+".match.clients", rule.Match.Clients, nil)
	}
	for i, e := range o.Spec.Exceptions {
		p := fmt.Sprintf("spec.exceptions[%d]", i)
		if e.Rule == "" {
			r.value(p+".rule", "is required")
		} else if !rules[e.Rule] {
			r.value(p+".rule", "no rule named %q is declared in spec.rules", e.Rule)
		}
		r.checkID(p+".client_id", e.ClientID, true)
		r.checkID(p+".stack_id", e.StackID, false)
		for name, v := range map[string]string{"owner": e.Owner, "reason": e.Reason} {
			if v == "" {
				r.value(p+"."+name, "is required")
			}
		}
		if e.Expires == "" {
			r.value(p+".expires", "is required (an RFC 3339 time such as 2027-01-31T00:00:00Z)")
		} else if e.ExpiresAt().IsZero() {
			r.value(p+".expires", "%q is not an RFC 3339 time such as 2027-01-31T00:00:00Z", e.Expires)
		}
	}
}
