package compliance

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
)

// TestViewFieldsCoverEveryField: every field of the stack's views has its
// bit (a field without one would be left out of the projections, and
// stacks differing by it would share a rule's outcome).
func TestViewFieldsCoverEveryField(t *testing.T) {
	t.Parallel()
	seen := map[fieldMask]string{}
	for _, typ := range []reflect.Type{reflect.TypeFor[StackView](), reflect.TypeFor[ProviderView](), reflect.TypeFor[SecretView](),
		reflect.TypeFor[IntegrationView](), reflect.TypeFor[ResourceView]()} {
		fields := viewFields["compliance."+typ.Name()]
		require.Len(t, fields, typ.NumField(), "%s", typ.Name())
		for i := range typ.NumField() {
			tag := strings.Split(typ.Field(i).Tag.Get("json"), ",")[0]
			bit, ok := fields[tag]
			require.True(t, ok, "%s.%s has no bit", typ.Name(), tag)
			require.Empty(t, seen[bit], "%s.%s has the bit of %s", typ.Name(), tag, seen[bit])
			seen[bit] = typ.Name() + "." + tag
		}
	}
}

// TestProjectionCoversEveryField: the projection on every field changes
// with any field, as the stack's key does; a projection leaves out the
// fields not in it.
func TestProjectionCoversEveryField(t *testing.T) {
	t.Parallel()
	base := StackView{
		Providers: map[string]ProviderView{"cms": {Settings: map[string]string{"a": "b"}, WebhookSecrets: []SecretView{{}},
			Credentials: map[string]SecretView{"token": {}}}},
		Integrations: map[string]IntegrationView{"i": {Topics: []string{"t"}}},
		Resources:    map[string]ResourceView{"r": {}},
		ContentTypes: []string{"post"},
	}
	leaves := keyCoversEveryField(t, base, func(v StackView) string { return string(v.appendProjected(nil, ^fieldMask(0), new([]string))) })
	require.Len(t, leaves, 26, "%v", leaves)

	probes := fStackResources | fResourceProbe
	a, b := base, base
	b.Resources = map[string]ResourceView{"r": {URL: "https://elsewhere.example/"}}
	b.Providers = nil
	require.Equal(t, string(a.appendProjected(nil, probes, new([]string))), string(b.appendProjected(nil, probes, new([]string))))
	b.Resources = map[string]ResourceView{"r": {Probe: "tls"}}
	require.NotEqual(t, string(a.appendProjected(nil, probes, new([]string))), string(b.appendProjected(nil, probes, new([]string))))
}

// TestStackFieldsOf: the fields each kind of rule reads, and the rules
// that use a view otherwise than by its fields, which share nothing.
func TestStackFieldsOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		expr   string
		fields fieldMask
		shared bool
	}{
		{"stack.providers.all(p, stack.providers[p].webhook_secrets.all(s, s.env_reference) && stack.providers[p].credentials.all(k, stack.providers[p].credentials[k].env_reference))",
			fStackProviders | fProviderWebhookSecrets | fProviderCredentials | fSecretEnvReference, true},
		{"stack.resources.exists(r, stack.resources[r].probe == 'tls')", fStackResources | fResourceProbe, true},
		{"stack.integrations.all(i, size(stack.integrations[i].topics) > 0)", fStackIntegrations | fIntegrationTopics, true},
		{"stack.environment != 'prod' || has(stack.providers.cms)", fStackEnvironment | fStackProviders, true},
		{"'cms' in stack.providers && stack.providers.size() == 3", fStackProviders, true},
		{"stack.resources.all(r, has(stack.resources[r].url))", fStackResources | fResourceURL, true},
		{"stack.providers[?'cms'].orValue(stack.providers['ssg']).name == 'x'", 0, false},
		// A view compared, listed, or passed on whole: every field may
		// matter.
		{"stack.providers['cms'] == stack.providers['ssg']", 0, false},
		{"stack.resources.map(r, stack.resources[r]).size() > 0", 0, false},
		{"stack.providers.cms.webhook_secrets.filter(s, s.env_reference).size() > 0", 0, false},
		{"[stack.providers.cms].size() == 1", 0, false},
		{"type(stack.providers.cms) == type(stack.providers.ssg)", 0, false},
	} {
		e, err := Compile(&config.OrganizationSpec{Rules: []config.ComplianceRule{rule("r", config.RuleAudit, tc.expr)}}, nowhere)
		if err != nil {
			require.False(t, tc.shared, "%s: %v", tc.expr, err)
			continue // optional syntax is not enabled
		}
		c := e.rules[0]
		require.Equal(t, tc.shared, c.projected, tc.expr)
		if tc.shared {
			require.Equal(t, fmt.Sprintf("%b", tc.fields), fmt.Sprintf("%b", c.fields), tc.expr)
		}
	}
}

