package forecast_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
)

// Several indicators aim at one key; what one of them reads decides only
// the forecasts it raised. (a) One that cannot read holds its own forecast
// and not another's whose precursor went away; (b) one that reads no
// precursor clears its own forecast and not another's whose indicator
// cannot read this pass. Each case runs the indicators over an
// observation and tracks one open forecast of the key.
func TestTrackDecidesPerIndicator(t *testing.T) {
	t.Parallel()
	p := trendParams
	p.TokenHorizon = 3 * day
	api := forecast.Key{Code: drift.ResourceUnhealthy, Component: "api"}
	cms := forecast.Key{Code: drift.ProviderChanged, Component: "cms"}
	products := forecast.Key{Code: drift.IntegrationMismatch, Component: "products"}
	auth := forecast.Key{Code: drift.ProviderUnauthorized, Component: "cms"}
	flat := probes(72, 5*time.Minute, func(int) time.Duration { return time.Second }, never)
	rising := probes(72, 5*time.Minute, func(i int) time.Duration {
		return 500*time.Millisecond + time.Duration(float64(i)*5/60*0.2*float64(time.Second))
	}, never)
	// Most probes of the window failed: too few answers for a latency
	// trend, while the share of failures is read (at its limit already:
	// drift now, not a precursor).
	mostlyFailing := probes(72, 5*time.Minute, func(int) time.Duration { return time.Second }, func(i int) bool { return i%9 != 0 })
	allOK := statuses(72, func(int) bool { return false })
	withAPI := func(samples []forecast.ProbeSample) forecast.Observation {
		return forecast.Observation{Spec: apiStack(),
			Resources: map[string]drift.ResourceObservation{"api": {Status: drift.StatusHealthy}},
			Probes:    map[string][]forecast.ProbeSample{"api": samples}}
	}
	malformedNotice := forecast.Observation{Spec: shopStack("2026-10"),
		Notices: map[string]forecast.NoticeReading{"cms": {Err: `malformed provider notice: Sunset: "soon" is not an HTTP-date`}}}
	for _, tc := range []struct {
		name string
		obs  forecast.Observation
		open forecast.Source
		want string // kept, cleared or updated
		// indicator is the open forecast's indicator after the pass
		// (when kept or updated).
		indicator string
	}{
		// (a) an unknown indicator holds only its own.
		{name: "a latency trend of three points does not hold a flapping forecast",
			obs: withAPI(rising[69:]), open: forecast.Source{Key: api, Indicator: forecast.IndicatorFlapping}, want: "cleared"},
		{name: "a latency trend of three points holds its own",
			obs: withAPI(rising[69:]), open: forecast.Source{Key: api, Indicator: forecast.IndicatorLatency}, want: "kept",
			indicator: forecast.IndicatorLatency},
		{name: "a malformed notice does not hold an environment forecast",
			obs: malformedNotice, open: forecast.Source{Key: cms, Indicator: forecast.IndicatorEnvironment}, want: "cleared"},
		{name: "a malformed notice holds its own",
			obs: malformedNotice, open: forecast.Source{Key: cms, Indicator: forecast.IndicatorSunset}, want: "kept",
			indicator: forecast.IndicatorSunset},
		{name: "an unreadable api_version does not hold an environment forecast",
			obs: forecast.Observation{Spec: shopStack("unstable")}, open: forecast.Source{Key: products, Indicator: forecast.IndicatorEnvironment},
			want: "cleared"},
		// (b) no precursor from one indicator clears only its own.
		{name: "a malformed expiry is held though the 401 share is flat",
			obs: forecast.Observation{Credentials: map[string]forecast.CredentialReading{
				"cms": {Err: `expires_at "tomorrow" is not a date`, Statuses: allOK}}},
			open: forecast.Source{Key: auth, Indicator: forecast.IndicatorToken}, want: "kept", indicator: forecast.IndicatorToken},
		{name: "a 401 share of three answers is held though the expiry is far",
			obs: forecast.Observation{Credentials: map[string]forecast.CredentialReading{
				"cms": {ExpiresAt: ptr(now.Add(30 * day)), Statuses: allOK[69:]}}},
			open: forecast.Source{Key: auth, Indicator: forecast.IndicatorAuthShare}, want: "kept", indicator: forecast.IndicatorAuthShare},
		{name: "a latency trend without answers is held though the error share says nothing",
			obs: withAPI(mostlyFailing), open: forecast.Source{Key: api, Indicator: forecast.IndicatorLatency}, want: "kept",
			indicator: forecast.IndicatorLatency},
		{name: "the error share reading no precursor clears its own",
			obs: withAPI(flat), open: forecast.Source{Key: api, Indicator: forecast.IndicatorErrorShare}, want: "cleared"},
		// Another indicator that indicates the key takes the forecast
		// over rather than raising a second one.
		{name: "a latency rise takes over an error share forecast",
			obs: withAPI(rising), open: forecast.Source{Key: api, Indicator: forecast.IndicatorErrorShare}, want: "updated",
			indicator: forecast.IndicatorLatency},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := tc.obs
			o.ClientID, o.StackID, o.Now = "a", "b", now
			open := forecast.Forecast{ID: "fc-open", ClientID: "a", StackID: "b", Code: tc.open.Key.Code, Component: tc.open.Key.Component,
				ETA: now.Add(day), Confidence: 0.7, Class: forecast.ClassTrend, RaisedAt: now.Add(-time.Hour),
				Evidence: forecast.Evidence{Indicator: tc.open.Indicator}}
			r := forecast.Indicate(o, p, func(s forecast.Source) bool { return s == tc.open })
			got := forecast.Track([]forecast.Forecast{open}, r, now, ids())
			require.Empty(t, got.Raised, "one open forecast per key")
			var after []forecast.Forecast
			switch tc.want {
			case "kept":
				after = got.Kept
				require.Empty(t, got.Cleared)
				require.Empty(t, got.Updated)
			case "updated":
				after = got.Updated
				require.Empty(t, got.Cleared)
			case "cleared":
				require.Len(t, got.Cleared, 1, "reading %+v", r)
				require.Empty(t, got.Kept)
				require.Empty(t, got.Updated)
				return
			}
			require.Len(t, after, 1, "reading %+v", r)
			require.Equal(t, "fc-open", after[0].ID)
			require.Equal(t, tc.indicator, after[0].Evidence.Indicator)
		})
	}
}
