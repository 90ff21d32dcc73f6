package build_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/build"
	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/egress"
	"github.com/blackwellio/blackwell/internal/sim"
)

// TestHookUnderAnEgressPolicy: a hook the operator's allowlist refuses is
// never posted to, and the error says why without the hook's secret path;
// a given client still follows no redirect.
func TestHookUnderAnEgressPolicy(t *testing.T) {
	t.Parallel()
	hook, err := sim.NewBuildHook(sim.BuildHookOptions{Flavor: sim.FlavorNetlify})
	require.NoError(t, err)
	t.Cleanup(hook.Close)
	b := binding(config.Build{Driver: "hook", URL: config.NewSecret(hook.URL())})

	refusing, err := egress.Parse("public")
	require.NoError(t, err)
	_, err = build.NewHookRunner(build.HookOptions{HTTPClient: refusing.HTTPClient()}).Run(context.Background(), b)
	require.ErrorIs(t, err, egress.ErrRefused)
	require.Contains(t, err.Error(), "refused by the egress allowlist")
	require.NotContains(t, err.Error(), "build_hooks/")
	require.Empty(t, hook.Builds())

	allowing, err := egress.Parse("127.0.0.1")
	require.NoError(t, err)
	runner := build.NewHookRunner(build.HookOptions{HTTPClient: allowing.HTTPClient()})
	res, err := runner.Run(context.Background(), b)
	require.NoError(t, err)
	require.Equal(t, build.StatusSucceeded, res.Status)
	require.Len(t, hook.Builds(), 1)

	moved := httptest.NewServer(http.RedirectHandler(hook.URL(), http.StatusTemporaryRedirect))
	t.Cleanup(moved.Close)
	_, err = runner.Run(context.Background(), binding(config.Build{Driver: "hook", URL: config.NewSecret(moved.URL + "/build_hooks/x")}))
	require.Error(t, err)
	require.Len(t, hook.Builds(), 1, "the redirect was not followed")
}