// TestStacksDifferingInWhatARuleReadsAreJudgedApart: two stacks that
// differ only in a field a rule reads get their own outcomes, whichever
// is evaluated first; stacks that differ only in fields a rule does not
// read share its outcome.
func TestStacksDifferingInWhatARuleReadsAreJudgedApart(t *testing.T) {
	t.Parallel()
	rules := []config.ComplianceRule{
		rule("secrets", config.RuleAudit, "stack.providers.all(p, stack.providers[p].credentials.all(k, stack.providers[p].credentials[k].env_reference))"),
		rule("tls", config.RuleAudit, "stack.resources.exists(r, stack.resources[r].probe == 'tls')"),
		rule("https", config.RuleAudit, "stack.resources.all(r, stack.resources[r].url == '' || stack.resources[r].url.startsWith('https://'))"),
		rule("topics", config.RuleAudit, "stack.integrations.all(i, size(stack.integrations[i].topics) > 0)"),
		rule("same", config.RuleAudit, "stack.providers['cms'] == stack.providers['ssg']"),
		rule("prod-fast", config.RuleAudit, "stack.environment != 'prod' || policy.schedule.interval <= duration('5m')"),
	}
	e, err := Compile(&config.OrganizationSpec{Rules: rules}, nowhere)
	require.NoError(t, err)
	stack := func(id string) StackView {
		return StackView{ClientID: "acme", StackID: id, Environment: "prod",
			Providers: map[string]ProviderView{"cms": {Name: "sanity", Credentials: map[string]SecretView{"token": {EnvReference: true}}},
				"ssg": {Name: "sanity", Credentials: map[string]SecretView{"token": {EnvReference: true}}}},
			Resources:    map[string]ResourceView{"site": {Probe: "http", URL: "https://" + id + ".example/"}, "cert": {Probe: "tls"}},
			Integrations: map[string]IntegrationView{"content": {Provider: "cms", Topics: []string{"publish"}}},
		}
	}
	pol := PolicyView{Schedule: ScheduleView{Interval: time.Minute}}
	statuses := func(in Input) map[string]Status {
		out := map[string]Status{}
		for _, r := range e.Evaluate(in, time.Now()) {
			out[r.Rule] = r.Status
		}
		return out
	}
	all := func(s Status) map[string]Status {
		out := map[string]Status{}
		for _, r := range rules {
			out[r.Name] = s
		}
		return out
	}
	// A compliant stack first: its outcomes are shared with...
	require.Equal(t, all(Compliant), statuses(Input{Stack: stack("web"), Policy: pol}))
	// ...a stack differing in its URL and id only: only https reads the
	// URL, and it is judged for it.
	require.Equal(t, all(Compliant), statuses(Input{Stack: stack("api"), Policy: pol}))
	require.Len(t, e.shared.m[0], 1, "secrets shared")
	require.Len(t, e.shared.m[2], 2, "https judged for each URL")

	// Each of these differs from web only in one field a rule reads.
	for _, tc := range []struct {
		rule string
		edit func(*StackView, *PolicyView)
	}{
		{"secrets", func(s *StackView, _ *PolicyView) {
			s.Providers["cms"].Credentials["token"] = SecretView{}
			s.Providers["ssg"].Credentials["token"] = SecretView{} // still the same as cms
		}},
		{"tls", func(s *StackView, _ *PolicyView) { s.Resources["cert"] = ResourceView{Probe: "http"} }},
		{"https", func(s *StackView, _ *PolicyView) {
			s.Resources["site"] = ResourceView{Probe: "http", URL: "http://web.example/"}
		}},
		{"topics", func(s *StackView, _ *PolicyView) { s.Integrations["content"] = IntegrationView{Provider: "cms"} }},
		{"same", func(s *StackView, _ *PolicyView) {
			p := s.Providers["ssg"]
			p.BuildDriver = "hook" // read by no rule but through ==
			s.Providers["ssg"] = p
		}},
		{"prod-fast", func(_ *StackView, p *PolicyView) { p.Schedule.Interval = time.Hour }},
	} {
		s, p := stack("web"), pol // maps of its own
		tc.edit(&s, &p)
		want := all(Compliant)
		want[tc.rule] = Noncompliant
		require.Equal(t, want, statuses(Input{Stack: s, Policy: p}), tc.rule)
		// And the first stack is still compliant after it.
		require.Equal(t, all(Compliant), statuses(Input{Stack: stack("web"), Policy: pol}), "web after %s", tc.rule)
	}
	// Outside prod, prod-fast does not read the policy's interval: a
	// dev stack's outcome under either policy is the same, and a prod
	// stack's is still its own.
	dev := stack("web")
	dev.Environment = "dev"
	require.Equal(t, all(Compliant), statuses(Input{Stack: dev, Policy: PolicyView{Schedule: ScheduleView{Interval: time.Hour}}}))
	require.Equal(t, Noncompliant, statuses(Input{Stack: stack("web"), Policy: PolicyView{Schedule: ScheduleView{Interval: time.Hour}}})["prod-fast"])
}

