package provider_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/provider"
)

// fakeDriver is a Driver of function fields.
type fakeDriver struct {
	observe func(ctx context.Context, b provider.Binding) provider.Observation
}

func (f fakeDriver) Observe(ctx context.Context, b provider.Binding) provider.Observation {
	return f.observe(ctx, b)
}

func (fakeDriver) Register(context.Context, provider.Binding, provider.Integration, string) (drift.Subscription, error) {
	return drift.Subscription{}, nil
}

func (fakeDriver) Update(context.Context, provider.Binding, drift.Subscription, provider.Integration, string) error {
	return nil
}

func spec() config.StackSpec {
	return config.StackSpec{
		Providers: map[string]config.ProviderBinding{
			config.RoleCMS:       {Name: "sanity", Credentials: map[string]config.Secret{"token": config.NewSecret("${CMS_TOKEN}")}},
			config.RoleEcommerce: {Name: "Shopify", Credentials: map[string]config.Secret{"token": config.NewSecret("${SHOP_TOKEN}")}},
			config.RoleSSG:       {Name: "hugo"},
		},
		Integrations: map[string]config.Integration{
			"shop-products": {Provider: config.RoleEcommerce, Topics: []string{"products/update"}},
			"cms-content":   {Provider: config.RoleCMS},
		},
	}
}

func TestObserveProvidersResolvesSecretsAndSkipsRolesWithoutDriver(t *testing.T) {
	t.Parallel()
	var seen atomic.Value
	reg := provider.NewRegistry(provider.RegistryOptions{
		Drivers: map[string]provider.Driver{
			"shopify": fakeDriver{func(_ context.Context, b provider.Binding) provider.Observation {
				seen.Store(b)
				return provider.Listed(b.Name, nil)
			}},
			"sanity": fakeDriver{func(_ context.Context, b provider.Binding) provider.Observation {
				return provider.Observation{ProviderObservation: drift.ProviderObservation{Name: b.Name, Reachability: drift.Unauthorized}}
			}},
		},
		Getenv: func(k string) (string, bool) {
			v, ok := map[string]string{"SHOP_TOKEN": "shpat_x", "CMS_TOKEN": "sk_y"}[k]
			return v, ok
		},
	})
	got := reg.ObserveProviders(context.Background(), "acme", "web", spec())
	require.Equal(t, map[string]drift.ProviderObservation{
		config.RoleEcommerce: {Name: "Shopify", Reachability: drift.Reachable, SubscriptionsKnown: true, Subscriptions: []drift.Subscription{}},
		config.RoleCMS:       {Name: "sanity", Reachability: drift.Unauthorized},
	}, got, "hugo has no driver: left out")
	b := seen.Load().(provider.Binding)
	require.Equal(t, "shpat_x", b.Token())
	require.Equal(t, "acme", b.ClientID)
	require.Equal(t, config.RoleEcommerce, b.Role)
	require.Equal(t, []string{"shop-products"}, keys(b.Integrations))
}

func keys(m map[string]config.Integration) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestObserveProvidersBoundsAStuckDriverAndRunsRolesConcurrently(t *testing.T) {
	t.Parallel()
	stuck := make(chan struct{})
	t.Cleanup(func() { close(stuck) })
	slow := fakeDriver{func(_ context.Context, b provider.Binding) provider.Observation {
		<-stuck // ignores its context
		return provider.Listed(b.Name, nil)
	}}
	quick := fakeDriver{func(ctx context.Context, b provider.Binding) provider.Observation {
		select {
		case <-time.After(150 * time.Millisecond):
		case <-ctx.Done():
		}
		return provider.Listed(b.Name, nil)
	}}
	reg := provider.NewRegistry(provider.RegistryOptions{
		Drivers: map[string]provider.Driver{"shopify": slow, "sanity": quick},
		Getenv:  func(string) (string, bool) { return "x", true },
		Timeout: 300 * time.Millisecond,
	})
	began := time.Now()
	got := reg.ObserveProviders(context.Background(), "acme", "web", spec())
	require.Less(t, time.Since(began), 2*time.Second)
	require.Equal(t, drift.Reachable, got[config.RoleCMS].Reachability)
	require.Equal(t, drift.Unreachable, got[config.RoleEcommerce].Reachability, "no answer within the bound")
	require.Equal(t, drift.ReasonTimeout, got[config.RoleEcommerce].Reason)
}

func TestObserveProvidersUnresolvedCredentialsAreUnknownAndLoggedOnce(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	called := false
	reg := provider.NewRegistry(provider.RegistryOptions{
		Drivers: map[string]provider.Driver{"shopify": fakeDriver{func(_ context.Context, b provider.Binding) provider.Observation {
			called = true
			return provider.Listed(b.Name, nil)
		}}},
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	for range 3 {
		got := reg.ObserveProviders(context.Background(), "acme", "web", spec())
		require.Equal(t, drift.Unknown, got[config.RoleEcommerce].Reachability)
		require.Equal(t, drift.ReasonUnresolved, got[config.RoleEcommerce].Reason)
	}
	require.False(t, called)
	require.Equal(t, 1, bytes.Count(logs.Bytes(), []byte("provider observation")))
	require.Contains(t, logs.String(), "SHOP_TOKEN")
}

// Each binding's observation carries the statuses of the API calls its
// driver made (the forecasts' share of refused answers) and the
// deprecation headers their answers carried (provider_sunset).
func TestObserveProvidersLogsTheAnswersOfEachBinding(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/shop" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Sunset", "Sat, 31 Dec 2026 23:59:59 GMT")
		w.Header().Set("Deprecation", "@1764000000")
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(srv.Close)
	api := provider.NewAPIClient(provider.APIClientOptions{Provider: "fake", HTTPClient: srv.Client()})
	drv := func(path string, n int) fakeDriver {
		return fakeDriver{observe: func(ctx context.Context, b provider.Binding) provider.Observation {
			for range n {
				_, _ = api.Do(ctx, provider.Request{Method: http.MethodGet, URL: srv.URL + path})
			}
			return provider.Observation{ProviderObservation: drift.ProviderObservation{Name: b.Name, Reachability: drift.Reachable}}
		}}
	}
	reg := provider.NewRegistry(provider.RegistryOptions{
		Drivers: map[string]provider.Driver{"sanity": drv("/cms", 3), "shopify": drv("/shop", 1)},
		Getenv:  func(string) (string, bool) { return "x", true },
	})
	got := reg.ObserveProviders(t.Context(), "acme", "web", spec())
	require.Equal(t, []int{200, 200, 200}, got[config.RoleCMS].Answers)
	require.Equal(t, []int{401}, got[config.RoleEcommerce].Answers)
	require.Equal(t, map[string]string{"Sunset": "Sat, 31 Dec 2026 23:59:59 GMT", "Deprecation": "@1764000000"},
		got[config.RoleCMS].Notice)
	require.Nil(t, got[config.RoleEcommerce].Notice, "no notice in its answers")
	got = reg.ObserveProviders(t.Context(), "acme", "web", spec())
	require.Len(t, got[config.RoleCMS].Answers, 3, "each observation its own log")
}
