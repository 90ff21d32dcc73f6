package heal

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/build"
	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/store"
)

func spec() config.StackSpec {
	return config.StackSpec{
		Providers: map[string]config.ProviderBinding{
			config.RoleCMS:       {Name: "sanity"},
			config.RoleEcommerce: {Name: "shopify"},
			config.RoleSSG:       {Name: "nextjs", Build: &config.Build{Driver: build.DriverHook}},
		},
		Integrations: map[string]config.Integration{
			"shop-products": {Provider: config.RoleEcommerce, Topics: []string{"products/update"}},
			"cms-content":   {Provider: config.RoleCMS},
		},
	}
}

func TestProviderOfEachCode(t *testing.T) {
	t.Parallel()
	a := New(Options{Registry: provider.NewRegistry(provider.RegistryOptions{})})
	for _, tc := range []struct {
		code      drift.Code
		component string
		want      string
	}{
		{drift.ProviderMissing, "ecommerce", "shopify"},
		{drift.ProviderChanged, "cms", "sanity"},
		{drift.WebhookBroken, "shop-products", "shopify"},
		{drift.IntegrationMismatch, "cms-content", "sanity"},
		{drift.WebhookBroken, "undeclared", ""},
		{drift.ResourceUnhealthy, "site", "nextjs"},
		{drift.ResourceMissing, "site", "nextjs"},
		{drift.ContentStale, "post", "nextjs"},
		{drift.ConfigPending, "desired_state", ""},
	} {
		require.Equal(t, tc.want, a.Provider(drift.Drift{Code: tc.code, Component: tc.component}, spec()), "%s on %s", tc.code, tc.component)
	}
	noSSG := spec()
	delete(noSSG.Providers, config.RoleSSG)
	require.Empty(t, a.Provider(drift.Drift{Code: drift.ResourceUnhealthy, Component: "site"}, noSSG))
}

func TestMatchingFindsOurSubscriptionOfTheIntegration(t *testing.T) {
	t.Parallel()
	a := New(Options{ReceiverPrefix: "https://bw.example/v1/webhooks/"})
	b := provider.Binding{ClientID: "acme", StackID: "web", Name: "shopify"}
	ig := provider.Integration{Name: "shop-products", Integration: config.Integration{Topics: []string{"products/update"}}}
	ours := "https://bw.example/v1/webhooks/shopify/acme"
	for _, tc := range []struct {
		name string
		subs []drift.Subscription
		want string
	}{
		{"none", nil, ""},
		{"someone else's address", []drift.Subscription{{ID: "1", Address: "https://other.example/hook", Topics: []string{"products/update"}}}, ""},
		{"another stack's receiver", []drift.Subscription{{ID: "1", Address: ours + "/shop", Topics: []string{"products/update"}}}, ""},
		{"ours, another topic", []drift.Subscription{{ID: "1", Address: ours, Topics: []string{"orders/create"}}}, ""},
		{"ours, client-wide", []drift.Subscription{{ID: "1", Address: ours, Topics: []string{"PRODUCTS/UPDATE"}}}, "1"},
		{"ours, stack-scoped, with a query", []drift.Subscription{{ID: "2", Address: ours + "/web?x=1", Topics: []string{"products/update"}}}, "2"},
	} {
		sub, ok := a.Matching(b, ig, tc.subs)
		require.Equal(t, tc.want != "", ok, tc.name)
		require.Equal(t, tc.want, sub.ID, tc.name)
	}
	// A filter-based integration matches our only subscription.
	filter := provider.Integration{Name: "cms-content"}
	sub, ok := a.Matching(b, filter, []drift.Subscription{{ID: "9", Address: ours}})
	require.True(t, ok)
	require.Equal(t, "9", sub.ID)
	_, ok = a.Matching(b, filter, []drift.Subscription{{ID: "9", Address: ours}, {ID: "10", Address: ours}})
	require.False(t, ok, "two candidates: register rather than guess")
}

type fakeBuilder struct {
	res build.BuildResult
	err error
	n   int
}

func (f *fakeBuilder) Trigger(context.Context, provider.Binding) (build.BuildResult, error) {
	f.n++
	return f.res, f.err
}

func TestRebuild(t *testing.T) {
	t.Parallel()
	reg := provider.NewRegistry(provider.RegistryOptions{})
	at := store.HealAttempt{ClientID: "acme", StackID: "web", Code: drift.ResourceUnhealthy, Component: "site", Action: ActionRebuild}

	ok := &fakeBuilder{res: build.BuildResult{Driver: "hook", ID: "b1", Status: build.StatusSucceeded}}
	detail, err := New(Options{Registry: reg, Builder: ok}).Execute(context.Background(), at, spec())
	require.NoError(t, err)
	require.Equal(t, "rebuilt with hook (b1)", detail)
	require.Equal(t, 1, ok.n)

	failed := &fakeBuilder{res: build.BuildResult{Status: build.StatusFailed, Detail: "exit 2"}}
	_, err = New(Options{Registry: reg, Builder: failed}).Execute(context.Background(), at, spec())
	require.ErrorContains(t, err, "rebuild failed: exit 2")

	broken := &fakeBuilder{err: errors.New("hook answered 404")}
	_, err = New(Options{Registry: reg, Builder: broken}).Execute(context.Background(), at, spec())
	require.ErrorContains(t, err, "hook answered 404")

	noSSG := spec()
	delete(noSSG.Providers, config.RoleSSG)
	_, err = New(Options{Registry: reg, Builder: ok}).Execute(context.Background(), at, noSSG)
	require.ErrorIs(t, err, ErrUnsupported)

	_, err = New(Options{Registry: reg, Builder: ok}).Execute(context.Background(), store.HealAttempt{Action: "teleport"}, spec())
	require.ErrorIs(t, err, ErrUnsupported)
}
