package sanity_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/provider/providertest"
	"github.com/blackwellio/blackwell/internal/provider/sanity"
	"github.com/blackwellio/blackwell/internal/sim"
)

const receiver = "http://blackwell.test/v1/webhooks/sanity/acme"

type fixture struct {
	cms     *sim.Sanity
	driver  *sanity.Driver
	binding provider.Binding
}

func setupDriver(t *testing.T, api provider.APIClientOptions) fixture {
	t.Helper()
	cms, err := sim.NewSanity(sim.SanityOptions{})
	require.NoError(t, err)
	t.Cleanup(cms.Close)
	if api.Timeout == 0 {
		api.Timeout = 2 * time.Second
	}
	return fixture{
		cms:    cms,
		driver: sanity.New(sanity.Options{API: api}),
		binding: provider.Binding{
			ClientID: "acme", StackID: "web", Role: config.RoleCMS, Name: "sanity",
			Settings:       map[string]string{"api_base": cms.URL(), "project_id": cms.ProjectID(), "dataset": "production"},
			Credentials:    map[string]config.Secret{"token": config.NewSecret(cms.Token())},
			WebhookSecrets: config.SecretList{config.NewSecret("sanity-signing-secret")},
		},
	}
}

func content() provider.Integration {
	return provider.Integration{Name: "cms-content", Integration: config.Integration{
		Provider: config.RoleCMS, Filter: `_type in ["page", "post"]`}}
}

func TestDriverConformance(t *testing.T) {
	t.Parallel()
	providertest.Exercise(t, func(t *testing.T, api provider.APIClientOptions) providertest.Setup {
		f := setupDriver(t, api)
		return providertest.Setup{
			Driver: f.driver, Binding: f.binding, Faults: &f.cms.APIFaults, Revoke: f.cms.RevokeToken,
			Integration: content(), Address: receiver,
		}
	})
}

func TestRegisterSetsRuleDatasetAndSecret(t *testing.T) {
	t.Parallel()
	f := setupDriver(t, provider.APIClientOptions{})
	sub, err := f.driver.Register(context.Background(), f.binding, content(), receiver)
	require.NoError(t, err)
	require.Equal(t, []string{"create", "delete", "update"}, sub.Topics)
	require.Equal(t, `_type in ["page", "post"]`, sub.Filter)
	hooks := f.cms.Hooks()
	require.Len(t, hooks, 1)
	require.Equal(t, "production", hooks[0].Dataset)
	require.Equal(t, "sanity-signing-secret", hooks[0].Secret)
	require.Equal(t, "POST", hooks[0].HTTPMethod)

	_, err = f.driver.Register(context.Background(), f.binding, provider.Integration{Name: "x",
		Integration: config.Integration{Topics: []string{"publish"}}}, receiver)
	require.ErrorIs(t, err, provider.ErrConfig)
}

func TestObserveReportsDisabledAndChangedHooks(t *testing.T) {
	t.Parallel()
	f := setupDriver(t, provider.APIClientOptions{})
	id := f.cms.AddHook(sim.SanityHook{Name: "ours", URL: receiver, Rule: sim.SanityRule{Filter: `_type == "post"`}})
	f.cms.DisableHook(id)
	obs := f.driver.Observe(context.Background(), f.binding)
	require.Equal(t, []drift.Subscription{{ID: id, Address: receiver, Topics: []string{"create", "delete", "update"},
		Filter: `_type == "post"`, Enabled: false}}, obs.Subscriptions)

	// Update enables it again with the declared rule.
	require.NoError(t, f.driver.Update(context.Background(), f.binding, obs.Subscriptions[0], content(), receiver))
	h := f.cms.Hooks()[0]
	require.False(t, h.IsDisabledByUser)
	require.Equal(t, `_type in ["page", "post"]`, h.Rule.Filter)
}
