package compliance

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
)

func rule(name, mode, expr string) config.ComplianceRule {
	return config.ComplianceRule{Name: name, Mode: mode, Expression: expr, Message: name + " fails"}
}

func nowhere(string) config.Place { return config.Place{File: "org.yaml", Line: 7, Column: 17} }

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, expr, want string
	}{
		{"syntax", "stack.environment ==", "line 1, column 21 of the expression: Syntax error"},
		{"unknown field", "stack.enviroment == 'prod'", "undefined field 'enviroment'"},
		{"unknown variable", "desired.environment == 'prod'", "undeclared reference to 'desired'"},
		{"not a bool", "stack.environment", "the expression is string; a rule must be a bool"},
		{"over budget", "stack.resources.all(a, stack.resources.all(b, stack.resources.all(c, a != b || b != c)))", "over the budget of 100000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			org := &config.OrganizationSpec{Rules: []config.ComplianceRule{rule("r", config.RuleAudit, tc.expr)}}
			_, err := Compile(org, nowhere)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
			require.True(t, strings.HasPrefix(err.Error(), `org.yaml:7:17: spec.rules[0].expression: rule "r": `), err.Error())
		})
	}
}

func TestEvaluate(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	prod := StackView{ClientID: "acme", StackID: "shop", Environment: "prod",
		Resources: map[string]ResourceView{"site": {Probe: "http"}},
		Providers: map[string]ProviderView{"ecommerce": {Name: "shopify", WebhookSecrets: []SecretView{{EnvReference: false}}}}}
	pol := PolicyOf(config.DefaultPolicy())
	healthy := &ObservedView{Status: "healthy", Resources: map[string]string{"site": "healthy"}}
	for _, tc := range []struct {
		name     string
		rule     config.ComplianceRule
		exc      []config.RuleException
		stack    StackView
		observed *ObservedView
		want     Status // "" means not evaluated (no match)
	}{
		{"compliant", rule("approval", config.RuleEnforce, "'resource_replacement' in policy.auto_heal.require_approval"), nil, prod, nil, Compliant},
		{"noncompliant", rule("tls", config.RuleAudit, "stack.resources.exists(r, stack.resources[r].probe == 'tls')"), nil, prod, nil, Noncompliant},
		{"secret literal", rule("refs", config.RuleAudit, "stack.providers.all(p, stack.providers[p].webhook_secrets.all(s, s.env_reference))"), nil, prod, nil, Noncompliant},
		{"observed unknown", rule("up", config.RuleAudit, "observed.status == 'healthy'"), nil, prod, nil, Unknown},
		{"observed known", rule("up", config.RuleAudit, "observed.status == 'healthy'"), nil, prod, healthy, Compliant},
		{"observed not needed", rule("up", config.RuleAudit, "stack.environment != 'prod' || observed.status == 'healthy'"), nil,
			StackView{ClientID: "acme", StackID: "dev", Environment: "dev"}, nil, Compliant},
		{"missing key", rule("key", config.RuleAudit, "observed.resources['cdn'] == 'healthy'"), nil, prod, healthy, Unknown},
		{"no match", config.ComplianceRule{Name: "m", Mode: config.RuleAudit, Expression: "false", Match: config.RuleMatch{Environments: []string{"dev"}}}, nil, prod, nil, ""},
		{"excepted", rule("tls", config.RuleAudit, "false"),
			[]config.RuleException{{Rule: "tls", ClientID: "acme", Owner: "ops", Reason: "migrating", Expires: "2026-12-08T00:00:00Z"}}, prod, nil, Excepted},
		{"exception expired", rule("tls", config.RuleAudit, "false"),
			[]config.RuleException{{Rule: "tls", ClientID: "acme", Owner: "ops", Reason: "migrating", Expires: "2026-12-07T12:00:00Z"}}, prod, nil, Noncompliant},
		{"exception of another stack", rule("tls", config.RuleAudit, "false"),
			[]config.RuleException{{Rule: "tls", ClientID: "acme", StackID: "blog", Owner: "ops", Reason: "x", Expires: "2027-01-01T00:00:00Z"}}, prod, nil, Noncompliant},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			org := &config.OrganizationSpec{Rules: []config.ComplianceRule{tc.rule}, Exceptions: tc.exc}
			e, err := Compile(org, nowhere)
			require.NoError(t, err)
			got := e.Evaluate(Input{Stack: tc.stack, Policy: pol, Observed: tc.observed}, now)
			if tc.want == "" {
				require.Empty(t, got)
				return
			}
			require.Len(t, got, 1)
			require.Equal(t, tc.want, got[0].Status, got[0].Message)
			require.Equal(t, tc.rule.Name, got[0].Rule)
		})
	}
}

func TestSecretView(t *testing.T) {
	t.Parallel()
	for ref, want := range map[string]bool{"${A}": true, "${A}${B}": true, "x${A}": false, "${A}x": false, "literal": false, "": false, "${A": false} {
		require.Equal(t, want, secretOf(config.Secret{Ref: ref}).EnvReference, ref)
	}
}

