package contentful_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/provider/contentful"
)

func TestAliasTargetAndRetarget(t *testing.T) {
	t.Parallel()
	f := setupDriver(t, provider.APIClientOptions{})
	ctx := context.Background()
	b := f.binding
	_, _, err := f.driver.AliasTarget(ctx, b)
	require.ErrorIs(t, err, provider.ErrConfig, "no settings.environment_alias")

	b.Settings = map[string]string{"api_base": f.cms.URL(), "space_id": f.cms.SpaceID(), contentful.AliasSetting: "master"}
	f.cms.SetAlias("master", "release-1")
	f.cms.AddEnvironment("release-2")
	alias, env, err := f.driver.AliasTarget(ctx, b)
	require.NoError(t, err)
	require.Equal(t, "master", alias)
	require.Equal(t, "release-1", env)

	require.NoError(t, f.driver.SetAliasTarget(ctx, b, "release-2"))
	got, _ := f.cms.Alias("master")
	require.Equal(t, "release-2", got.Environment)
	require.Equal(t, 2, got.Version)
	require.NoError(t, f.driver.SetAliasTarget(ctx, b, "release-2"), "already there: nothing written")
	got, _ = f.cms.Alias("master")
	require.Equal(t, 2, got.Version)

	require.Error(t, f.driver.SetAliasTarget(ctx, b, "no-such-env"), "an alias targets an existing environment")
	f.cms.FailServer(1)
	require.ErrorIs(t, f.driver.SetAliasTarget(ctx, b, "release-1"), provider.ErrUnreachable)
	require.NoError(t, f.driver.SetAliasTarget(ctx, b, "release-1"))
	got, _ = f.cms.Alias("master")
	require.Equal(t, "release-1", got.Environment)
}
