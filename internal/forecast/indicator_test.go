package forecast_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
	"github.com/blackwellio/blackwell/internal/probe"
	"github.com/blackwellio/blackwell/internal/provider/shopify"
)

func TestDefaultsMatchTheirSources(t *testing.T) {
	t.Parallel()
	require.Equal(t, shopify.DefaultAPIVersion, forecast.ShopifyDefaultAPIVersion)
	require.Equal(t, probe.DefaultMinDaysValid, forecast.DefaultMinDaysValid)
}

const day = 24 * time.Hour

var now = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// testParams are fixed thresholds, so that these tests do not move when
// DefaultParams are tuned again.
var testParams = forecast.Params{
	CertificateHorizon: 10 * day, APIVersionHorizon: 60 * day, SunsetHorizon: 60 * day,
	RefusalStreak: 3, RefusalAge: -1, FlapReturns: 3, FlapWindow: 24 * time.Hour,
}

func TestZeroParamsAreTheDefaults(t *testing.T) {
	t.Parallel()
	at := func(p forecast.Params, left time.Duration) int {
		obs := map[string]drift.ResourceObservation{"cert": {Status: drift.StatusHealthy, NotAfter: ptr(now.Add(14*day + left))}}
		return len(forecast.Indicate(forecast.Observation{ClientID: "a", StackID: "b", Spec: shopStack("2026-10"), Resources: obs, Now: now}, p, nil).Forecasts)
	}
	inside, outside := forecast.DefaultParams.CertificateHorizon-time.Hour, forecast.DefaultParams.CertificateHorizon+time.Hour
	require.Equal(t, 1, at(forecast.Params{}, inside))
	require.Equal(t, 0, at(forecast.Params{}, outside))
	require.Equal(t, 1, at(forecast.DefaultParams, inside))
}

// shopStack binds shopify as ecommerce (api_version as given) with two
// integrations, and declares a tls resource "cert".
func shopStack(apiVersion string) config.StackSpec {
	settings := map[string]string{"shop": "demo"}
	if apiVersion != "" {
		settings["api_version"] = apiVersion
	}
	return config.StackSpec{
		Providers: map[string]config.ProviderBinding{
			"ecommerce": {Name: "shopify", Settings: settings},
			"cms":       {Name: "sanity"},
		},
		Integrations: map[string]config.Integration{
			"products": {Provider: "ecommerce", Topics: []string{"products/update", "products/create"}},
			"orders":   {Provider: "ecommerce", Topics: []string{"orders/create"}},
			"content":  {Provider: "cms"},
		},
		Resources: map[string]config.Resource{
			"cert": {Probe: config.ProbeTLS, Address: "site.example:443", MinDaysValid: 14},
			"home": {Probe: config.ProbeHTTP, URL: "https://site.example/"},
		},
	}
}

// keys lists a reading's forecasts as "code/component@eta" for compact
// comparison.
func keys(r forecast.Reading) []string {
	var out []string
	for _, f := range r.Forecasts {
		out = append(out, f.Key().String()+"@"+f.ETA.Format(time.RFC3339))
	}
	return out
}

