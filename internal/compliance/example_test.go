package compliance

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
)

// TestStarterRules: the starter set in examples/compliance.yaml compiles
// and judges the contract example's stacks as its comments say. Secrets
// are left unresolved (nil getenv): rules see references, never values.
func TestStarterRules(t *testing.T) {
	t.Parallel()
	var doc []byte
	for _, name := range []string{"blackwell.yaml", "compliance.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "examples", name))
		require.NoError(t, err)
		doc = append(append(doc, "\n---\n"...), b...)
	}
	cfg, err := config.Parse("examples.yaml", doc, nil)
	require.NoError(t, err)
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	e, err := CheckConfig(cfg, now)
	require.NoError(t, err)
	require.Len(t, e.Rules(), 8)

	got := map[string]map[string]Status{}
	for _, st := range cfg.Stacks {
		in := Input{Stack: StackOf(st.Metadata, st.Spec), Policy: PolicyOf(cfg.PolicyFor(st.Metadata.ClientID, st.Metadata.StackID))}
		got[st.Metadata.Key()] = map[string]Status{}
		for _, r := range e.Evaluate(in, now) {
			got[st.Metadata.Key()][r.Rule] = r.Status
		}
	}
	prod := func(tls, notifies Status) map[string]Status {
		return map[string]Status{"webhook-secrets-from-env": Compliant, "prod-replacement-needs-approval": Compliant,
			"prod-cms-change-needs-approval": Compliant, "prod-tls-probe": tls, "prod-notifies-someone": notifies,
			"content-fresh-within-an-hour": Compliant, "prod-healthy": Unknown, "resources-answer": Unknown}
	}
	require.Equal(t, map[string]map[string]Status{
		"acme-corp/cms-ecom-prod": prod(Compliant, Compliant),
		"acme-corp/legacy":        prod(Noncompliant, Noncompliant),
		"acme-corp/status-page":   prod(Excepted, Noncompliant),
		"acme-corp/blog-staging": {"webhook-secrets-from-env": Compliant, "content-fresh-within-an-hour": Compliant,
			"resources-answer": Unknown},
	}, got)

	// After the exception expires, the stack is noncompliant again.
	later := time.Date(2027, 6, 30, 0, 0, 0, 0, time.UTC)
	st := cfg.Stacks[3]
	require.Equal(t, "acme-corp/status-page", st.Metadata.Key())
	for _, r := range e.Evaluate(Input{Stack: StackOf(st.Metadata, st.Spec), Policy: PolicyOf(cfg.PolicyFor("acme-corp", "status-page"))}, later) {
		if r.Rule == "prod-tls-probe" {
			require.Equal(t, Noncompliant, r.Status)
		}
	}
	_, err = CheckConfig(cfg, later)
	require.ErrorContains(t, err, `examples.yaml:`)
	require.ErrorContains(t, err, `the exception of rule "prod-tls-probe" for acme-corp expired at 2027-06-30T00:00:00Z`)
}
