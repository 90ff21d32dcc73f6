package forecast_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
)

// trendParams: a 6 h window, 12 points, a 2 h horizon, a 50 % share (the
// probes' and the 401 share's).
var trendParams = forecast.Params{TrendWindow: 6 * time.Hour, TrendMinPoints: 12, TrendHorizon: 2 * time.Hour, ErrorShareLimit: 0.5,
	AuthShareLimit: 0.5, AuthHorizon: 2 * time.Hour}

// apiStack declares an http resource "api" whose answers may take 2 s.
func apiStack() config.StackSpec {
	return config.StackSpec{Resources: map[string]config.Resource{
		"api": {Probe: config.ProbeHTTP, URL: "https://api.example/", MaxLatency: config.Duration(2 * time.Second)},
	}}
}

// probes are n samples every step up to now, latency lat(i) and failed
// when fail(i).
func probes(n int, step time.Duration, lat func(i int) time.Duration, fail func(i int) bool) []forecast.ProbeSample {
	out := make([]forecast.ProbeSample, n)
	for i := range n {
		out[i] = forecast.ProbeSample{At: now.Add(-time.Duration(n-1-i) * step), Latency: lat(i), Failed: fail != nil && fail(i)}
	}
	return out
}

func never(int) bool { return false }

func TestProbeTrends(t *testing.T) {
	t.Parallel()
	api := forecast.Key{Code: drift.ResourceUnhealthy, Component: "api"}
	// Latency rising from 0.5 s by 0.2 s an hour over 6 h (5-minute passes)
	// is 1.7 s now and reaches 2 s in 1.5 h.
	rising := probes(72, 5*time.Minute, func(i int) time.Duration {
		return 500*time.Millisecond + time.Duration(float64(i)*5/60*0.2*float64(time.Second))
	}, never)
	// Slower: 0.2 s an hour, 1.4 s now, reaches 2 s in 3 h (out of a 2 h
	// horizon, inside twice it).
	slower := probes(72, 5*time.Minute, func(i int) time.Duration {
		return 1400*time.Millisecond + time.Duration(float64(i-71)*5/60*0.2*float64(time.Second))
	}, never)
	flat := probes(72, 5*time.Minute, func(int) time.Duration { return time.Second }, never)
	// Failures from none to 45 % of the probes over 6 h (the share grows
	// linearly), trending toward 50 %.
	cum := func(i int) int { return int(0.45 * float64(i*i) / (2 * 72)) }
	failing := probes(72, 5*time.Minute, func(int) time.Duration { return 300 * time.Millisecond }, func(i int) bool {
		return cum(i+1) > cum(i)
	})
	future := append(append([]forecast.ProbeSample{}, rising...), forecast.ProbeSample{At: now.Add(time.Hour), Latency: time.Second})
	for _, tc := range []struct {
		name      string
		samples   []forecast.ProbeSample
		status    drift.ResourceStatus
		open      bool
		indicator string
		unknown   string
	}{
		{name: "latency rising toward max_latency", samples: rising, indicator: forecast.IndicatorLatency},
		{name: "flat latency", samples: flat},
		{name: "rising but past the horizon", samples: slower},
		{name: "rising past the horizon, kept while open", samples: slower, open: true, indicator: forecast.IndicatorLatency},
		{name: "error share rising", samples: failing, indicator: forecast.IndicatorErrorShare},
		{name: "unhealthy already", samples: rising, status: drift.StatusUnhealthy, unknown: "unhealthy this pass"},
		{name: "a trend of three points", samples: rising[69:], unknown: "3 samples"},
		{name: "many points over minutes", samples: probes(30, 10*time.Second, func(i int) time.Duration { return time.Duration(i) * 100 * time.Millisecond }, never),
			unknown: "a trend needs 3h0m0s"},
		{name: "a sample after now", samples: future, unknown: "clocks disagree"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := tc.status
			if st == "" {
				st = drift.StatusHealthy
			}
			o := forecast.Observation{ClientID: "a", StackID: "b", Spec: apiStack(), Now: now,
				Resources: map[string]drift.ResourceObservation{"api": {Status: st}},
				Probes:    map[string][]forecast.ProbeSample{"api": tc.samples}}
			r := forecast.Indicate(o, trendParams, func(s forecast.Source) bool {
				return tc.open && s == forecast.Source{Key: api, Indicator: forecast.IndicatorLatency}
			})
			if tc.indicator == "" {
				require.Empty(t, r.Forecasts)
			} else {
				require.Len(t, r.Forecasts, 1)
				f := r.Forecasts[0]
				require.Equal(t, api, f.Key())
				require.Equal(t, tc.indicator, f.Evidence.Indicator)
				require.Equal(t, forecast.ClassTrend, f.Class)
				require.True(t, f.ETA.After(now), "eta %s", f.ETA)
				f.RaisedAt = now
				require.NoError(t, forecast.Check(f))
			}
			if tc.unknown != "" {
				require.Contains(t, r.UnknownOf(api), tc.unknown)
			} else {
				require.Empty(t, r.UnknownOf(api))
			}
		})
	}
}

