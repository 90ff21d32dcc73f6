package build_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/build"
	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/sim"
)

// deployHost starts a fake host of flavor and the build.deploy that
// names it.
func deployHost(t *testing.T, flavor sim.BuildHookFlavor) (*sim.DeployHost, config.DeployAPI) {
	t.Helper()
	h, err := sim.NewDeployHost(sim.DeployHostOptions{Flavor: flavor})
	require.NoError(t, err)
	t.Cleanup(h.Close)
	d := config.DeployAPI{Host: string(flavor), Site: h.Site(), APIBase: h.URL(), Token: config.NewSecret(h.Token())}
	if flavor == sim.FlavorCloudflare {
		d.Account = h.Account()
	}
	return h, d
}

func TestDeployClientRestoresAnEarlierDeploymentOnEveryHost(t *testing.T) {
	t.Parallel()
	for _, flavor := range []sim.BuildHookFlavor{sim.FlavorNetlify, sim.FlavorVercel, sim.FlavorCloudflare} {
		t.Run(string(flavor), func(t *testing.T) {
			t.Parallel()
			h, d := deployHost(t, flavor)
			c := build.NewDeployClient(nil, 5*time.Second)
			ctx := context.Background()

			live, err := c.Live(ctx, d)
			require.NoError(t, err)
			require.Empty(t, live.ID, "no deployment yet")

			good := h.Publish("c0ffee1", true)
			failed := h.Publish("badbad2", false)
			bad := h.Publish("badbad3", true)
			live, err = c.Live(ctx, d)
			require.NoError(t, err)
			require.Equal(t, build.Deployment{ID: bad.ID, Commit: "badbad3"}, live)

			require.NoError(t, c.Restore(ctx, d, good.ID))
			require.Equal(t, good.ID, h.Live().ID)
			live, err = c.Live(ctx, d)
			require.NoError(t, err)
			require.Equal(t, good.ID, live.ID)
			require.Equal(t, 1, h.Restores())

			// A deployment that did not build cannot go live; an unknown
			// one is not found; the live one stays.
			err = c.Restore(ctx, d, failed.ID)
			require.Error(t, err)
			require.ErrorIs(t, c.Restore(ctx, d, "nope"), provider.ErrNotFound)
			require.Equal(t, good.ID, h.Live().ID)
		})
	}
}

func TestDeployClientNamesTheHostsFaults(t *testing.T) {
	t.Parallel()
	for _, flavor := range []sim.BuildHookFlavor{sim.FlavorNetlify, sim.FlavorVercel, sim.FlavorCloudflare} {
		t.Run(string(flavor), func(t *testing.T) {
			t.Parallel()
			h, d := deployHost(t, flavor)
			c := build.NewDeployClient(nil, 5*time.Second)
			ctx := context.Background()
			h.Publish("c0ffee1", true)

			h.FailServer(1)
			_, err := c.Live(ctx, d)
			require.ErrorIs(t, err, provider.ErrUnreachable)
			h.RateLimit(time.Second, 1)
			_, err = c.Live(ctx, d)
			require.ErrorIs(t, err, provider.ErrRateLimited)
			h.AnswerHTML(http.StatusOK, 1)
			_, err = c.Live(ctx, d)
			require.ErrorIs(t, err, provider.ErrUnreachable)

			wrong := d
			wrong.Token = config.NewSecret("not-the-token")
			_, err = c.Live(ctx, wrong)
			require.ErrorIs(t, err, provider.ErrUnauthorized)
			require.NotContains(t, err.Error(), "not-the-token")

			live, err := c.Live(ctx, d)
			require.NoError(t, err, "faults were one-shot")
			require.NotEmpty(t, live.ID)
		})
	}
}

func TestVercelRollbackHoldsProductionUntilAPromote(t *testing.T) {
	t.Parallel()
	h, d := deployHost(t, sim.FlavorVercel)
	c := build.NewDeployClient(nil, 5*time.Second)
	good := h.Publish("c0ffee1", true)
	h.Publish("badbad2", true)
	require.NoError(t, c.Restore(context.Background(), d, good.ID))
	newer := h.Publish("f00d003", true)
	require.Equal(t, good.ID, h.Live().ID, "a new production deployment is not assigned after an instant rollback")
	require.NotEqual(t, newer.ID, h.Live().ID)
}
