package config

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const orgHead = "apiVersion: blackwell.io/v1\nkind: OrganizationPolicy\nmetadata: {name: agency}\nspec:\n"

func TestParseOrganizationErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, doc string
		want      []string
	}{
		{"unknown locked field", orgHead + "  locked: [auto_heal.enabeld]\n",
			[]string{`org.yaml:5:12: spec.locked[0]: unknown policy field "auto_heal.enabeld" (want a path such as auto_heal.require_approval)`}},
		{"rule without mode and expression", orgHead + "  rules:\n    - name: r\n",
			[]string{`org.yaml:6:7: spec.rules[0].mode: is required (one of enforce or audit)`,
				`org.yaml:6:7: spec.rules[0].expression: is required (a CEL expression, true when the stack complies)`}},
		{"duplicate rule", orgHead + "  rules:\n    - {name: r, mode: audit, expression: 'true'}\n    - {name: r, mode: audit, expression: 'true'}\n",
			[]string{`org.yaml:7:14: spec.rules[1].name: a rule named "r" is already declared`}},
		{"exception of an unknown rule", orgHead + "  exceptions:\n    - {rule: nope, client_id: acme, owner: o, reason: r, expires: '2030-01-01T00:00:00Z'}\n",
			[]string{`org.yaml:6:14: spec.exceptions[0].rule: no rule named "nope" is declared in spec.rules`}},
		{"exception without owner and a bad expiry", orgHead + "  rules: [{name: r, mode: audit, expression: 'true'}]\n  exceptions:\n    - {rule: r, client_id: acme, reason: r, expires: tomorrow}\n",
			[]string{`org.yaml:7:8: spec.exceptions[0].owner: is required`,
				`org.yaml:7:54: spec.exceptions[0].expires: "tomorrow" is not an RFC 3339 time such as 2027-01-31T00:00:00Z`}},
		{"unknown match environment", orgHead + "  rules: [{name: r, mode: audit, expression: 'true', match: {environments: [qa]}}]\n",
			[]string{`org.yaml:5:77: spec.rules[0].match.environments[0]: unknown value "qa" (want dev, staging or prod)`}},
		{"two organization policies", orgHead + "  locked: []\n---\n" + orgHead,
			[]string{`org.yaml:8:7: kind: an OrganizationPolicy is already declared at org.yaml:2:7`}},
		{"locked field overridden", orgHead + "  locked: [auto_heal.max_attempts]\n  defaults: {auto_heal: {max_attempts: 2}}\n---\n" +
			"apiVersion: blackwell.io/v1\nkind: ReconciliationPolicy\nmetadata: {client_id: acme}\nspec:\n  auto_heal: {max_attempts: 5}\n",
			[]string{`org.yaml:12:29: spec.auto_heal.max_attempts: auto_heal.max_attempts is locked by the OrganizationPolicy: a client or stack policy may not set it otherwise`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("org.yaml", []byte(tc.doc), testEnv)
			require.Equal(t, tc.want, errorStrings(t, err))
		})
	}
}

func TestParseLockAgainstStoredOrganization(t *testing.T) {
	t.Parallel()
	stored := &OrganizationSpec{Locked: []string{"auto_heal.enabled"}, Defaults: PolicySpec{AutoHeal: AutoHeal{Enabled: true}}}
	doc := "apiVersion: blackwell.io/v1\nkind: ReconciliationPolicy\nmetadata: {client_id: acme}\nspec:\n  schedule: {interval: 1m}\n"
	_, err := ParseWith("p.yaml", []byte(doc), testEnv, Rules{Organization: stored})
	require.Equal(t, []string{`p.yaml:4:1: spec.auto_heal.enabled: auto_heal.enabled is locked by the OrganizationPolicy: a client or stack policy may not set it otherwise`},
		errorStrings(t, err), "a policy takes booleans as written: one that leaves auto_heal.enabled out sets it false")
	_, err = ParseWith("p.yaml", []byte(doc+"  auto_heal: {enabled: true}\n"), testEnv, Rules{Organization: stored})
	require.NoError(t, err, "setting a locked field to the organisation's value is allowed")
}