func TestCertificateIndicator(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		obs         map[string]drift.ResourceObservation
		minDays     int
		want        []string
		wantUnknown string
	}{
		{
			name: "onset within the horizon",
			obs:  map[string]drift.ResourceObservation{"cert": {Status: drift.StatusHealthy, NotAfter: ptr(now.Add(20 * day))}},
			want: []string{"resource_unhealthy/cert@" + now.Add(6*day).Format(time.RFC3339)},
		},
		{
			name: "onset beyond the horizon",
			obs:  map[string]drift.ResourceObservation{"cert": {Status: drift.StatusHealthy, NotAfter: ptr(now.Add(60 * day))}},
		},
		{
			name: "already unhealthy is drift, not a forecast",
			obs:  map[string]drift.ResourceObservation{"cert": {Status: drift.StatusUnhealthy, NotAfter: ptr(now.Add(5 * day))}},
		},
		{
			name:    "min_days_valid defaults to the probe's 14",
			minDays: -1,
			obs:     map[string]drift.ResourceObservation{"cert": {Status: drift.StatusHealthy, NotAfter: ptr(now.Add(15 * day))}},
			want:    []string{"resource_unhealthy/cert@" + now.Add(day).Format(time.RFC3339)},
		},
		{
			name: "unhealthy for another reason is drift, not a forecast",
			obs: map[string]drift.ResourceObservation{"cert": {Status: drift.StatusUnhealthy, Detail: "x509: certificate signed by unknown authority",
				NotAfter: ptr(now.Add(20 * day))}},
		},
		{
			name:        "no notAfter: no forecast, the reason kept",
			obs:         map[string]drift.ResourceObservation{"cert": {Status: drift.StatusHealthy, Detail: "a probe of an older build"}},
			wantUnknown: "the probe reported no notAfter",
		},
		{
			name:        "probe unknown",
			obs:         map[string]drift.ResourceObservation{"cert": {Status: drift.StatusUnknown, Reason: drift.ReasonTimeout}},
			wantUnknown: "certificate not observed this pass",
		},
		{
			name:        "not probed",
			wantUnknown: "certificate not observed this pass",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			spec := shopStack("2026-10")
			if tc.minDays != 0 {
				r := spec.Resources["cert"]
				r.MinDaysValid = max(tc.minDays, 0)
				spec.Resources["cert"] = r
			}
			r := forecast.Indicate(forecast.Observation{ClientID: "acme", StackID: "web", Spec: spec, Resources: tc.obs, Now: now}, testParams, nil)
			require.Equal(t, tc.want, keys(r))
			k := forecast.Key{Code: drift.ResourceUnhealthy, Component: "cert"}
			if tc.wantUnknown != "" {
				require.Equal(t, tc.wantUnknown, r.UnknownOf(k))
			} else {
				require.Empty(t, r.UnknownOf(k))
			}
			for _, f := range r.Forecasts {
				require.Equal(t, forecast.ClassDated, f.Class)
				require.Equal(t, forecast.IndicatorCertificate, f.Evidence.Indicator)
				require.NoError(t, forecast.Check(withRaised(f)))
			}
		})
	}
}

func withRaised(f forecast.Forecast) forecast.Forecast {
	f.ID, f.RaisedAt = "fc-1", now
	return f
}

func TestCertificateConfidenceRisesAsOnsetNears(t *testing.T) {
	t.Parallel()
	conf := func(left time.Duration) float64 {
		obs := map[string]drift.ResourceObservation{"cert": {Status: drift.StatusHealthy, NotAfter: ptr(now.Add(14*day + left))}}
		r := forecast.Indicate(forecast.Observation{ClientID: "a", StackID: "b", Spec: shopStack("2026-10"), Resources: obs, Now: now}, testParams, nil)
		require.Len(t, r.Forecasts, 1)
		return r.Forecasts[0].Confidence
	}
	require.Less(t, conf(9*day), conf(2*day))
	require.LessOrEqual(t, conf(time.Hour), 0.95)
	require.GreaterOrEqual(t, conf(9*day), 0.55)
}

func TestShopifyEndOfSupport(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		version string
		want    time.Time
		wantErr string
	}{
		{"2025-07", time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC), ""},
		{"2025-10", time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), ""},
		{"2026-01", time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), ""},
		{"unstable", time.Time{}, `api_version "unstable" is not a stable version (YYYY-MM)`},
		{"2025-05", time.Time{}, `api_version "2025-05" is not a quarterly release (month 01, 04, 07 or 10)`},
		{"25-07", time.Time{}, "is not a stable version"},
		{"2025-7", time.Time{}, "is not a stable version"},
		{"", time.Time{}, "is not a stable version"},
	} {
		got, err := forecast.ShopifyEndOfSupport(tc.version)
		if tc.wantErr != "" {
			require.ErrorContains(t, err, tc.wantErr, tc.version)
			continue
		}
		require.NoError(t, err, tc.version)
		require.Equal(t, tc.want, got, tc.version)
	}
}

