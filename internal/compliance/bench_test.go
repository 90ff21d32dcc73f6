package compliance

import (
	"fmt"
	"testing"
	"time"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
)

// benchRules are 50 rules: the starter set's kinds of check (desired
// state, effective policy, observed state), each several times under
// other names, some limited to prod.
func benchRules() []config.ComplianceRule {
	kinds := []config.ComplianceRule{
		{Mode: config.RuleEnforce, Expression: "stack.providers.all(p, stack.providers[p].webhook_secrets.all(s, s.env_reference) && stack.providers[p].credentials.all(k, stack.providers[p].credentials[k].env_reference))"},
		{Mode: config.RuleEnforce, Match: config.RuleMatch{Environments: []string{"prod"}}, Expression: "!policy.auto_heal.enabled || 'resource_replacement' in policy.auto_heal.require_approval"},
		{Mode: config.RuleEnforce, Expression: "'cms_provider_change' in policy.auto_heal.require_approval"},
		{Mode: config.RuleAudit, Match: config.RuleMatch{Environments: []string{"prod"}}, Expression: "stack.resources.exists(r, stack.resources[r].probe == 'tls')"},
		{Mode: config.RuleAudit, Expression: "size(policy.notifications.channels) > 0"},
		{Mode: config.RuleAudit, Expression: "policy.content.max_staleness <= duration('1h')"},
		{Mode: config.RuleAudit, Expression: "observed.status == 'healthy'"},
		{Mode: config.RuleAudit, Expression: "observed.resources.all(r, !(observed.resources[r] in ['unhealthy', 'missing']))"},
		{Mode: config.RuleAudit, Expression: "!('webhook_broken' in observed.open_drifts)"},
		{Mode: config.RuleAudit, Expression: "stack.integrations.all(i, size(stack.integrations[i].topics) > 0)"},
	}
	out := make([]config.ComplianceRule, 50)
	for i := range out {
		out[i] = kinds[i%len(kinds)]
		out[i].Name = fmt.Sprintf("rule-%02d", i)
	}
	return out
}

// benchStacks are n stacks shaped like the example's production stack:
// three providers, two integrations, two resources; one in three prod.
func benchStacks(n int) []Input {
	envs := []string{"prod", "staging", "dev"}
	pol := PolicyOf(config.DefaultPolicy())
	out := make([]Input, n)
	for i := range out {
		meta := config.StackMeta{ClientID: fmt.Sprintf("client-%03d", i/100), StackID: fmt.Sprintf("stack-%05d", i), Environment: envs[i%3]}
		spec := config.StackSpec{
			Providers: map[string]config.ProviderBinding{
				"cms":       {Name: "sanity", WebhookSecret: config.SecretList{{Ref: "${SANITY_WHSEC}"}}, Credentials: map[string]config.Secret{"token": {Ref: "${SANITY_TOKEN}"}}},
				"ecommerce": {Name: "shopify", WebhookSecret: config.SecretList{{Ref: "${SHOPIFY_WHSEC}"}}},
				"ssg":       {Name: "netlify", Build: &config.Build{Driver: "hook"}},
			},
			Integrations: map[string]config.Integration{
				"products": {Provider: "ecommerce", Topics: []string{"products/update", "products/delete"}},
				"content":  {Provider: "cms", Topics: []string{"publish"}},
			},
			Resources: map[string]config.Resource{
				"site": {Probe: "http", URL: "https://site.example/"},
				"cert": {Probe: "tls", Address: "site.example:443"},
			},
		}
		obs := ObservedOf("healthy", drift.Observed{Resources: map[string]drift.ResourceObservation{
			"site": {Status: drift.StatusHealthy}, "cert": {Status: drift.StatusHealthy}}}, nil)
		out[i] = Input{Stack: StackOf(meta, spec), Policy: pol, Observed: &obs}
	}
	return out
}

// BenchmarkEvaluatePass10k50 measures one pass's rule evaluation for
// 10,000 stacks and 50 rules (500,000 judgements), views built beforehand
// as the passes build them: cold, every rule evaluated (after a change of
// desired state or policy); steady, the rules that do not read the
// observed state reused from each stack's Memo (timeline.Recorder), those
// that do evaluated again (every observation new); unchanged, the
// observation the same as the last pass's too, so only its key is
// compared. Besides
// ns/op (wall time, which a loaded machine inflates) it reports cpu-ms/op,
// the process's CPU time per pass.
//
//	go test -run '^$' -bench BenchmarkEvaluatePass10k50 -benchtime 5x ./internal/compliance
func BenchmarkEvaluatePass10k50(b *testing.B) {
	e, err := Compile(&config.OrganizationSpec{Rules: benchRules()}, func(string) config.Place { return config.Place{} })
	if err != nil {
		b.Fatal(err)
	}
	stacks := benchStacks(10_000)
	now := time.Now()
	for _, mode := range []string{"cold", "steady", "unchanged"} {
		b.Run(mode, func(b *testing.B) {
			memos := make([]Memo, len(stacks))
			for i := range stacks {
				stacks[i].Key = "desired-and-policy"
				if mode == "unchanged" {
					stacks[i].ObservedKey = stacks[i].Observed.Key()
				}
				e.EvaluateMemo(stacks[i], now, &memos[i])
			}
			cpu := cpuTime()
			for b.Loop() {
				n := 0
				for i, in := range stacks {
					var memo *Memo
					if mode != "cold" {
						memo = &memos[i]
					}
					n += len(e.EvaluateMemo(in, now, memo))
				}
				if n == 0 {
					b.Fatal("nothing evaluated")
				}
			}
			b.ReportMetric(float64((cpuTime()-cpu).Milliseconds())/float64(b.N), "cpu-ms/op")
		})
	}
}
