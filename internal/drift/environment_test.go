package drift

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCompareEnvironments(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	const (
		staging = `{"overrides":["providers.ecommerce.settings.shop","resources.site.url"],` +
			`"providers":{"ecommerce":{"name":"shopify","settings":{"shop":"acme-staging.myshopify.com"}}},` +
			`"resources":{"site":{"probe":"http","url":"https://staging.acme.example/"}},"content_types":["product"]}`
		prodSame = `{"overrides":["providers.ecommerce.settings.shop","resources.site.url"],` +
			`"providers":{"ecommerce":{"name":"shopify","settings":{"shop":"acme.myshopify.com"}}},` +
			`"resources":{"site":{"probe":"http","url":"https://acme.example/"}},"content_types":["product"]}`
		prodDiverged = `{"app":"shop","overrides":["providers.ecommerce.settings.shop"],` +
			`"providers":{"ecommerce":{"name":"shopify","settings":{"shop":"acme.myshopify.com","api_version":"2024-01"}}},` +
			`"resources":{"site":{"probe":"http","url":"https://acme.example/","expect_status":200}},"content_types":["product","page"]}`
		dev = `{"resources":{"site":{"probe":"tcp","address":"dev:443"}}}`
	)
	order := []string{"dev", "staging", "prod"}
	for _, tt := range []struct {
		name  string
		in    EnvironmentInput
		want  []string // components
		check func(t *testing.T, out []Drift)
	}{
		{
			name: "overrides only: no drift",
			in: EnvironmentInput{StackID: "shop-prod", Environment: "prod", Desired: json.RawMessage(prodSame), Order: order,
				Peers: []EnvironmentPeer{{StackID: "shop-staging", Environment: "staging", Desired: json.RawMessage(staging)}}},
		},
		{
			name: "lagging prod reports each diverged component",
			in: EnvironmentInput{StackID: "shop-prod", Environment: "prod", Desired: json.RawMessage(prodDiverged), Order: order,
				Peers: []EnvironmentPeer{{StackID: "shop-staging", Environment: "staging", Desired: json.RawMessage(staging)}}},
			want: []string{"content_types", "providers.ecommerce", "resources.site"},
			check: func(t *testing.T, out []Drift) {
				d := out[2]
				require.Equal(t, EnvironmentDivergence, d.Code)
				require.Equal(t, TypeConfiguration, d.Type)
				require.Equal(t, SeverityLow, d.Severity)
				require.Equal(t, "shop-prod", d.StackID)
				// staging's override of resources.site.url covers it for both.
				exp := d.Expected.(divergenceSide)
				obs := d.Observed.(divergenceSide)
				require.Equal(t, "staging", exp.Environment)
				require.Equal(t, map[string]any{}, exp.Values)
				require.Equal(t, map[string]any{"resources.site.expect_status": float64(200)}, obs.Values)
				require.Equal(t, ID("", "shop-prod", TypeConfiguration, "resources.site"), d.ID)
			},
		},
		{
			name: "the leading environment has none",
			in: EnvironmentInput{StackID: "shop-staging", Environment: "staging", Desired: json.RawMessage(staging), Order: []string{"staging", "prod"},
				Peers: []EnvironmentPeer{{StackID: "shop-prod", Environment: "prod", Desired: json.RawMessage(prodDiverged)}}},
		},
		{
			name: "the nearest earlier environment leads (staging, not dev)",
			in: EnvironmentInput{StackID: "shop-prod", Environment: "prod", Desired: json.RawMessage(prodSame), Order: order,
				Peers: []EnvironmentPeer{
					{StackID: "shop-dev", Environment: "dev", Desired: json.RawMessage(dev)},
					{StackID: "shop-staging", Environment: "staging", Desired: json.RawMessage(staging)},
				}},
		},
		{
			name: "a gap in the pipeline: dev leads prod",
			in: EnvironmentInput{StackID: "shop-prod", Environment: "prod", Desired: json.RawMessage(prodSame), Order: order,
				Peers: []EnvironmentPeer{{StackID: "shop-dev", Environment: "dev", Desired: json.RawMessage(dev)}}},
			want: []string{"content_types", "providers.ecommerce", "resources.site"},
		},
		{
			name: "an environment outside the pipeline has none",
			in: EnvironmentInput{StackID: "shop-dev", Environment: "dev", Desired: json.RawMessage(dev), Order: []string{"staging", "prod"},
				Peers: []EnvironmentPeer{{StackID: "shop-staging", Environment: "staging", Desired: json.RawMessage(staging)}}},
		},
		{
			name: "alone: none",
			in:   EnvironmentInput{StackID: "shop-prod", Environment: "prod", Desired: json.RawMessage(prodSame), Order: order},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.in.Now = now
			out, err := CompareEnvironments(tt.in)
			require.NoError(t, err)
			var got []string
			for _, d := range out {
				got = append(got, d.Component)
				require.Equal(t, now, d.DetectedAt)
			}
			require.Equal(t, tt.want, got)
			if tt.check != nil {
				tt.check(t, out)
			}
		})
	}
}

func TestCompareEnvironmentsBadDocument(t *testing.T) {
	t.Parallel()
	_, err := CompareEnvironments(EnvironmentInput{StackID: "b", Environment: "prod", Desired: json.RawMessage(`{}`),
		Order: []string{"staging", "prod"}, Peers: []EnvironmentPeer{{StackID: "a", Environment: "staging", Desired: json.RawMessage(`[`)}}})
	require.ErrorContains(t, err, "desired document of a")
}
