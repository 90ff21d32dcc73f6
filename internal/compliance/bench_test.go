package compliance

import (
	"fmt"
	"runtime"
	"strings"
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
// three providers, two integrations, two resources; one in three prod;
// 100 stacks a client, each client's effective policy its own (its
// schedule's interval), as the policy hierarchy makes them. When
// distinct, what the rules read of the stacks differs from stack to stack
// (the names of credentials and resources, the topics), so that no
// stack's outcome is any other's.
func benchStacks(n int, distinct bool) []Input {
	envs := []string{"prod", "staging", "dev"}
	out := make([]Input, n)
	for i := range out {
		p := config.DefaultPolicy()
		p.Schedule.Interval = config.Duration(time.Duration(1+i/100) * time.Minute)
		pol := PolicyOf(p)
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
				"site": {Probe: "http", URL: fmt.Sprintf("https://site-%05d.example/", i)},
				"cert": {Probe: "tls", Address: fmt.Sprintf("site-%05d.example:443", i)},
			},
		}
		obs := ObservedOf("healthy", drift.Observed{Resources: map[string]drift.ResourceObservation{
			"site": {Status: drift.StatusHealthy}, "cert": {Status: drift.StatusHealthy}}}, nil)
		if distinct {
			suffix := fmt.Sprintf("-%05d", i)
			spec.Providers["cms"].Credentials["token"+suffix] = config.Secret{Ref: "${SANITY_TOKEN}"}
			delete(spec.Providers["cms"].Credentials, "token")
			in := spec.Integrations["content"]
			in.Topics = []string{"publish" + suffix}
			spec.Integrations["content"] = in
			spec.Resources["site"+suffix] = spec.Resources["site"]
			delete(spec.Resources, "site")
			obs.Resources["site"+suffix] = obs.Resources["site"]
			delete(obs.Resources, "site")
		}
		out[i] = Input{Stack: StackOf(meta, spec), Policy: pol, Observed: &obs}
	}
	return out
}

// BenchmarkEvaluatePass10k50 measures one pass's rule evaluation for
// 10,000 stacks and 50 rules (500,000 judgements), views built beforehand
// as the passes build them. The modes:
//
//   - cold: no memo and nothing shared yet (the engine's shared outcomes
//     are forgotten before each pass), observations without a key: the
//     rules that read observed judged for every stack, the others once
//     per distinct policy (100) and part of the stack they read;
//   - cold-keyed: as cold, with the observations' keys (as the recorder
//     gives them): the first pass after a start;
//   - cold-distinct: as cold-keyed, but what the rules read of the stack
//     (and the resources observed) differs from stack to stack, so no
//     rule that reads the stack is shared: the worst case of a first
//     pass;
//   - recompiled: each stack's memo from an engine compiled from the same
//     rules, evaluated by a new one (an OrganizationPolicy applied again);
//   - policy: every stack's effective policy changed (a new default of
//     the OrganizationPolicy), its desired state not: a new input key, the
//     rules that read only the stack kept (its digest is the same), those
//     that read the policy judged once per policy;
//   - steady: the rules that do not read the observed state reused from
//     each stack's Memo, those that do judged again, every observation
//     without a key (nothing shared: each stack's observation its own);
//   - changing: as steady, but each observation with its key, and every
//     stack's different from its last pass's (a resource's status flips),
//     so the rules that read only observed are shared between stacks;
//   - unchanged: the observation the same as the last pass's too, so only
//     its key is compared.
//
// Besides ns/op (wall time, which a loaded machine inflates) it reports
// cpu-ms/op, the process's CPU time per pass.
//
//	go test -run '^$' -bench BenchmarkEvaluatePass10k50 -benchtime 5x ./internal/compliance
func BenchmarkEvaluatePass10k50(b *testing.B) {
	org := &config.OrganizationSpec{Rules: benchRules()}
	compile := func() *Engine {
		e, err := Compile(org, func(string) config.Place { return config.Place{} })
		if err != nil {
			b.Fatal(err)
		}
		return e
	}
	e := compile()
	same, distinct := benchStacks(10_000, false), benchStacks(10_000, true)
	stacks := same
	flipped := make([]ObservedView, len(stacks))
	for i := range flipped {
		flipped[i] = ObservedOf("healthy", drift.Observed{Resources: map[string]drift.ResourceObservation{
			"site": {Status: drift.StatusUnknown}, "cert": {Status: drift.StatusHealthy}}}, nil)
	}
	origSame, origDistinct := make([]*ObservedView, len(stacks)), make([]*ObservedView, len(stacks))
	for i := range stacks {
		origSame[i], origDistinct[i] = same[i].Observed, distinct[i].Observed
	}
	originals := origSame
	now := time.Now()
	policies := make([][2]PolicyView, len(stacks)) // the stack's, and the stack's with a new default
	for i := range stacks {
		p := config.DefaultPolicy()
		p.Schedule.Interval = config.Duration(time.Duration(1+i/100) * time.Minute)
		p.Confirmation.Observations++
		policies[i] = [2]PolicyView{stacks[i].Policy, PolicyOf(p)}
	}
	for _, mode := range []string{"cold", "cold-keyed", "cold-distinct", "recompiled", "policy", "steady", "changing", "unchanged"} {
		b.Run(mode, func(b *testing.B) {
			stacks, originals = same, origSame
			if mode == "cold-distinct" {
				stacks, originals = distinct, origDistinct
			}
			e.shared.reset()
			memos := make([]Memo, len(stacks))
			for i := range stacks {
				stacks[i].Key = "desired-and-policy"
				stacks[i].Observed, stacks[i].ObservedKey, stacks[i].Policy = originals[i], "", policies[i][0]
				if mode != "cold" && mode != "steady" {
					stacks[i].ObservedKey = stacks[i].Observed.Key()
				}
				e.EvaluateMemo(stacks[i], now, &memos[i])
			}
			var cpu time.Duration
			pass := 0
			for b.Loop() {
				pass++
				b.StopTimer()
				ev := e
				switch mode {
				case "cold", "cold-keyed", "cold-distinct":
					e.shared.reset()
				case "recompiled":
					ev = compile()
					for i := range stacks {
						memos[i] = Memo{}
						e.EvaluateMemo(stacks[i], now, &memos[i])
					}
				case "policy":
					e.shared.reset()
					for i := range stacks {
						stacks[i].Key = fmt.Sprintf("desired-and-policy-%d", pass)
						stacks[i].Policy = policies[i][pass%2]
					}
				case "changing":
					for i := range stacks {
						if pass%2 == 1 {
							stacks[i].Observed = &flipped[i]
						} else {
							stacks[i].Observed = originals[i]
						}
						stacks[i].ObservedKey = stacks[i].Observed.Key()
					}
				}
				runtime.GC() // the garbage of what came before is not this pass's
				b.StartTimer()
				start := cpuTime()
				n := 0
				for i, in := range stacks {
					var memo *Memo
					if !strings.HasPrefix(mode, "cold") {
						memo = &memos[i]
					}
					n += len(ev.EvaluateMemo(in, now, memo))
				}
				cpu += cpuTime() - start
				if n == 0 {
					b.Fatal("nothing evaluated")
				}
			}
			b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
		})
	}
}
