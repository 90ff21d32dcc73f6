package provider_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/provider/contentful"
	"github.com/blackwellio/blackwell/internal/provider/generic"
	"github.com/blackwellio/blackwell/internal/provider/sanity"
	"github.com/blackwellio/blackwell/internal/provider/shopify"
)

// Each driver names where a binding's credentials go, from its settings
// alone, as it builds its request URLs.
func TestDestinations(t *testing.T) {
	t.Parallel()
	reg := provider.NewRegistry(provider.RegistryOptions{Drivers: map[string]provider.Driver{
		"shopify": shopify.New(shopify.Options{}), "sanity": sanity.New(sanity.Options{}),
		"contentful": contentful.New(contentful.Options{}), "generic": generic.New(generic.Options{}),
	}})
	cases := []struct {
		name     string
		provider string
		settings map[string]string
		want     []string
	}{
		{"shopify shop", "shopify", map[string]string{"shop": "acme.myshopify.com"}, []string{"https://acme.myshopify.com"}},
		{"shopify short shop", "shopify", map[string]string{"shop": "acme"}, []string{"https://acme.myshopify.com"}},
		{"shopify shop elsewhere", "shopify", map[string]string{"shop": "Evil.Example"}, []string{"https://evil.example"}},
		{"shopify api_base wins", "shopify", map[string]string{"shop": "acme", "api_base": "http://127.0.0.1:9/x"}, []string{"http://127.0.0.1:9"}},
		{"shopify nothing", "shopify", nil, nil},
		{"sanity project", "sanity", map[string]string{"project_id": "abc123"}, []string{"https://abc123.api.sanity.io"}},
		{"sanity api_base", "sanity", map[string]string{"project_id": "abc123", "api_base": "https://proxy.example:8443"}, []string{"https://proxy.example:8443"}},
		{"sanity without project", "sanity", map[string]string{"api_base": "https://proxy.example"}, nil},
		{"contentful default", "contentful", map[string]string{"space_id": "x1"}, []string{"https://api.contentful.com"}},
		{"contentful eu", "contentful", map[string]string{"space_id": "x1", "api_base": "https://api.eu.contentful.com"}, []string{"https://api.eu.contentful.com"}},
		{"generic integration_api", "generic", map[string]string{"integration_api": "https://i.example/base"}, []string{"https://i.example"}},
		{"generic api_base wins", "generic", map[string]string{"integration_api": "https://i.example", "api_base": "https://j.example"}, []string{"https://j.example"}},
		{"no driver", "nextjs", map[string]string{"api_base": "https://x.example"}, nil},
	}
	for _, c := range cases {
		spec := config.StackSpec{Providers: map[string]config.ProviderBinding{"cms": {Name: c.provider, Settings: c.settings}}}
		require.Equal(t, c.want, reg.Destinations("acme", "web", "cms", spec), c.name)
		require.Nil(t, reg.Destinations("acme", "web", "ssg", spec), c.name)
	}
}