func TestProbeTrendETA(t *testing.T) {
	t.Parallel()
	// Exactly linear: 0.5 s + 0.2 s/h over the 6 h up to now = 1.7 s;
	// 2 s is 1.5 h away.
	s := probes(73, 5*time.Minute, func(i int) time.Duration {
		return 500*time.Millisecond + time.Duration(float64(i)/12*0.2*float64(time.Second))
	}, never)
	o := forecast.Observation{ClientID: "a", StackID: "b", Spec: apiStack(), Now: now, Probes: map[string][]forecast.ProbeSample{"api": s}}
	r := forecast.Indicate(o, trendParams, nil)
	require.Len(t, r.Forecasts, 1)
	require.WithinDuration(t, now.Add(90*time.Minute), r.Forecasts[0].ETA, time.Minute)
}

func TestProbeHistory(t *testing.T) {
	t.Parallel()
	h := forecast.NewProbeHistory(time.Hour)
	obs := func(st drift.ResourceStatus, lat time.Duration) map[string]drift.ResourceObservation {
		return map[string]drift.ResourceObservation{"api": {Status: st, Latency: lat}}
	}
	h.Record("a", "b", now.Add(-2*time.Hour), obs(drift.StatusHealthy, time.Second))
	h.Record("a", "b", now.Add(-30*time.Minute), obs(drift.StatusUnknown, 0))
	h.Record("a", "c", now, obs(drift.StatusHealthy, time.Second))
	got := h.Record("a", "b", now, obs(drift.StatusUnhealthy, 3*time.Second))
	require.Equal(t, map[string][]forecast.ProbeSample{"api": {{At: now, Latency: 3 * time.Second, Failed: true}}}, got,
		"older than an hour dropped, unknown not recorded, other stacks apart")
	h.Forget("a", "b", "api")
	require.Equal(t, map[string][]forecast.ProbeSample{"api": {{At: now.Add(time.Minute), Latency: time.Second}}},
		h.Record("a", "b", now.Add(time.Minute), obs(drift.StatusHealthy, time.Second)), "forgotten after a drift resolved")
}

