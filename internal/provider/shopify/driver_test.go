package shopify_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/provider/providertest"
	"github.com/blackwellio/blackwell/internal/provider/shopify"
	"github.com/blackwellio/blackwell/internal/sim"
)

const receiver = "http://blackwell.test/v1/webhooks/shopify/acme"

type driverFixture struct {
	shop    *sim.Shopify
	driver  *shopify.Driver
	binding provider.Binding
}

func setupDriver(t *testing.T, api provider.APIClientOptions) driverFixture {
	t.Helper()
	shop, err := sim.NewShopify(sim.ShopifyOptions{})
	require.NoError(t, err)
	t.Cleanup(shop.Close)
	if api.Timeout == 0 {
		api.Timeout = 2 * time.Second
	}
	return driverFixture{
		shop:   shop,
		driver: shopify.New(shopify.Options{API: api}),
		binding: provider.Binding{
			ClientID: "acme", StackID: "web", Role: config.RoleEcommerce, Name: "shopify",
			Settings:    map[string]string{"api_base": shop.URL(), "shop": "acme.myshopify.com"},
			Credentials: map[string]config.Secret{"token": config.NewSecret(shop.Token())},
			Integrations: map[string]config.Integration{
				"shop-products": {Provider: config.RoleEcommerce, Topics: []string{"products/create", "products/update"}},
				"shop-orders":   {Provider: config.RoleEcommerce, Topics: []string{"orders/create"}},
			},
		},
	}
}

func TestDriverConformance(t *testing.T) {
	t.Parallel()
	providertest.Exercise(t, func(t *testing.T, api provider.APIClientOptions) providertest.Setup {
		f := setupDriver(t, api)
		return providertest.Setup{
			Driver: f.driver, Binding: f.binding, Faults: &f.shop.APIFaults, Revoke: f.shop.RevokeToken,
			Integration: products(), Address: receiver,
		}
	})
}

func products() provider.Integration {
	return provider.Integration{Name: "shop-products", Integration: config.Integration{
		Provider: config.RoleEcommerce, Topics: []string{"products/create", "products/update"}}}
}

func TestObserveListsEveryPageAndGroupsByAddress(t *testing.T) {
	t.Parallel()
	f := setupDriver(t, provider.APIClientOptions{})
	f.shop.AddWebhook("products/update", receiver)
	f.shop.AddWebhook("products/create", receiver)
	for i := range 270 { // more than one page of 250
		f.shop.AddWebhook("orders/create", fmt.Sprintf("https://other.example/hook/%d", i))
	}
	obs := f.driver.Observe(context.Background(), f.binding)
	require.Equal(t, drift.Reachable, obs.Reachability, obs.Detail)
	require.True(t, obs.SubscriptionsKnown)
	require.Len(t, obs.Subscriptions, 271)
	var ours drift.Subscription
	for _, s := range obs.Subscriptions {
		if s.Address == receiver {
			ours = s
		}
	}
	require.Equal(t, []string{"products/create", "products/update"}, ours.Topics)
	require.True(t, ours.Enabled)
	require.Len(t, strings.Split(ours.ID, ","), 2)
	require.GreaterOrEqual(t, f.shop.Requests(), int64(2), "followed the Link header")
}

func TestRegisterCreatesOnlyMissingTopicsAndIsIdempotent(t *testing.T) {
	t.Parallel()
	f := setupDriver(t, provider.APIClientOptions{})
	f.shop.AddWebhook("products/update", receiver)
	ctx := context.Background()
	sub, err := f.driver.Register(ctx, f.binding, products(), receiver)
	require.NoError(t, err)
	require.Equal(t, []string{"products/create", "products/update"}, sub.Topics)
	require.Len(t, f.shop.Webhooks(), 2)

	again, err := f.driver.Register(ctx, f.binding, products(), receiver)
	require.NoError(t, err)
	require.Equal(t, sub, again)
	require.Len(t, f.shop.Webhooks(), 2, "no duplicates")

	_, err = f.driver.Register(ctx, f.binding, provider.Integration{Name: "x", Integration: config.Integration{Topics: []string{"a/b"}, Filter: "f"}}, receiver)
	require.ErrorIs(t, err, provider.ErrConfig)
}

func TestUpdateRepointsDeletesStrayTopicsAndKeepsSiblings(t *testing.T) {
	t.Parallel()
	f := setupDriver(t, provider.APIClientOptions{})
	moved := f.shop.AddWebhook("products/update", receiver)
	f.shop.AddWebhook("orders/create", receiver)    // a sibling integration's
	f.shop.AddWebhook("customers/create", receiver) // nobody's
	f.shop.SetWebhookAddress(moved, "https://elsewhere.example/hook")
	ctx := context.Background()

	obs := f.driver.Observe(ctx, f.binding)
	require.True(t, obs.SubscriptionsKnown)
	ids := []string{}
	for _, s := range obs.Subscriptions {
		ids = append(ids, s.ID)
	}
	sub := drift.Subscription{ID: strings.Join(ids, ",")}
	require.NoError(t, f.driver.Update(ctx, f.binding, sub, products(), receiver))

	topics := map[string]string{}
	for _, h := range f.shop.Webhooks() {
		topics[h.Topic] = h.Address
	}
	require.Equal(t, map[string]string{
		"products/update": receiver, "products/create": receiver, "orders/create": receiver,
	}, topics)
	for _, h := range f.shop.Webhooks() {
		if h.Topic == "products/update" {
			require.Equal(t, moved, h.ID, "re-pointed in place, not recreated")
		}
	}
}