// TestSharingThatDoesNotPayStops: a rule whose every stack reads
// differently (its URL) stops being shared after shareWindow lookups
// without hits, and is still judged right for each stack; a rule whose
// stacks read alike stays shared.
func TestSharingThatDoesNotPayStops(t *testing.T) {
	t.Parallel()
	e, err := Compile(&config.OrganizationSpec{Rules: []config.ComplianceRule{
		rule("https", config.RuleAudit, "stack.resources.all(r, stack.resources[r].url.startsWith('https://'))"),
		rule("tls", config.RuleAudit, "stack.resources.exists(r, stack.resources[r].probe == 'tls')"),
	}}, nowhere)
	require.NoError(t, err)
	now := time.Now()
	for i := range shareWindow + 100 {
		scheme := "https"
		if i%3 == 0 {
			scheme = "http"
		}
		in := Input{Stack: StackView{StackID: fmt.Sprint(i), Resources: map[string]ResourceView{
			"site": {Probe: "tls", URL: fmt.Sprintf("%s://%d.example/", scheme, i)}}}}
		got := e.Evaluate(in, now)
		want := Compliant
		if scheme == "http" {
			want = Noncompliant
		}
		require.Equal(t, want, got[0].Status, "stack %d", i)
		require.Equal(t, Compliant, got[1].Status, "stack %d", i)
	}
	require.Nil(t, e.shared.m[0], "https no longer shared")
	require.Equal(t, int64(shareOff-(shareWindow+100-shareWindow/8-1)), e.shared.stats[0].off.Load(),
		"https not shared since its first shareWindow/8 lookups, none found")
	require.Positive(t, e.shared.stats[0].off.Load())
	require.Len(t, e.shared.m[1], 1, "tls still shared")
	require.Zero(t, e.shared.stats[1].off.Load())
}

// TestShareCountsStayBounded: a rule whose every lookup is found never
// reaches put, where its counts are reset; they are halved before they
// overflow, the ratio of hits kept.
func TestShareCountsStayBounded(t *testing.T) {
	t.Parallel()
	e, err := Compile(&config.OrganizationSpec{Rules: []config.ComplianceRule{
		rule("tls", config.RuleAudit, "stack.resources.exists(r, stack.resources[r].probe == 'tls')"),
	}}, nowhere)
	require.NoError(t, err)
	in := Input{Stack: StackView{StackID: "a", Resources: map[string]ResourceView{"site": {Probe: "tls"}}}}
	require.Equal(t, Compliant, e.Evaluate(in, time.Now())[0].Status) // judged, put
	in.Stack.StackID = "b"
	require.Equal(t, Compliant, e.Evaluate(in, time.Now())[0].Status) // found
	lookups, hits := split(e.shared.stats[0].counts.Load())
	require.Equal(t, [2]int64{1, 1}, [2]int64{lookups, hits})
	e.shared.stats[0].counts.Store(1<<30 - 1 | (1<<30-3)<<32)
	in.Stack.StackID = "c"
	require.Equal(t, Compliant, e.Evaluate(in, time.Now())[0].Status) // found
	lookups, hits = split(e.shared.stats[0].counts.Load())
	require.Equal(t, [2]int64{1 << 29, 1<<29 - 1}, [2]int64{lookups, hits})
}