func TestExplainPolicy(t *testing.T) {
	t.Parallel()
	org := &OrganizationSpec{
		Defaults: PolicySpec{Content: ContentPolicy{MaxStaleness: Duration(time.Hour)}, AutoHeal: AutoHeal{MaxAttempts: 7, RequireApproval: []string{"data_deletion"}},
			Confirmation: Confirmation{Observations: 4}},
		Locked: []string{"auto_heal.require_approval"},
	}
	client := &PolicySpec{AutoHeal: AutoHeal{Enabled: true, MaxAttempts: 2, RequireApproval: []string{}}}
	stack := &PolicySpec{Schedule: Schedule{Interval: Duration(time.Minute)}}
	type want struct {
		source, value string
		locked        bool
	}
	for _, tc := range []struct {
		name                string
		org                 *OrganizationSpec
		client, stack       *PolicySpec
		fields              map[string]want
		maxAttempts         int
		requireApprovalWant []string
	}{
		{"defaults only", nil, nil, nil, map[string]want{
			"auto_heal.max_attempts": {LevelDefault, "3", false}, "auto_heal.enabled": {LevelDefault, "false", false}}, 3,
			[]string{"cms_provider_change", "data_deletion", "resource_replacement"}},
		{"organization only", org, nil, nil, map[string]want{
			"auto_heal.max_attempts": {LevelOrganization, "7", false}, "content.max_staleness": {LevelOrganization, `"1h0m0s"`, false},
			"confirmation.observations": {LevelOrganization, "4", false}, "confirmation.grace_period": {LevelOrganization, `"0s"`, false},
			"schedule.interval": {LevelDefault, `"5m0s"`, false}}, 7, []string{"data_deletion"}},
		{"client over organization, lock wins", org, client, nil, map[string]want{
			"auto_heal.max_attempts": {LevelClient, "2", false}, "auto_heal.enabled": {LevelClient, "true", false},
			"content.max_staleness": {LevelOrganization, `"1h0m0s"`, false}, "confirmation.observations": {LevelOrganization, "4", false},
			"auto_heal.require_approval": {LevelOrganization, `["data_deletion"]`, true}}, 2, []string{"data_deletion"}},
		{"stack replaces client", org, client, stack, map[string]want{
			"schedule.interval": {LevelStack, `"1m0s"`, false}, "auto_heal.max_attempts": {LevelOrganization, "7", false},
			"auto_heal.enabled": {LevelStack, "false", false}}, 7, []string{"data_deletion"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			spec, fields := ExplainPolicy(tc.org, tc.client, tc.stack)
			require.Len(t, fields, len(PolicyFieldPaths()))
			got := map[string]want{}
			for _, f := range fields {
				got[f.Path] = want{f.Source, string(f.Value), f.Locked}
			}
			for path, w := range tc.fields {
				require.Equal(t, w, got[path], path)
			}
			require.Equal(t, tc.maxAttempts, spec.AutoHeal.MaxAttempts)
			require.Equal(t, tc.requireApprovalWant, spec.AutoHeal.RequireApproval)
			if tc.org == nil {
				require.Equal(t, EffectivePolicy(tc.stack, tc.client), spec, "without an organisation, as before")
			}
		})
	}
}

func TestLockViolations(t *testing.T) {
	t.Parallel()
	org := &OrganizationSpec{Locked: []string{"auto_heal.require_approval", "confirmation.grace_period"}}
	for _, tc := range []struct {
		name string
		p    PolicySpec
		want []string
	}{
		{"unset", PolicySpec{}, nil},
		{"same as the organisation's effective value", PolicySpec{AutoHeal: AutoHeal{RequireApproval: DefaultPolicy().AutoHeal.RequireApproval}}, nil},
		{"empty list is a value", PolicySpec{AutoHeal: AutoHeal{RequireApproval: []string{}}}, []string{"auto_heal.require_approval"}},
		{"pair set together", PolicySpec{Confirmation: Confirmation{Observations: 1}}, []string{"confirmation.grace_period"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, LockViolations(org, &tc.p))
		})
	}
	b, err := json.Marshal(PolicyFieldPaths())
	require.NoError(t, err)
	require.Contains(t, string(b), `"auto_heal.flapping.threshold"`)
}

// TestLayeredPolicyIsExplainPolicy: what passes read is what explain shows.
func TestLayeredPolicyIsExplainPolicy(t *testing.T) {
	t.Parallel()
	org := &OrganizationSpec{Defaults: PolicySpec{AutoHeal: AutoHeal{MaxAttempts: 9}}, Locked: []string{"auto_heal.max_attempts"}}
	client := &PolicySpec{Schedule: Schedule{Interval: Duration(time.Minute)}}
	for _, o := range []*OrganizationSpec{nil, org} {
		for _, c := range []*PolicySpec{nil, client} {
			want, _ := ExplainPolicy(o, c, nil)
			require.Equal(t, want, LayeredPolicy(o, c, nil))
		}
	}
}