// A line fitted to 0/1 answers moves in steps (one answer's lift of the
// line now). A share trend's limit is at least two steps, and a line
// within one step of its limit is forecast whatever its slope: on a feed
// of one answer a pass, the first refusal after hours of accepted ones
// lifts a line by about a tenth, past a 10 % limit at once, and the
// next refusal by as much again, past any band a slope gives. The 401
// share has its own limit and horizon (AuthShareLimit, AuthHorizon).
func TestShareSteps(t *testing.T) {
	t.Parallel()
	cms := forecast.Key{Code: drift.ProviderUnauthorized, Component: "cms"}
	// answers are per passes of every 10 minutes up to now, per answers
	// a pass (a second apart), refused when refused(pass, answer).
	answers := func(passes, per int, refused func(pass, answer int) bool) []forecast.StatusSample {
		var out []forecast.StatusSample
		for i := range passes {
			at := now.Add(-time.Duration(passes-1-i) * 10 * time.Minute)
			for j := range per {
				st := 200
				if refused(i, j) {
					st = 401
				}
				out = append(out, forecast.StatusSample{At: at.Add(time.Duration(j-per+1) * time.Second), Status: st})
			}
		}
		return out
	}
	lastPass := func(n int) func(int, int) bool { return func(i, _ int) bool { return i == n-1 } }
	// Every third pass refused for the last 2 hours, one answer a pass.
	spreading := func(i, _ int) bool { return i >= 24 && i%3 == 0 }
	p := forecast.Params{TrendWindow: 6 * time.Hour, TrendMinPoints: 12, TrendHorizon: 2 * time.Hour, ErrorShareLimit: 0.5,
		AuthShareLimit: 0.1, AuthHorizon: 30 * time.Minute}
	for _, tc := range []struct {
		name     string
		statuses []forecast.StatusSample
		p        forecast.Params
		open     bool
		raised   bool
		limit    float64 // of the forecast: max(AuthShareLimit, 2 steps)
		unknown  string
	}{
		{name: "one answer a pass: the first refusal after 4 h", statuses: answers(25, 1, lastPass(25)), p: p, raised: true, limit: 0.26},
		{name: "one answer a pass: all accepted", statuses: answers(25, 1, func(int, int) bool { return false }), p: p},
		{name: "three answers a pass: one refusal is a third of a step", statuses: answers(25, 3, func(i, j int) bool { return i == 24 && j == 0 }), p: p},
		{name: "three answers a pass: every answer of the last pass refused", statuses: answers(25, 3, lastPass(25)), p: p},
		{name: "one answer a pass: refusals spreading, past two steps", statuses: answers(36, 1, spreading), p: p},
		{name: "the same, open: kept", statuses: answers(36, 1, spreading), p: p, open: true, raised: true, limit: 0.2},
		{name: "the 401 share's own limit, not the probes'", statuses: answers(25, 1, lastPass(25)),
			p: forecast.Params{TrendWindow: 6 * time.Hour, TrendMinPoints: 12, ErrorShareLimit: 0.1, AuthShareLimit: 0.9}},
		{name: "a trend of three answers", statuses: answers(3, 1, lastPass(3)), p: p, unknown: "3 samples"},
		{name: "answers after now", statuses: append(answers(25, 1, lastPass(25)), forecast.StatusSample{At: now.Add(time.Hour), Status: 401}),
			p: p, unknown: "clocks disagree"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := forecast.Observation{ClientID: "a", StackID: "b", Now: now,
				Credentials: map[string]forecast.CredentialReading{"cms": {Statuses: tc.statuses}}}
			r := forecast.Indicate(o, tc.p, func(s forecast.Source) bool {
				return tc.open && s == forecast.Source{Key: cms, Indicator: forecast.IndicatorAuthShare}
			})
			if !tc.raised {
				require.Empty(t, r.Forecasts)
			} else {
				require.Len(t, r.Forecasts, 1)
				f := r.Forecasts[0]
				require.Equal(t, forecast.IndicatorAuthShare, f.Evidence.Indicator)
				require.InDelta(t, tc.limit, f.Evidence.Values["limit"], 0.01)
				require.Contains(t, f.Evidence.Values, "step")
				require.False(t, f.ETA.Before(now), "eta %s", f.ETA)
				f.RaisedAt = now
				require.NoError(t, forecast.Check(f))
			}
			if tc.unknown != "" {
				require.Contains(t, r.UnknownOf(cms), tc.unknown)
			} else {
				require.Empty(t, r.UnknownOf(cms))
			}
		})
	}
}