func TestAPIVersionIndicator(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		version     string
		at          time.Time
		want        []string
		wantUnknown string
	}{
		{
			name: "end of support within the horizon names every shopify integration",
			// 2026-01 is supported until 2027-01-01: 25 days after now.
			version: "2026-01", at: now,
			want: []string{"integration_mismatch/orders@2027-01-01T00:00:00Z", "integration_mismatch/products@2027-01-01T00:00:00Z"},
		},
		{name: "far from its end", version: "2026-10", at: now},
		{name: "past its end is drift time, not a forecast", version: "2025-10", at: now},
		{
			name: "unset means the driver's default", version: "", at: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC),
			want: []string{"integration_mismatch/orders@2026-07-01T00:00:00Z", "integration_mismatch/products@2026-07-01T00:00:00Z"},
		},
		{name: "unstable has no end of support to read", version: "unstable", at: now,
			wantUnknown: `api_version "unstable" is not a stable version (YYYY-MM)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := forecast.Indicate(forecast.Observation{ClientID: "a", StackID: "b", Spec: shopStack(tc.version), Now: tc.at,
				Resources: map[string]drift.ResourceObservation{"cert": {Status: drift.StatusHealthy, NotAfter: ptr(tc.at.Add(400 * day))}}},
				testParams, nil)
			require.Equal(t, tc.want, keys(r))
			if tc.wantUnknown != "" {
				require.Equal(t, tc.wantUnknown, r.UnknownOf(forecast.Key{Code: drift.IntegrationMismatch, Component: "products"}))
			}
		})
	}
}

func TestParseNotice(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		header  http.Header
		want    forecast.Notice
		wantErr string
	}{
		{name: "none", header: http.Header{}, want: forecast.Notice{Seen: now}},
		{
			name:   "RFC 9745 and RFC 8594",
			header: http.Header{"Deprecation": {"@1688169599"}, "Sunset": {"Thu, 31 Dec 2026 23:59:59 GMT"}},
			want: forecast.Notice{Seen: now, Deprecation: ptr(time.Unix(1688169599, 0).UTC()),
				Sunset: ptr(time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC))},
		},
		{
			name:   "Shopify's reason",
			header: http.Header{"X-Shopify-Api-Deprecated-Reason": {"https://shopify.dev/changelog/x"}},
			want:   forecast.Notice{Seen: now, Reason: "https://shopify.dev/changelog/x"},
		},
		{
			name:    "a malformed Sunset keeps the Deprecation",
			header:  http.Header{"Deprecation": {"@1688169599"}, "Sunset": {"next tuesday"}},
			want:    forecast.Notice{Seen: now, Deprecation: ptr(time.Unix(1688169599, 0).UTC())},
			wantErr: `malformed provider notice: Sunset: "next tuesday" is not an HTTP-date`,
		},
		{
			name:    "a Deprecation that is not a structured date",
			header:  http.Header{"Deprecation": {"true"}},
			want:    forecast.Notice{Seen: now},
			wantErr: `Deprecation: "true" is not a structured-field date (@unix-seconds)`,
		},
		{
			name:    "too many digits",
			header:  http.Header{"Deprecation": {"@1234567890123456"}},
			want:    forecast.Notice{Seen: now},
			wantErr: "is not a structured-field date",
		},
	} {
		got, err := forecast.ParseNotice(tc.header, now)
		if tc.wantErr != "" {
			require.ErrorContains(t, err, tc.wantErr, tc.name)
		} else {
			require.NoError(t, err, tc.name)
		}
		require.Equal(t, tc.want, got, tc.name)
	}
}

func FuzzParseNotice(f *testing.F) {
	for _, seed := range [][2]string{
		{"@1688169599", "Sat, 31 Dec 2018 23:59:59 GMT"},
		{"@-1", ""}, {"", "Sunday, 06-Nov-94 08:49:37 GMT"}, {"@", "x"}, {"true", "Sun Nov  6 08:49:37 1994"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, dep, sunset string) {
		n, err := forecast.ParseNotice(http.Header{"Deprecation": {dep}, "Sunset": {sunset}}, now)
		if err != nil {
			require.Contains(t, err.Error(), "malformed provider notice")
		}
		require.Equal(t, now, n.Seen)
		if n.Sunset != nil {
			require.Equal(t, time.UTC, n.Sunset.Location())
		}
	})
}

func TestSunsetIndicator(t *testing.T) {
	t.Parallel()
	spec := shopStack("2026-10")
	obs := func(n map[string]forecast.NoticeReading) forecast.Reading {
		return forecast.Indicate(forecast.Observation{ClientID: "a", StackID: "b", Spec: spec, Notices: n, Now: now,
			Resources: map[string]drift.ResourceObservation{"cert": {Status: drift.StatusHealthy, NotAfter: ptr(now.Add(400 * day))}}},
			testParams, nil)
	}
	r := obs(map[string]forecast.NoticeReading{
		"cms":       {Notice: forecast.Notice{Sunset: ptr(now.Add(30 * day)), Deprecation: ptr(now.Add(-day)), Seen: now}},
		"ecommerce": {Notice: forecast.Notice{Sunset: ptr(now.Add(300 * day)), Seen: now}},
	})
	require.Equal(t, []string{"provider_changed/cms@" + now.Add(30*day).Format(time.RFC3339)}, keys(r))
	require.Equal(t, forecast.IndicatorSunset, r.Forecasts[0].Evidence.Indicator)

	// A deprecation without a sunset names no date of breakage.
	require.Empty(t, obs(map[string]forecast.NoticeReading{"cms": {Notice: forecast.Notice{Deprecation: ptr(now), Seen: now}}}).Forecasts)

	bad := obs(map[string]forecast.NoticeReading{"cms": {Err: `malformed provider notice: Sunset: "soon" is not an HTTP-date`}})
	require.Empty(t, bad.Forecasts)
	require.Contains(t, bad.UnknownOf(forecast.Key{Code: drift.ProviderChanged, Component: "cms"}), `"soon" is not an HTTP-date`)
}

func TestRefusalIndicator(t *testing.T) {
	t.Parallel()
	first := now.Add(-time.Hour)
	for _, tc := range []struct {
		name        string
		streak      forecast.RefusalStreak
		want        []string
		wantUnknown bool
	}{
		{
			name:   "a streak on a topic names its integration",
			streak: forecast.RefusalStreak{Provider: "shopify", Topic: "orders/create", Count: 4, First: first, Last: now, LastStatus: 503},
			want:   []string{"webhook_broken/orders@" + first.Add(4*time.Hour).Format(time.RFC3339)},
		},
		{
			name:   "no topic: every integration of the provider",
			streak: forecast.RefusalStreak{Provider: "shopify", Count: 3, First: first, Last: now, LastStatus: 401},
			want: []string{"webhook_broken/orders@" + first.Add(4*time.Hour).Format(time.RFC3339),
				"webhook_broken/products@" + first.Add(4*time.Hour).Format(time.RFC3339)},
		},
		{name: "below the threshold", streak: forecast.RefusalStreak{Provider: "shopify", Topic: "orders/create", Count: 2, First: first, Last: now}},
		{name: "a provider that does not delete subscriptions", streak: forecast.RefusalStreak{Provider: "sanity", Count: 20, First: first, Last: now}},
		{name: "a topic no integration holds", streak: forecast.RefusalStreak{Provider: "shopify", Topic: "carts/update", Count: 9, First: first, Last: now}},
		{
			name:        "clocks that disagree",
			streak:      forecast.RefusalStreak{Provider: "shopify", Topic: "orders/create", Count: 5, First: now.Add(time.Hour), Last: now.Add(2 * time.Hour)},
			wantUnknown: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := forecast.Indicate(forecast.Observation{ClientID: "a", StackID: "b", Spec: shopStack("2026-10"), Now: now,
				Refusals:  []forecast.RefusalStreak{tc.streak},
				Resources: map[string]drift.ResourceObservation{"cert": {Status: drift.StatusHealthy, NotAfter: ptr(now.Add(400 * day))}}},
				testParams, nil)
			require.Equal(t, tc.want, keys(r))
			for _, f := range r.Forecasts {
				require.Equal(t, forecast.ClassTrend, f.Class)
				// An hour of refusals is a quarter of the window; 4 of 9
				// attempts more.
				require.InDelta(t, max(float64(tc.streak.Count)/9, 0.25), f.Confidence, 0.01)
			}
			if tc.wantUnknown {
				require.Contains(t, r.UnknownOf(forecast.Key{Code: drift.WebhookBroken, Component: "orders"}), "disagree with the clock")
			}
		})
	}
}

func TestRefusalAge(t *testing.T) {
	t.Parallel()
	read := func(age time.Duration) []string {
		s := forecast.RefusalStreak{Provider: "shopify", Topic: "orders/create", Count: 6, First: now.Add(-age), Last: now, LastStatus: 503}
		return keys(forecast.Indicate(forecast.Observation{ClientID: "a", StackID: "b", Spec: shopStack("2026-10"), Now: now,
			Refusals:  []forecast.RefusalStreak{s},
			Resources: map[string]drift.ResourceObservation{"cert": {Status: drift.StatusHealthy, NotAfter: ptr(now.Add(400 * day))}}},
			forecast.Params{RefusalStreak: 3, RefusalAge: 2 * time.Hour}, nil))
	}
	require.Empty(t, read(90*time.Minute), "six refusals in 90 minutes: an outage Shopify's retries may outlast")
	require.Equal(t, []string{"webhook_broken/orders@" + now.Add(-2*time.Hour).Add(4*time.Hour).Format(time.RFC3339)}, read(2*time.Hour))
}

func TestDatedIndicatorsStopAtTheirDate(t *testing.T) {
	t.Parallel()
	r := forecast.Indicate(forecast.Observation{ClientID: "a", StackID: "b", Spec: shopStack("2026-10"), Now: now,
		Notices:   map[string]forecast.NoticeReading{"cms": {Notice: forecast.Notice{Sunset: ptr(now.Add(-time.Hour)), Seen: now}}},
		Resources: map[string]drift.ResourceObservation{"cert": {Status: drift.StatusHealthy, NotAfter: ptr(now.Add(13 * day))}}},
		testParams, nil)
	require.Empty(t, r.Forecasts, "a sunset passed and a certificate inside min_days_valid are drift now, not forecasts")
	require.Empty(t, r.Unknown)
}

func TestFlappingIndicatorHasHysteresis(t *testing.T) {
	t.Parallel()
	resolved := now.Add(-time.Hour)
	d := drift.Drift{ID: "d1", Code: drift.ResourceUnhealthy, Component: "home", ResolvedAt: &resolved}
	openDrift := drift.Drift{ID: "d2", Code: drift.ContentStale, Component: "posts"}
	read := func(returns int, isOpen bool) forecast.Reading {
		return forecast.Indicate(forecast.Observation{ClientID: "a", StackID: "b", Spec: shopStack("2026-10"), Now: now,
			Drifts: []drift.Drift{d, openDrift}, Returns: map[string]int{"d1": returns, "d2": 9},
			Resources: map[string]drift.ResourceObservation{"cert": {Status: drift.StatusHealthy, NotAfter: ptr(now.Add(400 * day))}}},
			forecast.Params{FlapReturns: 3, FlapWindow: 24 * time.Hour},
			func(s forecast.Source) bool {
				return isOpen && s == forecast.Source{Key: forecast.Key{Code: drift.ResourceUnhealthy, Component: "home"}, Indicator: forecast.IndicatorFlapping}
			})
	}
	// Raised at 3 returns, with the mean gap (8h) after the last resolution.
	require.Equal(t, []string{"resource_unhealthy/home@" + resolved.Add(8*time.Hour).Format(time.RFC3339)}, keys(read(3, false)))
	// 2 returns: not raised, but an open one is kept (hysteresis).
	require.Empty(t, read(2, false).Forecasts)
	require.Len(t, read(2, true).Forecasts, 1)
	// 1 return clears even an open one.
	require.Empty(t, read(1, true).Forecasts)
	// A drift that is open now is not forecast: it is here.
	for _, f := range read(3, false).Forecasts {
		require.NotEqual(t, "posts", f.Component)
	}
}
