package forecast_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
)

// statuses are n answers every 5 minutes up to now, refused (401) where
// refused(i).
func statuses(n int, refused func(i int) bool) []forecast.StatusSample {
	out := make([]forecast.StatusSample, n)
	for i := range n {
		st := http.StatusOK
		if refused(i) {
			st = http.StatusUnauthorized
		}
		out[i] = forecast.StatusSample{At: now.Add(-time.Duration(n-1-i) * 5 * time.Minute), Status: st}
	}
	return out
}

func TestCredentials(t *testing.T) {
	t.Parallel()
	p := trendParams
	p.TokenHorizon = 3 * day
	cms := forecast.Key{Code: drift.ProviderUnauthorized, Component: "cms"}
	cum := func(i int) int { return int(0.45 * float64(i*i) / (2 * 72)) }
	rising := statuses(72, func(i int) bool { return cum(i+1) > cum(i) })
	allOK := statuses(72, func(int) bool { return false })
	for _, tc := range []struct {
		name      string
		c         forecast.CredentialReading
		indicator string
		class     forecast.Class
		unknown   string
	}{
		{name: "expires tomorrow, no refresh", c: forecast.CredentialReading{ExpiresAt: ptr(now.Add(day)), Statuses: allOK},
			indicator: forecast.IndicatorToken, class: forecast.ClassDated},
		{name: "expires tomorrow, refreshed as usual", c: forecast.CredentialReading{ExpiresAt: ptr(now.Add(day)), Refreshable: true, Statuses: allOK}},
		{name: "expires tomorrow, refreshes failing", c: forecast.CredentialReading{ExpiresAt: ptr(now.Add(day)), Refreshable: true, RefreshFailures: 2},
			indicator: forecast.IndicatorToken, class: forecast.ClassDated},
		{name: "expires in a month", c: forecast.CredentialReading{ExpiresAt: ptr(now.Add(30 * day)), Statuses: allOK}},
		{name: "expired", c: forecast.CredentialReading{ExpiresAt: ptr(now.Add(-time.Hour)), Statuses: allOK}},
		{name: "401 share rising", c: forecast.CredentialReading{Statuses: rising}, indicator: forecast.IndicatorAuthShare, class: forecast.ClassTrend},
		{name: "no expiry, all accepted", c: forecast.CredentialReading{Statuses: allOK}},
		{name: "malformed expiry and three answers", c: forecast.CredentialReading{Err: `expires_at "tomorrow" is not a date`, Statuses: allOK[69:]},
			unknown: `expires_at "tomorrow" is not a date; the share of refused answers (401, 403) trend: 3 samples`},
		{name: "answers after now", c: forecast.CredentialReading{Statuses: append(statuses(20, func(int) bool { return true }),
			forecast.StatusSample{At: now.Add(2 * time.Hour), Status: 401})}, unknown: "clocks disagree"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := forecast.Indicate(forecast.Observation{ClientID: "a", StackID: "b", Now: now,
				Credentials: map[string]forecast.CredentialReading{"cms": tc.c}}, p, nil)
			if tc.indicator == "" {
				require.Empty(t, r.Forecasts)
			} else {
				require.Len(t, r.Forecasts, 1)
				require.Equal(t, cms, r.Forecasts[0].Key())
				require.Equal(t, tc.indicator, r.Forecasts[0].Evidence.Indicator)
				require.Equal(t, tc.class, r.Forecasts[0].Class)
			}
			require.Contains(t, r.UnknownOf(cms), tc.unknown)
		})
	}
}

