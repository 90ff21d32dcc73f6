package api

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/compliance"
	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/store"
)

const orgPolicy = `apiVersion: blackwell.io/v1
kind: OrganizationPolicy
metadata: {name: agency}
spec:
  defaults:
    content: {max_staleness: 1h}
    auto_heal: {require_approval: [cms_provider_change, resource_replacement]}
  locked: [auto_heal.require_approval]
  rules:
    - name: prod-approval
      mode: enforce
      match: {environments: [prod]}
      expression: "'resource_replacement' in policy.auto_heal.require_approval"
      message: prod needs approval for resource_replacement
`

func TestEffectivePolicy(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.seed(t)
	w := f.do(t, "POST", "/v1/config", orgPolicy, "Content-Type", "application/yaml", filenameHeader, "org.yaml")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())

	got := decodeAs[effectivePolicyAnswer](t, f.do(t, "GET", "/v1/stacks/acme-corp/status-page/policy/effective", ""), http.StatusOK)
	require.Equal(t, "agency", got.Organization)
	sources := map[string]config.FieldSource{}
	for _, fs := range got.Fields {
		sources[fs.Path] = fs
	}
	require.Equal(t, config.LevelOrganization, sources["content.max_staleness"].Source)
	require.Equal(t, `"1h0m0s"`, string(sources["content.max_staleness"].Value))
	require.True(t, sources["auto_heal.require_approval"].Locked)
	require.Equal(t, config.LevelDefault, sources["confirmation.max_unknown"].Source)
	requireError(t, f.do(t, "GET", "/v1/stacks/acme-corp/nope/policy/effective", ""), http.StatusNotFound, codeNotFound)

	// A policy change that sets the locked field otherwise is refused,
	// and so is one an enforced rule refuses (auto-heal may then replace
	// resources on prod without approval: the lock and the rule agree).
	w = f.do(t, "PUT", "/v1/clients/acme-corp/policy", `{"auto_heal": {"require_approval": []}}`)
	requireError(t, w, http.StatusUnprocessableEntity, codeInvalid)
	require.Contains(t, w.Body.String(), "auto_heal.require_approval locked by the OrganizationPolicy")
}

func TestGetCompliance(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.seed(t)
	ctx := context.Background()
	t0 := f.now.Add(-time.Hour)
	record := func(client, stack string, at time.Time, status compliance.Status) {
		_, err := f.store.RecordCompliance(ctx, store.ComplianceWrite{ClientID: client, StackID: stack, At: at, Complete: true,
			Results: []store.ComplianceResult{{Rule: "tls", Mode: "audit", Status: string(status), Message: "m"}}})
		require.NoError(t, err)
	}
	record("acme-corp", "cms-ecom-prod", t0, compliance.Compliant)
	record("acme-corp", "cms-ecom-prod", t0.Add(45*time.Minute), compliance.Noncompliant)
	record("acme-corp", "status-page", t0, compliance.Unknown)
	record("globex", "site", t0, compliance.Noncompliant)

	rep := decodeAs[compliance.Report](t, f.do(t, "GET", "/v1/compliance?client_id=acme-corp&from="+t0.Format(time.RFC3339), ""), http.StatusOK)
	require.NotNil(t, rep.Score)
	require.InDelta(t, 0.75, *rep.Score, 1e-9, "45 compliant minutes of 60 evaluated; the unknown hour counts in neither")
	require.InDelta(t, 3600, rep.Seconds.Unknown, 1e-6)
	require.Len(t, rep.Items, 2)
	require.Equal(t, "noncompliant", rep.Items[0].Status)

	pr := decodeAs[compliance.PolicyReport](t, f.do(t, "GET", "/v1/compliance?client_id=acme-corp&format=policyreport", ""), http.StatusOK)
	require.Equal(t, "wgpolicyk8s.io/v1alpha2", pr.APIVersion)
	require.Equal(t, compliance.PolicyReportSummary{Fail: 1, Error: 1}, pr.Summary)
	require.Equal(t, "acme-corp", pr.Results[0].Resources[0].Namespace)

	all := decodeAs[compliance.Report](t, f.do(t, "GET", "/v1/compliance", ""), http.StatusOK)
	require.Len(t, all.Items, 3)
	requireError(t, f.do(t, "GET", "/v1/compliance?format=xml", ""), http.StatusBadRequest, codeBadRequest)
	requireError(t, f.do(t, "GET", "/v1/compliance?from=yesterday", ""), http.StatusBadRequest, codeBadRequest)
}
