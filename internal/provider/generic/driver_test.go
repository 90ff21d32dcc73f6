package generic_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/provider/generic"
	"github.com/blackwellio/blackwell/internal/provider/providertest"
	"github.com/blackwellio/blackwell/internal/sim"
)

const receiver = "http://blackwell.test/v1/webhooks/generic/acme"

type fixture struct {
	api     *sim.IntegrationAPI
	driver  *generic.Driver
	binding provider.Binding
}

func setupDriver(t *testing.T, api provider.APIClientOptions) fixture {
	t.Helper()
	fake, err := sim.NewIntegrationAPI(sim.IntegrationAPIOptions{PageSize: 20})
	require.NoError(t, err)
	t.Cleanup(fake.Close)
	if api.Timeout == 0 {
		api.Timeout = 2 * time.Second
	}
	return fixture{
		api:    fake,
		driver: generic.New(generic.Options{API: api}),
		binding: provider.Binding{
			ClientID: "acme", StackID: "legacy", Role: config.RoleCMS, Name: "generic",
			Settings:       map[string]string{"integration_api": fake.URL()},
			Credentials:    map[string]config.Secret{"token": config.NewSecret(fake.Token())},
			WebhookSecrets: config.SecretList{config.NewSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")},
		},
	}
}

func legacy() provider.Integration {
	return provider.Integration{Name: "legacy-content", Integration: config.Integration{
		Provider: config.RoleCMS, Topics: []string{"content.updated", "content.created"}}}
}

func TestDriverConformance(t *testing.T) {
	t.Parallel()
	providertest.Exercise(t, func(t *testing.T, api provider.APIClientOptions) providertest.Setup {
		f := setupDriver(t, api)
		return providertest.Setup{
			Driver: f.driver, Binding: f.binding, Faults: &f.api.APIFaults, Revoke: f.api.RevokeToken,
			Integration: legacy(), Address: receiver,
		}
	})
}

func TestObserveFollowsCursorsAndKeepsThisStacksIntegrations(t *testing.T) {
	t.Parallel()
	f := setupDriver(t, provider.APIClientOptions{})
	for i := range 45 {
		f.api.AddIntegration(sim.GenericIntegration{Name: fmt.Sprintf("i%02d", i), ClientID: "acme", StackID: "legacy", Address: receiver, Enabled: true})
	}
	f.api.AddIntegration(sim.GenericIntegration{Name: "shared", ClientID: "acme", Address: receiver, Enabled: true})
	f.api.AddIntegration(sim.GenericIntegration{Name: "other-stack", ClientID: "acme", StackID: "web", Address: receiver, Enabled: true})
	f.api.AddIntegration(sim.GenericIntegration{Name: "other-client", ClientID: "globex", Address: receiver, Enabled: true})
	obs := f.driver.Observe(context.Background(), f.binding)
	require.True(t, obs.SubscriptionsKnown, obs.Detail)
	require.Len(t, obs.Subscriptions, 46)
}

func TestRegisterSendsTheSecretAndRegisterProvider(t *testing.T) {
	t.Parallel()
	f := setupDriver(t, provider.APIClientOptions{})
	ctx := context.Background()
	_, err := f.driver.Register(ctx, f.binding, legacy(), receiver)
	require.NoError(t, err)
	got := f.api.Integrations()
	require.Len(t, got, 1)
	require.Equal(t, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", got[0].Secret)
	require.Equal(t, "legacy", got[0].StackID)

	require.NoError(t, f.driver.RegisterProvider(ctx, f.binding, receiver))
	require.Equal(t, []sim.GenericProvider{{ClientID: "acme", StackID: "legacy", ProviderType: "cms", ProviderName: "generic",
		Address: receiver, RegisteredAt: f.api.Providers()[0].RegisteredAt}}, f.api.Providers())
}
