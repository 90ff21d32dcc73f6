package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/sim"
)

// TestReconcileOnceEgressAllow: reconcile --once takes serve's
// --egress-allow. With "public", a probe of a failing loopback site is
// refused at dial time: unknown, not drift, and the site is never reached.
// Without it, the same two runs confirm the drift.
func TestReconcileOnceEgressAllow(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		allow      []string
		driftCount string
	}{
		{[]string{"--egress-allow", "public"}, `"drift_count": 0`},
		{nil, `"drift_count": 1`},
	} {
		site, err := sim.NewSite(sim.SiteOptions{Mode: sim.ModeFailing})
		require.NoError(t, err)
		t.Cleanup(site.Close)
		dir := t.TempDir()
		cfg := filepath.Join(dir, "blackwell.yaml")
		require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: web, environment: prod}
spec:
  resources:
    site: {probe: http, url: "%s/", expect_status: 200, timeout: 2s}
---
apiVersion: blackwell.io/v1
kind: ReconciliationPolicy
metadata: {client_id: acme}
spec:
  confirmation: {observations: 1}
`, site.URL())), 0o600))
		storeURL := "sqlite://" + filepath.Join(dir, "b.db")
		_, stderr, code := runCLI(t, "migrate", "--create", "--store", storeURL)
		require.Zero(t, code, stderr)
		args := append([]string{"reconcile", "--once", "-o", "json", "--config", cfg, "--store", storeURL}, c.allow...)
		var stdout string
		for range 2 { // a stack's first pass confirms nothing
			stdout, stderr, code = runCLI(t, args...)
			require.Zero(t, code, "%s\n%s", stdout, stderr)
		}
		require.Contains(t, stdout, c.driftCount, "%v", c.allow)
		if c.allow != nil {
			require.Zero(t, site.Requests(), "the site was never reached")
		} else {
			require.NotZero(t, site.Requests())
		}
	}
	_, stderr, code := runCLI(t, "reconcile", "--once", "--egress-allow", "https://example.com", "--store", "sqlite://"+filepath.Join(t.TempDir(), "x.db"))
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "--egress-allow: egress allowlist entry")
}
