package compliance

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
)

// nativeOutcome is rule c's outcome for in, evaluated on the views as
// Go structs (CEL's native objects), without celViews.
func nativeOutcome(c *compiled, in Input) outcome {
	vars := map[string]any{"stack": in.Stack, "policy": in.Policy}
	if in.Observed != nil {
		vars["observed"] = *in.Observed
	}
	val, _, err := c.prog.Eval(vars)
	if in.Observed == nil {
		ev := &evaluation{in: in}
		return ev.eval(c)
	}
	st, msg := judge(c.rule, val, err)
	return newOutcome(st, msg)
}

// requireSameAsNative evaluates every rule of e for in through an
// evaluation (celViews) and on the structs, and requires the same
// outcome.
func requireSameAsNative(t testing.TB, e *Engine, in Input) {
	t.Helper()
	for i := range e.rules {
		c := &e.rules[i]
		got := (&evaluation{in: in, adapter: e.adapter}).eval(c)
		want := nativeOutcome(c, in)
		if got != want {
			t.Fatalf("%s on %s: %+v through celViews, %+v on the structs", c.rule.Expression, in.Stack.StackID, got, want)
		}
	}
}

// TestCELViewsJudgeAsStructs: rules read celViews as they read the Go
// structs: fields, maps and lists of views, presence, equality of views,
// conversions, errors (a missing key) and what the cost limit stops.
func TestCELViewsJudgeAsStructs(t *testing.T) {
	t.Parallel()
	exprs := []string{
		"stack.providers['cms'] == stack.providers['ssg']",
		"stack.providers['cms'] != stack.providers['cms']",
		"stack.resources.all(r, has(stack.resources[r].url))",
		"has(stack.providers.cms) && !has(stack.providers.nope)",
		"stack.providers['nope'].name == 'x'",
		"stack.providers.cms.webhook_secrets.filter(s, s.env_reference).size() > 0",
		"stack.providers.cms.webhook_secrets.exists_one(s, !s.env_reference)",
		"stack.resources.map(r, stack.resources[r]).size() == size(stack.resources)",
		"[stack.providers.cms] == [stack.providers.ssg]",
		"stack.providers.cms in [stack.providers.ssg]",
		"type(stack.providers.cms) == type(stack.providers.ssg)",
		"dyn(stack.providers.cms).name == 'sanity'",
		"dyn(stack)['environment'] == 'prod'",
		"stack.providers.cms.settings.exists(k, stack.providers.cms.settings[k].startsWith('a'))",
		"stack.content_types.all(c, c.lowerAscii() == c)",
		"stack.integrations.all(i, size(stack.integrations[i].topics) > 0 && stack.integrations[i].topics[0].contains('/'))",
		"stack.resources.all(r, stack.resources[r].probe.startsWith('h') || stack.resources[r].url.contains('x') || stack.resources[r].address.contains(':'))",
		"stack.resources.all(r, stack.resources[r].expect_status == 0 || stack.resources[r].expect_status == 200)",
		"stack.resources.exists(r, stack.resources[r].min_days_valid >= 14)",
		"policy.schedule.interval <= duration('5m') && policy.auto_heal.backoff_cap > duration('0s')",
		"policy.notifications.channels.all(c, c.type in ['slack', 'email'])",
		"policy.notifications.channels == policy.notifications.channels",
		"has(policy.auto_heal.require_approval)",
		"policy.confirmation.observations * 2 > 3",
		"observed.resources.all(r, observed.resources[r] == 'healthy')",
		"observed.open_drifts.size() == 0 && observed.status == 'healthy'",
		"has(observed.resources.site)",
		"stack.providers.all(a, stack.providers.all(b, a == b || stack.providers[a] != stack.providers[b]))",
		"stack.client_id + '/' + stack.stack_id == 'client-000/stack-00000'",
		"string(policy.schedule.interval) != ''",
	}
	var rules []config.ComplianceRule
	for i, x := range exprs {
		rules = append(rules, rule(fmt.Sprint("r", i), config.RuleAudit, x))
	}
	rules = append(rules, benchRules()...)
	e, err := Compile(&config.OrganizationSpec{Rules: rules}, nowhere)
	require.NoError(t, err)
	stacks := append(benchStacks(6, false), benchStacks(3, true)...)
	stacks[1].Stack.Providers["ssg"] = stacks[1].Stack.Providers["cms"] // equal views
	cms := stacks[2].Stack.Providers["cms"]
	cms.Settings = map[string]string{"api": "abc", "b": "x"}
	stacks[2].Stack.Providers["cms"] = cms
	stacks[2].Stack.ContentTypes = []string{"Post", "page"}
	stacks[3].Policy.Notifications.Channels = []ChannelView{{Type: "slack"}, {Type: "pager"}}
	stacks[4].Observed = nil // partial evaluation
	stacks[5].Observed.OpenDrifts = []string{"webhook_broken"}
	stacks[5].Observed.Status = "drift_detected"
	// Over the cost limit: 20,000 resources.
	huge := benchStacks(1, false)[0]
	huge.Stack.Resources = map[string]ResourceView{}
	for i := range 20_000 {
		huge.Stack.Resources[fmt.Sprint(i)] = ResourceView{Probe: "http", Address: "x"}
	}
	stacks = append(stacks, huge)
	for _, in := range append(stacks, Input{Stack: StackView{ClientID: "a", StackID: "b"}, Observed: &ObservedView{}}) {
		requireSameAsNative(t, e, in)
	}
	hugeOut := (&evaluation{in: huge, adapter: e.adapter}).eval(&e.rules[16])
	require.Contains(t, e.rules[16].rule.Expression, "startsWith('h')")
	require.Equal(t, Unknown, hugeOut.Status())
	require.Contains(t, hugeOut.message, "cost limit")
	// The same outcomes through Evaluate, which shares celViews between
	// the stack's rules.
	in := stacks[2]
	in.Policy.AutoHeal.RequireApproval = nil
	byName := map[string]*compiled{}
	for i := range e.rules {
		byName[e.rules[i].rule.Name] = &e.rules[i]
	}
	got := e.Evaluate(in, time.Now())
	require.NotEmpty(t, got)
	for _, r := range got {
		want := nativeOutcome(byName[r.Rule], in)
		require.Equal(t, want.Status(), r.Status, r.Rule)
		require.Equal(t, want.message, r.Message, r.Rule)
	}
}
