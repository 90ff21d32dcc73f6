package compliance

import (
	"fmt"
	"maps"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
)

// TestStackBufferBuildsStackOf: a StackBuffer's views are StackOf's
// (nil and empty alike: has() tells them apart), stack after stack of
// other shapes, nothing of a view left in the next (its maps are reused).
func TestStackBufferBuildsStackOf(t *testing.T) {
	t.Parallel()
	spec := func(i int) config.StackSpec {
		s := config.StackSpec{Providers: map[string]config.ProviderBinding{}, ContentTypes: []string{fmt.Sprint("post", i)}}
		switch i % 4 {
		case 0:
			s.Providers["cms"] = config.ProviderBinding{Name: "sanity", WebhookSecret: config.SecretList{{Ref: "${A}"}, {Ref: "lit"}},
				Credentials: map[string]config.Secret{"token": {Ref: "${T}"}, fmt.Sprint("k", i): {Ref: "x"}}}
			s.Providers["ssg"] = config.ProviderBinding{Name: "netlify", Build: &config.Build{Driver: "hook"}, Settings: map[string]string{"site": "s"}}
			s.Integrations = map[string]config.Integration{"products": {Provider: "cms", Topics: []string{"a"}, Filter: "f"}}
		case 1:
			s.Providers["ecommerce"] = config.ProviderBinding{Name: "shopify"} // no secrets, no credentials
		case 2:
			s.Resources = map[string]config.Resource{}
			for j := range maxReused + 10 {
				s.Resources[fmt.Sprint("r", j)] = config.Resource{Probe: "http", URL: fmt.Sprint("https://", i, j)}
			}
			s.Providers = nil
		case 3:
			s.Resources = map[string]config.Resource{"site": {Probe: "tls", Address: "a:443", ExpectStatus: 200, MinDaysValid: 7}}
			s.Providers["cms"] = config.ProviderBinding{Name: "contentful", WebhookSecret: config.SecretList{{Ref: "${B}"}}}
		}
		return s
	}
	var b StackBuffer
	for i := range 24 {
		meta := config.StackMeta{ClientID: "c", StackID: fmt.Sprint("s", i), Environment: []string{"prod", "dev"}[i%2]}
		got := b.StackOf(meta, spec(i))
		require.Equal(t, StackOf(meta, spec(i)), got, "stack %d", i)
		for role, p := range got.Providers {
			require.Equal(t, p.WebhookSecrets == nil, len(spec(i).Providers[role].WebhookSecret) == 0, "stack %d: nil secrets when none", i)
			require.NotNil(t, p.Credentials, "stack %d: credentials an empty map when none, as StackOf's", i)
		}
	}
}

// TestObservedKeyIgnoresOrder: the key of an observation is that of its
// drifts sorted (and leaves them as they are), whatever order its
// resources come in, and differs when a status does.
func TestObservedKeyIgnoresOrder(t *testing.T) {
	t.Parallel()
	res := map[string]string{}
	for i := range 20 { // more than Key's scratch space
		res[fmt.Sprint("r", i)] = "healthy"
	}
	unsorted := ObservedView{Status: "drift_detected", OpenDrifts: []string{"webhook_broken", "provider_changed"}, Resources: res}
	sorted := ObservedView{Status: "drift_detected", OpenDrifts: []string{"provider_changed", "webhook_broken"}, Resources: maps.Clone(res)}
	require.Equal(t, sorted.Key(), unsorted.Key())
	require.Equal(t, []string{"webhook_broken", "provider_changed"}, unsorted.OpenDrifts)
	require.Equal(t, "drift_detected\x00dprovider_changed\x00dwebhook_broken\x00rr0=healthy\x00rr1=healthy\x00rr10=healthy",
		sorted.Key()[:len("drift_detected\x00dprovider_changed\x00dwebhook_broken\x00rr0=healthy\x00rr1=healthy\x00rr10=healthy")])
	sorted.Resources["r7"] = "unhealthy"
	require.NotEqual(t, sorted.Key(), unsorted.Key())
}
