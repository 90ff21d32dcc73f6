package state_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

const tlsRule = `apiVersion: blackwell.io/v1
kind: OrganizationPolicy
metadata: {name: agency}
spec:
  rules:
    - name: prod-tls
      mode: enforce
      match: {environments: [prod]}
      expression: stack.resources.exists(r, stack.resources[r].probe == 'tls')
      message: no tls probe
`

// TestOrganizationGuards: an OrganizationPolicy whose enforced rule a
// stored stack breaks is refused at the document, nothing applied; an
// exception lets it through until it expires; an expired one is refused.
func TestOrganizationGuards(t *testing.T) {
	t.Parallel()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "b.db"))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	svc := state.New(db, state.Options{Now: func() time.Time { return now }, PolicyCacheTTL: -1})
	ctx := context.Background()
	_, err = svc.Apply(ctx, cfgWith("https://a.example/", nil), "test")
	require.NoError(t, err)

	parse := func(doc string) *config.Config {
		cfg, err := config.Parse("org.yaml", []byte(doc), nil)
		require.NoError(t, err)
		return cfg
	}
	_, err = svc.ApplyConfig(ctx, parse(tlsRule), "test")
	var errs *config.Errors
	require.True(t, errors.As(err, &errs), "%v", err)
	require.Equal(t, `org.yaml:2:7: the stored stack acme/web breaks the enforced rule "prod-tls": no tls probe`, (*errs)[0].Error())
	_, err = db.GetOrganizationPolicy(ctx)
	require.ErrorIs(t, err, store.ErrNotFound, "nothing applied")

	excepted := tlsRule + "  exceptions:\n    - {rule: prod-tls, client_id: acme, owner: ops, reason: migrating, expires: \"2026-12-08T00:00:00Z\"}\n"
	_, err = svc.ApplyConfig(ctx, parse(excepted), "test")
	require.NoError(t, err)
	ex, err := svc.ExplainPolicy(ctx, "acme", "web")
	require.NoError(t, err)
	require.Equal(t, "agency", ex.Organization)

	// A day later the exception has expired: applying it again is refused
	// at its expiry, and a policy change is judged without it.
	now = now.Add(24 * time.Hour)
	_, err = svc.ApplyConfig(ctx, parse(excepted), "test")
	require.ErrorContains(t, err, `org.yaml:12:81: spec.exceptions[0].expires: the exception of rule "prod-tls" for acme expired at 2026-12-08T00:00:00Z`)
	err = svc.PutPolicy(ctx, "acme", "", config.PolicySpec{}, "test")
	require.ErrorIs(t, err, state.ErrInvalid)
	require.ErrorContains(t, err, `the stored stack acme/web breaks the enforced rule "prod-tls"`)
}
