package drift

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/blackwellio/blackwell/internal/config"
)

// CauseSSG is the Cause of a drift explained by a failed build of the
// stack's ssg provider.
const CauseSSG = config.RoleSSG

// RoleOf returns the role a known provider fills (cms or ecommerce) and
// whether the provider is known. Names are matched case-insensitively;
// "generic" and unknown providers have no role.
func RoleOf(provider string) (role string, ok bool) {
	switch strings.ToLower(strings.TrimSpace(provider)) {
	case "sanity", "contentful", "strapi", "prismic", "storyblok", "datocms", "hygraph":
		return config.RoleCMS, true
	case "shopify", "bigcommerce", "commercetools", "saleor", "medusa":
		return config.RoleEcommerce, true
	}
	return "", false
}

// Compare returns the drifts of one stack: what in.Desired declares and
// in.Observed contradicts. It is pure: no I/O, and the only time it uses is
// in.Now. The result is sorted by code (in the order of Codes), then by
// component, and holds at most one drift per ID. Lifecycle fields (FirstSeen,
// LastSeen, Observations, Confirmed, ...) are left zero; Track fills them.
//
// Something that was not observed (unknown reachability, subscriptions that
// could not be listed, a probe that could not run, no known build) is never
// drift: Compare only reports what it saw contradict the declaration. The
// one drift about the unknown is provider_unreachable, about the provider's
// API itself, once in.LastKnown says it has been unknown for longer than
// in.MaxUnknown. Credentials the provider rejects are provider_unauthorized;
// only a provider answering that the account does not exist (NotFound) is
// provider_missing. Drifts the provider itself answered (see
// Drift.Authoritative) are marked so.
func Compare(in Input) []Drift {
	c := comparison{in: in}
	c.providers()
	c.integrations()
	c.resources()
	c.content()
	c.configPending()
	slices.SortStableFunc(c.out, func(a, b Drift) int {
		return cmp.Or(cmp.Compare(codeIndex(a.Code), codeIndex(b.Code)), strings.Compare(a.Component, b.Component))
	})
	return c.out
}

// comparison accumulates the drifts of one Compare call.
type comparison struct {
	in  Input
	out []Drift
	// broken lists, sorted, the integrations found webhook_broken.
	broken []string
}

func (c *comparison) add(code Code, component string, expected, observed any, cause string) {
	c.addDrift(code, component, expected, observed, cause, false)
}

// addKnown adds a drift the provider itself answered (Drift.Authoritative).
func (c *comparison) addKnown(code Code, component string, expected, observed any, cause string) {
	c.addDrift(code, component, expected, observed, cause, true)
}

func (c *comparison) addDrift(code Code, component string, expected, observed any, cause string, authoritative bool) {
	cl, _ := Classify(code)
	c.out = append(c.out, Drift{
		Authoritative: authoritative,
		ID:            ID(c.in.ClientID, c.in.StackID, cl.Type, component),
		ClientID:      c.in.ClientID,
		StackID:       c.in.StackID,
		Code:          code,
		Type:          cl.Type,
		Component:     component,
		Expected:      expected,
		Observed:      observed,
		Severity:      cl.Severity,
		Cause:         cause,
		DetectedAt:    c.in.Now,
	})
}

// providers finds provider_changed and provider_missing, per role. Both
// have type provider and the role as component, so they share an ID; when
// both hold for a role, only provider_changed is reported: the declared
// provider being unknown or gone is what a move to another provider looks
// like, and re-registering the old one would be the wrong heal. Events from
// another provider are an inference, so provider_changed is never
// authoritative: it is confirmed like any drift.
func (c *comparison) providers() {
	declared := c.in.Desired.Providers

	seen := map[string][]string{} // role -> provider names other than the declared one
	for _, a := range c.in.Observed.EventProviders {
		role, ok := RoleOf(a.Name)
		if !ok {
			continue
		}
		name := strings.ToLower(strings.TrimSpace(a.Name))
		if b, ok := declared[role]; ok && strings.EqualFold(strings.TrimSpace(b.Name), name) {
			continue
		}
		if !slices.Contains(seen[role], name) {
			seen[role] = append(seen[role], name)
		}
	}
	for _, role := range sortedKeys(seen) {
		names := seen[role]
		slices.Sort(names)
		var expected any
		if b, ok := declared[role]; ok {
			expected = b.Name
		}
		c.add(ProviderChanged, role, expected, strings.Join(names, ","), "")
	}

	for _, role := range sortedKeys(declared) {
		if _, changed := seen[role]; changed {
			continue
		}
		obs, ok := c.in.Observed.Providers[role]
		if !ok {
			continue
		}
		observed := func(what string) string {
			if obs.Detail != "" {
				return what + ": " + obs.Detail
			}
			return what
		}
		switch {
		case obs.Reachability == Unauthorized || obs.Reason == ReasonUnauthorized:
			c.addKnown(ProviderUnauthorized, role, "credentials accepted", observed(string(Unauthorized)), "")
		case obs.Reachability == NotFound:
			c.addKnown(ProviderMissing, role, declared[role].Name, observed(string(NotFound)), "")
		case obs.Reachability.Known():
		default:
			if d, since, ok := c.unknownFor(role); ok {
				c.add(ProviderUnreachable, role, "reachable", c.unreachable(role, obs, d, since), "")
			}
		}
	}
}

