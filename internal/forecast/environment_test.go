package forecast_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
)

func envSpec(apiVersion string, topics ...string) config.StackSpec {
	return config.StackSpec{
		Providers: map[string]config.ProviderBinding{
			"ecommerce": {Name: "shopify", Settings: map[string]string{"api_version": apiVersion}},
			"cms":       {Name: "contentful"},
		},
		Integrations: map[string]config.Integration{"orders": {Provider: "ecommerce", Topics: topics}},
	}
}

func TestEnvironmentDriftForecastsWhatTheNextEnvironmentShares(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	first := now.Add(-3 * time.Hour)
	d := func(code drift.Code, component string, mut ...func(*drift.Drift)) drift.Drift {
		out := drift.Drift{ID: "d-" + component, Code: code, Component: component, FirstSeen: first, Confirmed: true,
			Expected: []string{"orders/create"}, Observed: []string{"orders/created"}}
		for _, m := range mut {
			m(&out)
		}
		return out
	}
	staging := envSpec("2026-10", "orders/create")
	for _, tt := range []struct {
		name   string
		lead   []drift.Drift
		spec   config.StackSpec // the stack's own
		open   []drift.Drift
		want   []forecast.Key
		wantCf float64
	}{
		{name: "a changed subscription topic", lead: []drift.Drift{d(drift.IntegrationMismatch, "orders")}, spec: staging,
			want: []forecast.Key{{Code: drift.IntegrationMismatch, Component: "orders"}}, wantCf: 0.7},
		{name: "a broken subscription", lead: []drift.Drift{d(drift.WebhookBroken, "orders")}, spec: staging,
			want: []forecast.Key{{Code: drift.WebhookBroken, Component: "orders"}}, wantCf: 0.7},
		{name: "another provider's events", lead: []drift.Drift{d(drift.ProviderChanged, "cms")}, spec: staging,
			want: []forecast.Key{{Code: drift.ProviderChanged, Component: "cms"}}, wantCf: 0.5},
		{name: "the stack declares other topics", lead: []drift.Drift{d(drift.IntegrationMismatch, "orders")},
			spec: envSpec("2026-10", "orders/create", "orders/paid")},
		{name: "the stack pins another API version", lead: []drift.Drift{d(drift.IntegrationMismatch, "orders")},
			spec: envSpec("2027-01", "orders/create")},
		{name: "the stack has no such integration", lead: []drift.Drift{d(drift.WebhookBroken, "orders")},
			spec: config.StackSpec{Providers: staging.Providers}},
		{name: "the stack shows the drift itself", lead: []drift.Drift{d(drift.IntegrationMismatch, "orders")}, spec: staging,
			open: []drift.Drift{d(drift.IntegrationMismatch, "orders")}},
		{name: "suspected only", lead: []drift.Drift{d(drift.IntegrationMismatch, "orders", func(d *drift.Drift) { d.Confirmed = false })}, spec: staging},
		{name: "acknowledged", lead: []drift.Drift{d(drift.IntegrationMismatch, "orders", func(d *drift.Drift) { d.Acknowledged = true })}, spec: staging},
		{name: "the leading stack's own site", lead: []drift.Drift{d(drift.ResourceUnhealthy, "site")}, spec: staging},
		{name: "no leading environment", spec: staging},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := forecast.Observation{ClientID: "acme", StackID: "shop-prod", Spec: tt.spec, Open: tt.open, Now: now}
			if tt.lead != nil {
				o.Leading = &forecast.Leading{StackID: "shop-staging", Environment: "staging", Spec: staging, Drifts: tt.lead}
			}
			r := forecast.Indicate(o, forecast.Params{}, nil)
			var got []forecast.Key
			for _, f := range r.Forecasts {
				if f.Evidence.Indicator != forecast.IndicatorEnvironment {
					continue
				}
				got = append(got, f.Key())
				require.Equal(t, "shop-prod", f.StackID)
				require.Equal(t, first, f.ETA, "expected since the leading environment saw it")
				require.Equal(t, tt.wantCf, f.Confidence)
				require.Equal(t, forecast.ClassTrend, f.Class)
				require.Contains(t, f.Evidence.Detail, "open in staging (shop-staging)")
				require.Equal(t, "shop-staging", f.Evidence.Values["stack_id"])
				f.RaisedAt = now // Track sets it
				require.NoError(t, forecast.Check(f))
			}
			require.Equal(t, tt.want, got)
		})
	}
}
