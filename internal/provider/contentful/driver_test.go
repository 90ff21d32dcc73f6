package contentful_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/provider/contentful"
	"github.com/blackwellio/blackwell/internal/provider/providertest"
	"github.com/blackwellio/blackwell/internal/sim"
)

const receiver = "http://blackwell.test/v1/webhooks/contentful/acme"

const envFilter = `[{"equals":[{"doc":"sys.environment.sys.id"},"master"]}]`

type fixture struct {
	cms     *sim.Contentful
	driver  *contentful.Driver
	binding provider.Binding
}

func setupDriver(t *testing.T, api provider.APIClientOptions) fixture {
	t.Helper()
	cms, err := sim.NewContentful(sim.ContentfulOptions{SecondLimit: 1000})
	require.NoError(t, err)
	t.Cleanup(cms.Close)
	if api.Timeout == 0 {
		api.Timeout = 2 * time.Second
	}
	return fixture{
		cms:    cms,
		driver: contentful.New(contentful.Options{API: api}),
		binding: provider.Binding{
			ClientID: "acme", StackID: "blog", Role: config.RoleCMS, Name: "contentful",
			Settings:    map[string]string{"api_base": cms.URL(), "space_id": cms.SpaceID(), "environment": "master"},
			Credentials: map[string]config.Secret{"token": config.NewSecret(cms.Token())},
			Integrations: map[string]config.Integration{
				"cms-entries": {Provider: config.RoleCMS, Topics: []string{"Entry.publish", "Entry.unpublish"}, Filter: envFilter},
			},
		},
	}
}

func entries() provider.Integration {
	return provider.Integration{Name: "cms-entries", Integration: config.Integration{
		Provider: config.RoleCMS, Topics: []string{"Entry.publish", "Entry.unpublish"}, Filter: envFilter}}
}

func TestDriverConformance(t *testing.T) {
	t.Parallel()
	providertest.Exercise(t, func(t *testing.T, api provider.APIClientOptions) providertest.Setup {
		f := setupDriver(t, api)
		return providertest.Setup{
			Driver: f.driver, Binding: f.binding, Faults: &f.cms.APIFaults, Revoke: f.cms.RevokeToken,
			Integration: entries(), Address: receiver,
		}
	})
}

func TestObservePagesWithSkipAndLimit(t *testing.T) {
	t.Parallel()
	f := setupDriver(t, provider.APIClientOptions{})
	for i := range 230 {
		f.cms.AddWebhook(sim.ContentfulWebhook{Name: fmt.Sprint(i), URL: fmt.Sprintf("https://x.example/%d", i), Topics: []string{"*.*"}, Active: true})
	}
	obs := f.driver.Observe(context.Background(), f.binding)
	require.True(t, obs.SubscriptionsKnown, obs.Detail)
	require.Len(t, obs.Subscriptions, 230)
	require.Equal(t, int64(3), f.cms.Requests(), "three pages of 100")
}

func TestFilterIsReportedAsDeclaredWhenEquivalent(t *testing.T) {
	t.Parallel()
	f := setupDriver(t, provider.APIClientOptions{})
	f.driver = contentful.New(contentful.Options{ShareFor: -1}) // each Observe lists
	id := f.cms.AddWebhook(sim.ContentfulWebhook{Name: "ours", URL: receiver, Topics: []string{"Entry.unpublish", "Entry.publish"},
		Filters: json.RawMessage("[ {\"equals\": [ {\"doc\": \"sys.environment.sys.id\"}, \"master\" ] } ]"), Active: true})
	obs := f.driver.Observe(context.Background(), f.binding)
	require.Len(t, obs.Subscriptions, 1)
	require.Equal(t, envFilter, obs.Subscriptions[0].Filter)
	require.Equal(t, []string{"Entry.publish", "Entry.unpublish"}, obs.Subscriptions[0].Topics)

	f.cms.SetWebhookFilters(id, json.RawMessage(`[{"equals":[{"doc":"sys.environment.sys.id"},"staging"]}]`))
	obs = f.driver.Observe(context.Background(), f.binding)
	require.Equal(t, `[{"equals":[{"doc":"sys.environment.sys.id"},"staging"]}]`, obs.Subscriptions[0].Filter)
}

func TestUpdateUsesTheVersionAndKeepsOtherFields(t *testing.T) {
	t.Parallel()
	f := setupDriver(t, provider.APIClientOptions{})
	id := f.cms.AddWebhook(sim.ContentfulWebhook{Name: "kept name", URL: receiver, Topics: []string{"Asset.*"},
		Headers: []sim.ContentfulHeader{{Key: "X-Kept", Value: "yes"}}, Active: false})
	f.cms.SetWebhookTopics(id, "Asset.publish") // version 2 now
	obs := f.driver.Observe(context.Background(), f.binding)
	require.NoError(t, f.driver.Update(context.Background(), f.binding, obs.Subscriptions[0], entries(), receiver))
	h := f.cms.Webhooks()[0]
	require.Equal(t, 3, h.Version)
	require.Equal(t, "kept name", h.Name)
	require.Equal(t, []sim.ContentfulHeader{{Key: "X-Kept", Value: "yes"}}, h.Headers)
	require.Equal(t, []string{"Entry.publish", "Entry.unpublish"}, h.Topics)
	require.JSONEq(t, envFilter, string(h.Filters))
	require.True(t, h.Active)
}

func TestPerSecondLimitIsRespected(t *testing.T) {
	t.Parallel()
	cms, err := sim.NewContentful(sim.ContentfulOptions{SecondLimit: 3})
	require.NoError(t, err)
	t.Cleanup(cms.Close)
	d := contentful.New(contentful.Options{API: provider.APIClientOptions{RateLimit: 1000, Burst: 1000}, ShareFor: -1})
	b := provider.Binding{Name: "contentful", Settings: map[string]string{"api_base": cms.URL(), "space_id": cms.SpaceID()},
		Credentials: map[string]config.Secret{"token": config.NewSecret(cms.Token())}}
	for i := range 7 {
		obs := d.Observe(context.Background(), b)
		require.True(t, obs.SubscriptionsKnown, "call %d: %s", i, obs.Detail)
	}
}

// TestMissingSpaceIsTheOnlyMissing: the CMA's own 404 on the space's
// listing is the authoritative "account missing"; the observation stays
// reachable, with the subscriptions unknown.
func TestMissingSpaceIsTheOnlyMissing(t *testing.T) {
	t.Parallel()
	f := setupDriver(t, provider.APIClientOptions{})
	f.binding.Settings["space_id"] = "nosuchspace"
	obs := f.driver.Observe(context.Background(), f.binding)
	require.Equal(t, drift.NotFound, obs.Reachability, obs.Detail)
	require.Equal(t, drift.ReasonAccountMissing, obs.Reason)
	require.False(t, obs.SubscriptionsKnown)
	require.Contains(t, obs.Detail, "404")

	f.cms.AnswerHTML(404, -1) // a wrong api_base's page is not the CMA saying so
	f.binding.Settings["space_id"] = f.cms.SpaceID()
	obs = f.driver.Observe(context.Background(), f.binding)
	require.Equal(t, drift.Unknown, obs.Reachability, obs.Detail)
	require.Equal(t, drift.ReasonInvalidAnswer, obs.Reason)
}