// unknownFor reports how long a role's API has been unknown, and since
// when, if that is longer than MaxUnknown.
func (c *comparison) unknownFor(role string) (time.Duration, time.Time, bool) {
	s, ok := c.in.LastKnown.Providers[role]
	if !ok || s.Known || s.UnknownSince == nil || c.in.MaxUnknown <= 0 {
		return 0, time.Time{}, false
	}
	d := c.in.Now.Sub(*s.UnknownSince)
	return d, *s.UnknownSince, d >= c.in.MaxUnknown
}

// unreachable is the Observed of a provider_unreachable: why the API is
// unknown, for how long, and when it was last seen.
func (c *comparison) unreachable(role string, obs ProviderObservation, d time.Duration, since time.Time) map[string]any {
	reason := obs.Reason
	if reason == "" {
		reason = reasonOf(obs.Reachability)
	}
	out := map[string]any{
		"reason":        string(reason),
		"unknown_since": since.UTC().Format(time.RFC3339),
		"unknown_for":   d.Round(time.Second).String(),
	}
	if obs.Detail != "" {
		out["detail"] = obs.Detail
	}
	if s := c.in.LastKnown.Providers[role]; s.SeenAt != nil {
		out["last_seen"] = s.SeenAt.UTC().Format(time.RFC3339)
	}
	return out
}

// resources finds resource_unhealthy and resource_missing.
func (c *comparison) resources() {
	cause := c.buildCause()
	for _, name := range sortedKeys(c.in.Desired.Resources) {
		obs, ok := c.in.Observed.Resources[name]
		if !ok {
			continue
		}
		switch obs.Status {
		case StatusUnhealthy:
			c.add(ResourceUnhealthy, name, string(StatusHealthy), orDefault(obs.Detail, string(StatusUnhealthy)), cause)
		case StatusMissing:
			// The resource's own authority (DNS, the server) answered
			// that it does not exist.
			c.addKnown(ResourceMissing, name, "present", orDefault(obs.Detail, string(StatusMissing)), cause)
		}
	}
}

// content finds content_stale: a tracked content type changed after the last
// successful build, longer than MaxStaleness ago. It runs after
// integrations, whose broken webhooks it names as cause.
func (c *comparison) content() {
	o := c.in.Observed
	if o.LastBuild == nil || c.in.MaxStaleness <= 0 {
		return
	}
	cause := c.buildCause()
	if cause == "" && len(c.broken) > 0 {
		cause = c.broken[0]
	}
	types := slices.Clone(c.in.Desired.ContentTypes)
	slices.Sort(types)
	for _, t := range slices.Compact(types) {
		updated, ok := o.ContentUpdated[t]
		if !ok || !updated.After(*o.LastBuild) || c.in.Now.Sub(updated) <= c.in.MaxStaleness {
			continue
		}
		c.add(ContentStale, t,
			"built after "+updated.UTC().Format(time.RFC3339),
			"last build "+o.LastBuild.UTC().Format(time.RFC3339),
			cause)
	}
}

// configPending reports a desired state that has not converged. It must run
// last: with no other drift the reconciler records the desired hash as
// applied, so there is nothing to report. A stack never applied (no applied
// hash: it is new and still reconciling) has no pending configuration, only
// the drifts found; config_pending is about a stack that was applied
// before and has not reached its new desired state (confirmation gives it
// the grace period to get there).
func (c *comparison) configPending() {
	o := c.in.Observed
	if len(c.out) == 0 || o.DesiredHash == "" || o.AppliedHash == "" || o.DesiredHash == o.AppliedHash {
		return
	}
	c.add(ConfigPending, "desired_state", o.DesiredHash, orDefault(o.AppliedHash, "none"), "")
}

// buildCause is CauseSSG when the newest build failed and the stack declares
// an ssg provider, else "".
func (c *comparison) buildCause() string {
	if _, ok := c.in.Desired.Providers[config.RoleSSG]; ok && c.in.Observed.LastBuildFailed {
		return CauseSSG
	}
	return ""
}

// Unjudged returns the IDs of the drifts this pass could not judge, because
// what they are about was not observed (known): a provider's role whose API
// is unknown, the integrations of a provider whose subscriptions could not
// be listed, a resource whose probe could not run. What was not observed at
// all this pass (no provider observer, no prober) is judged as before:
// Compare finds nothing about it. An open drift among
// them is neither continued nor resolved by the pass (Track carries it):
// unknown is not evidence either way.
func Unjudged(in Input) map[string]bool {
	out := map[string]bool{}
	id := func(t Type, component string) { out[ID(in.ClientID, in.StackID, t, component)] = true }
	for role := range in.Desired.Providers {
		// A role not observed through its API at all is judged by events
		// alone (provider_changed), as before.
		if obs, ok := in.Observed.Providers[role]; ok && !obs.Reachability.Known() {
			id(TypeProvider, role)
		}
	}
	for name, ig := range in.Desired.Integrations {
		obs, ok := in.Observed.Providers[ig.Provider]
		if in.ReceiverPrefix == "" || !ok || obs.Reachability != Reachable || !obs.SubscriptionsKnown {
			id(TypeIntegration, name)
		}
	}
	for name := range in.Desired.Resources {
		if obs, ok := in.Observed.Resources[name]; ok && (obs.Status == StatusUnknown || obs.Status == "") {
			id(TypeResource, name)
		}
	}
	return out
}

func codeIndex(c Code) int {
	if i := slices.Index(Codes, c); i >= 0 {
		return i
	}
	return len(Codes)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