func TestContent(t *testing.T) {
	t.Parallel()
	p := forecast.Params{BuildFailStreak: 3, WaitFactor: 3, TrendWindow: 6 * time.Hour, ContentWaitShare: -1}
	post := forecast.Key{Code: drift.ContentStale, Component: "post"}
	build := func(ago time.Duration, d time.Duration, ok bool) forecast.BuildSample {
		return forecast.BuildSample{At: now.Add(-ago), Duration: d, OK: ok}
	}
	failed3 := []forecast.BuildSample{build(4*time.Hour, time.Minute, true), build(3*time.Hour, time.Minute, false),
		build(2*time.Hour, time.Minute, false), build(time.Hour, time.Minute, false)}
	// Build time rising a minute an hour (a build every 2 h over 14 h)
	// toward a 16-minute timeout: 14 minutes now, the timeout in 2 h.
	var slowing []forecast.BuildSample
	for i := range 8 {
		slowing = append(slowing, build(time.Duration(7-i)*2*time.Hour, time.Duration(14-2*(7-i))*time.Minute, true))
	}
	waiting := func(since time.Duration) map[string]time.Time { return map[string]time.Time{"post": now.Add(-since)} }
	for _, tc := range []struct {
		name      string
		c         forecast.ContentReading
		open      bool
		indicator string
		unknown   string
	}{
		{name: "three failed builds, content waiting", c: forecast.ContentReading{MaxStaleness: 6 * time.Hour, Waiting: waiting(time.Hour), Builds: failed3},
			indicator: forecast.IndicatorBuilds},
		{name: "two failed builds", c: forecast.ContentReading{MaxStaleness: 6 * time.Hour, Waiting: waiting(time.Hour), Builds: failed3[:3]}},
		{name: "three failed builds, nothing waiting", c: forecast.ContentReading{MaxStaleness: 6 * time.Hour, Builds: failed3}},
		{name: "build time reaching the timeout", c: forecast.ContentReading{MaxStaleness: 6 * time.Hour, Waiting: waiting(time.Hour),
			Builds: slowing, BuildTimeout: 16 * time.Minute}, indicator: forecast.IndicatorBuildTime},
		{name: "build time reaching the timeout after the content is stale", c: forecast.ContentReading{MaxStaleness: 2 * time.Hour,
			Waiting: waiting(time.Hour), Builds: slowing, BuildTimeout: 16 * time.Minute}},
		{name: "waiting four times the usual", c: forecast.ContentReading{MaxStaleness: 6 * time.Hour, Waiting: waiting(time.Hour), UsualWait: 15 * time.Minute},
			indicator: forecast.IndicatorWaiting},
		{name: "waiting twice the usual", c: forecast.ContentReading{MaxStaleness: 6 * time.Hour, Waiting: waiting(30 * time.Minute), UsualWait: 15 * time.Minute}},
		{name: "waiting twice the usual, kept while open", c: forecast.ContentReading{MaxStaleness: 6 * time.Hour, Waiting: waiting(30 * time.Minute),
			UsualWait: 15 * time.Minute}, open: true, indicator: forecast.IndicatorWaiting},
		{name: "stale already", c: forecast.ContentReading{MaxStaleness: time.Hour, Waiting: waiting(2 * time.Hour), Builds: failed3}},
		{name: "no max staleness", c: forecast.ContentReading{Waiting: waiting(time.Hour), Builds: failed3}, unknown: "no max staleness"},
		{name: "content changed after now", c: forecast.ContentReading{MaxStaleness: time.Hour, Waiting: waiting(-time.Hour)}, unknown: "clocks disagree"},
		{name: "a build after now", c: forecast.ContentReading{MaxStaleness: 6 * time.Hour, Waiting: waiting(time.Hour),
			Builds: []forecast.BuildSample{build(-time.Hour, time.Minute, false)}}, unknown: "clocks disagree"},
		{name: "a negative build time", c: forecast.ContentReading{MaxStaleness: 6 * time.Hour, Waiting: waiting(time.Hour),
			Builds: []forecast.BuildSample{build(time.Hour, -time.Minute, false)}}, unknown: "negative duration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := tc.c
			r := forecast.Indicate(forecast.Observation{ClientID: "a", StackID: "b", Now: now, Content: &c}, p,
				func(s forecast.Source) bool {
					return tc.open && s == forecast.Source{Key: post, Indicator: forecast.IndicatorWaiting}
				})
			if tc.indicator == "" {
				require.Empty(t, r.Forecasts)
			} else {
				require.Equal(t, []string{post.String() + "@" + c.Waiting["post"].Add(c.MaxStaleness).Format(time.RFC3339)}, keys(r))
				require.Equal(t, tc.indicator, r.Forecasts[0].Evidence.Indicator)
			}
			require.Contains(t, r.UnknownOf(post), tc.unknown)
		})
	}
}

// Content is forecast stale only once it waited ContentWaitShare of
// max_staleness, whatever the cause; an open forecast is kept before.
func TestContentWaitShare(t *testing.T) {
	t.Parallel()
	p := forecast.Params{BuildFailStreak: 3, WaitFactor: 3, ContentWaitShare: 0.75}
	post := forecast.Key{Code: drift.ContentStale, Component: "post"}
	failed := []forecast.BuildSample{{At: now.Add(-50 * time.Minute), Duration: time.Minute}, {At: now.Add(-30 * time.Minute), Duration: time.Minute},
		{At: now.Add(-10 * time.Minute), Duration: time.Minute}}
	indicate := func(waited time.Duration, open bool) forecast.Reading {
		c := forecast.ContentReading{MaxStaleness: 2 * time.Hour, Waiting: map[string]time.Time{"post": now.Add(-waited)},
			Builds: failed, UsualWait: 5 * time.Minute}
		return forecast.Indicate(forecast.Observation{ClientID: "a", StackID: "b", Now: now, Content: &c}, p,
			func(s forecast.Source) bool {
				return open && s == forecast.Source{Key: post, Indicator: forecast.IndicatorBuilds}
			})
	}
	require.Empty(t, indicate(time.Hour, false).Forecasts, "three failed builds and 12x the usual wait, but half the 2 h allowance")
	require.Len(t, indicate(time.Hour, true).Forecasts, 1, "an open forecast is kept")
	r := indicate(95*time.Minute, false)
	require.Len(t, r.Forecasts, 1, "past three quarters of the allowance")
	require.Equal(t, forecast.IndicatorBuilds, r.Forecasts[0].Evidence.Indicator)
	require.Equal(t, now.Add(25*time.Minute), r.Forecasts[0].ETA)
}

func TestRefusalStreakRestartsWhenTheSubscriptionIsRecreated(t *testing.T) {
	t.Parallel()
	l := forecast.NewRefusalLog()
	orders := http.Header{"X-Shopify-Topic": {"orders/create"}}
	l.Record("shopify", "acme", orders, 503, now)
	l.Record("shopify", "acme", orders, 503, now.Add(4*time.Hour))
	// Shopify deleted the subscription; Blackwell re-created it.
	l.Recreated("shopify", "acme", "orders/create", now.Add(5*time.Hour))
	require.Empty(t, l.Streaks("acme"))
	l.Record("shopify", "acme", orders, 503, now.Add(6*time.Hour))
	require.Equal(t, []forecast.RefusalStreak{{Provider: "shopify", Topic: "orders/create", Count: 1,
		First: now.Add(6 * time.Hour), Last: now.Add(6 * time.Hour), LastStatus: 503}}, l.Streaks("acme"))
	// A re-creation older than the streak's last refusal leaves it.
	l.Recreated("shopify", "acme", "orders/create", now.Add(5*time.Hour))
	require.Len(t, l.Streaks("acme"), 1)
}