// TestEvaluateCostLimit: a rule with a loop runs under CostBudget, so a
// stack far larger than the estimate assumed stops it (unknown), not the
// pass.
func TestEvaluateCostLimit(t *testing.T) {
	t.Parallel()
	org := &config.OrganizationSpec{Rules: []config.ComplianceRule{
		rule("types", config.RuleAudit, "stack.content_types.all(c, c.startsWith('post') || c.endsWith('page') || c.contains('x'))")}}
	e, err := Compile(org, nowhere)
	require.NoError(t, err)
	small := StackView{ClientID: "acme", StackID: "blog", ContentTypes: []string{"post"}}
	require.Equal(t, Compliant, e.Evaluate(Input{Stack: small}, time.Now())[0].Status)
	huge := small
	for range 100_000 {
		huge.ContentTypes = append(huge.ContentTypes, "post")
	}
	got := e.Evaluate(Input{Stack: huge}, time.Now())[0]
	require.Equal(t, Unknown, got.Status)
	require.Contains(t, got.Message, "cost limit")
}

// TestEvaluateMemo: with a Memo, the rules that do not read observed are
// judged again only when the input's key changes.
func TestEvaluateMemo(t *testing.T) {
	t.Parallel()
	e := prodUpEngine(t)
	statuses := func(rs []Result) []Status { return []Status{rs[0].Status, rs[1].Status} }
	var memo Memo
	in := Input{Stack: StackView{Environment: "prod"}, Observed: &ObservedView{Status: "healthy"}, Key: "k1"}
	require.Equal(t, []Status{Compliant, Compliant}, statuses(e.EvaluateMemo(in, time.Now(), &memo)))
	// Same key: the static outcome is reused (the stack shown is not read);
	// the observed one is judged again.
	in.Stack.Environment, in.Observed = "dev", &ObservedView{Status: "drift_detected"}
	require.Equal(t, []Status{Compliant, Noncompliant}, statuses(e.EvaluateMemo(in, time.Now(), &memo)))
	in.Key = "k2"
	require.Equal(t, []Status{Noncompliant, Noncompliant}, statuses(e.EvaluateMemo(in, time.Now(), &memo)))
}

// TestEvaluateMemoObserved: the rules that read observed are reused only
// while the observation's key is the same.
func TestEvaluateMemoObserved(t *testing.T) {
	t.Parallel()
	org := &config.OrganizationSpec{Rules: []config.ComplianceRule{rule("up", config.RuleAudit, "observed.status == 'healthy'")}}
	e, err := Compile(org, nowhere)
	require.NoError(t, err)
	var memo Memo
	healthy := ObservedView{Status: "healthy", Resources: map[string]string{"a": "healthy", "b": "healthy"}}
	in := Input{Observed: &healthy, Key: "k", ObservedKey: healthy.Key()}
	require.Equal(t, Compliant, e.EvaluateMemo(in, time.Now(), &memo)[0].Status)
	drifted := ObservedView{Status: "drift_detected", OpenDrifts: []string{"webhook_broken"}}
	in.Observed = &drifted // same key, on purpose: the outcome is reused
	require.Equal(t, Compliant, e.EvaluateMemo(in, time.Now(), &memo)[0].Status)
	in.ObservedKey = drifted.Key()
	require.Equal(t, Noncompliant, e.EvaluateMemo(in, time.Now(), &memo)[0].Status)
	require.NotEqual(t, healthy.Key(), ObservedView{Status: "healthy", Resources: map[string]string{"a": "healthy", "b": "unknown"}}.Key())
}

// TestEvaluateAppend: the results are appended after dst's, which are
// left as they are, and a slice EvaluateMemo returned is not changed by
// the evaluations after it (with the same memo) nor by appending to
// another slice.
func TestEvaluateAppend(t *testing.T) {
	t.Parallel()
	e := prodUpEngine(t)
	var memo Memo
	in := Input{Stack: StackView{Environment: "prod"}, Observed: &ObservedView{Status: "healthy"}, Key: "k1", ObservedKey: "o1"}
	first := e.EvaluateMemo(in, time.Now(), &memo)
	kept := append([]Result(nil), first...)

	dst := make([]Result, 1, 8)
	dst[0] = Result{Rule: "before", Status: Excepted}
	in.Stack.Environment, in.Observed, in.Key, in.ObservedKey = "dev", &ObservedView{Status: "drift_detected"}, "k2", "o2"
	got := e.EvaluateAppend(dst, in, time.Now(), &memo)
	require.Equal(t, Result{Rule: "before", Status: Excepted}, got[0])
	require.Equal(t, []Status{Noncompliant, Noncompliant}, []Status{got[1].Status, got[2].Status})
	require.Equal(t, got[1:], e.EvaluateAppend(nil, in, time.Now(), &memo))
	// The same memo again, into the same slice's array.
	got = e.EvaluateAppend(got[:1], in, time.Now(), &memo)
	require.Len(t, got, 3)
	require.Equal(t, kept, first, "a result handed out was changed by a later evaluation")
}

// prodUpEngine compiles two audit rules: "prod" reads the stack only,
// "up" the observed state.
func prodUpEngine(t *testing.T) *Engine {
	t.Helper()
	org := &config.OrganizationSpec{Rules: []config.ComplianceRule{
		rule("prod", config.RuleAudit, "stack.environment == 'prod'"),
		rule("up", config.RuleAudit, "observed.status == 'healthy'")}}
	e, err := Compile(org, nowhere)
	require.NoError(t, err)
	return e
}