func TestMissingSettingsAreUnknownNotDrift(t *testing.T) {
	t.Parallel()
	d := shopify.New(shopify.Options{})
	obs := d.Observe(context.Background(), provider.Binding{Name: "shopify"})
	require.Equal(t, drift.Unknown, obs.Reachability)
	require.Contains(t, obs.Detail, "settings.shop")
}

func TestCallLimitHeaderSlowsTheClientDown(t *testing.T) {
	t.Parallel()
	shop, err := sim.NewShopify(sim.ShopifyOptions{BucketSize: 6, LeakRate: 20})
	require.NoError(t, err)
	t.Cleanup(shop.Close)
	d := shopify.New(shopify.Options{LeakRate: 20, API: provider.APIClientOptions{RateLimit: 1000, Burst: 1000, MaxRetries: -1}, ShareFor: -1})
	b := provider.Binding{Name: "shopify", Settings: map[string]string{"api_base": shop.URL()},
		Credentials: map[string]config.Secret{"token": config.NewSecret(shop.Token())}}
	// Without the pause taken from X-Shopify-Shop-Api-Call-Limit, 20 quick
	// calls would overflow a bucket of 6 and get 429s (no retries here).
	for i := range 20 {
		obs := d.Observe(context.Background(), b)
		require.True(t, obs.SubscriptionsKnown, "call %s: %s", strconv.Itoa(i), obs.Detail)
	}
}

// TestRegisterWhileAnotherCallerCreatesTheWebhook: between Register's
// listing and its POST another caller creates the webhook, so the shop
// answers 422 "has already been taken"; Register finds it and succeeds.
func TestRegisterWhileAnotherCallerCreatesTheWebhook(t *testing.T) {
	t.Parallel()
	f := setupDriver(t, provider.APIClientOptions{})
	target, err := url.Parse(f.shop.URL())
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var raced atomic.Bool
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/webhooks.json") && raced.CompareAndSwap(false, true) {
			f.shop.AddWebhook("products/create", receiver) // the other caller
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	f.binding.Settings = map[string]string{"api_base": front.URL, "shop": "acme.myshopify.com"}

	sub, err := f.driver.Register(context.Background(), f.binding, products(), receiver)
	require.NoError(t, err)
	require.True(t, raced.Load())
	require.ElementsMatch(t, []string{"products/create", "products/update"}, sub.Topics)
	n := 0
	for _, h := range f.shop.Webhooks() {
		if h.Address == receiver {
			n++
		}
	}
	require.Equal(t, 2, n, "one webhook per topic, none twice")
}

// TestBucketsArePerShopNotPerHost: two shops reached through one api_base
// (a proxy, a mock) have a bucket each; two stacks of one shop share one.
func TestBucketsArePerShopNotPerHost(t *testing.T) {
	t.Parallel()
	f := setupDriver(t, provider.APIClientOptions{})
	d := shopify.New(shopify.Options{API: provider.APIClientOptions{RateLimit: rate.Every(time.Hour), Burst: 1}, ShareFor: -1})
	binding := func(shop, stack string) provider.Binding {
		b := f.binding
		b.StackID = stack
		b.Settings = map[string]string{"api_base": f.shop.URL(), "shop": shop}
		return b
	}
	observe := func(b provider.Binding) provider.Observation {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		return d.Observe(ctx, b)
	}
	require.True(t, observe(binding("one", "web")).SubscriptionsKnown)
	require.True(t, observe(binding("two", "web")).SubscriptionsKnown, "shop two has a bucket of its own")
	obs := observe(binding("one.myshopify.com", "blog"))
	require.False(t, obs.SubscriptionsKnown, "the second stack of shop one waits in its bucket")
	require.Equal(t, drift.Unknown, obs.Reachability, "waiting for the bucket is not drift")
	require.Equal(t, drift.ReasonTimeout, obs.Reason, obs.Detail)
	require.Equal(t, int64(2), f.shop.Requests())
}

// TestReregisterReplacesTheIntegrationsWebhooks: the integration's
// webhooks at the address get new ids (fresh subscriptions); other
// integrations' webhooks and other addresses' are left alone; a webhook
// of a topic that was missing is created.
func TestReregisterReplacesTheIntegrationsWebhooks(t *testing.T) {
	t.Parallel()
	f := setupDriver(t, provider.APIClientOptions{})
	old := f.shop.AddWebhook("products/update", receiver)
	sibling := f.shop.AddWebhook("orders/create", receiver)
	elsewhere := f.shop.AddWebhook("products/update", "https://elsewhere.example/hook")
	var _ provider.Reregistrar = f.driver

	sub, err := f.driver.Reregister(context.Background(), f.binding, products(), receiver)
	require.NoError(t, err)
	require.Equal(t, receiver, sub.Address)
	ids := map[int64]string{}
	for _, h := range f.shop.Webhooks() {
		ids[h.ID] = h.Topic + " " + h.Address
	}
	require.NotContains(t, ids, old, "the failing subscription is gone")
	require.Contains(t, ids, sibling)
	require.Contains(t, ids, elsewhere)
	require.Len(t, ids, 4, "products/update and products/create anew, plus the two left alone")
	require.Contains(t, sub.Topics, "products/update")
	require.Contains(t, sub.Topics, "products/create")
}
