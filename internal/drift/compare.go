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
// drift: Compare only reports what it saw contradict the declaration.
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
	cl, _ := Classify(code)
	c.out = append(c.out, Drift{
		ID:         ID(c.in.ClientID, c.in.StackID, cl.Type, component),
		ClientID:   c.in.ClientID,
		StackID:    c.in.StackID,
		Code:       code,
		Type:       cl.Type,
		Component:  component,
		Expected:   expected,
		Observed:   observed,
		Severity:   cl.Severity,
		Cause:      cause,
		DetectedAt: c.in.Now,
	})
}

// providers finds provider_changed and provider_missing, per role. Both
// have type provider and the role as component, so they share an ID; when
// both hold for a role, only provider_changed is reported: the declared
// provider being unreachable is what a move to another provider looks like,
// and re-registering the old one would be the wrong heal.
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
		switch obs.Reachability {
		case Unreachable, Unauthorized:
			observed := string(obs.Reachability)
			if obs.Detail != "" {
				observed += ": " + obs.Detail
			}
			c.add(ProviderMissing, role, declared[role].Name, observed, "")
		}
	}
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
			c.add(ResourceMissing, name, "present", orDefault(obs.Detail, string(StatusMissing)), cause)
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
// applied, so there is nothing to report.
func (c *comparison) configPending() {
	o := c.in.Observed
	if len(c.out) == 0 || o.DesiredHash == "" || o.DesiredHash == o.AppliedHash {
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
