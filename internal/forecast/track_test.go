package forecast_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
)

func ids() func() string {
	n := 0
	return func() string { n++; return fmt.Sprintf("fc-%d", n) }
}

func fc(code drift.Code, component string, eta time.Time, conf float64) forecast.Forecast {
	return forecast.Forecast{ClientID: "a", StackID: "b", Code: code, Component: component, ETA: eta, Confidence: conf,
		Class: forecast.ClassDated, Evidence: forecast.Evidence{Indicator: forecast.IndicatorCertificate}}
}

func TestTrack(t *testing.T) {
	t.Parallel()
	eta := now.Add(5 * day)
	cert := fc(drift.ResourceUnhealthy, "cert", eta, 0.7)
	hook := fc(drift.WebhookBroken, "orders", now.Add(3*time.Hour), 0.4)
	stored := func(f forecast.Forecast, id string, raised time.Time) forecast.Forecast {
		f.ID, f.RaisedAt = id, raised
		return f
	}
	earlier := now.Add(-time.Hour)
	later := now.Add(10 * time.Minute)

	// Pass 1: both indicated, nothing open: both raised.
	t1 := forecast.Track(nil, forecast.Reading{Forecasts: []forecast.Forecast{cert, hook}}, now, ids())
	require.Len(t, t1.Raised, 2)
	require.Equal(t, "fc-1", t1.Raised[0].ID)
	require.Equal(t, now, t1.Raised[0].RaisedAt)
	require.Empty(t, t1.Updated)
	require.Empty(t, t1.Cleared)

	open := []forecast.Forecast{stored(cert, "fc-1", earlier), stored(hook, "fc-2", earlier)}
	for _, tc := range []struct {
		name                           string
		reading                        forecast.Reading
		raised, updated, kept, cleared []string
		wantETA                        time.Time // of the updated cert forecast
	}{
		{
			name:    "the same indicators again: nothing raised twice, nothing written",
			reading: forecast.Reading{Forecasts: []forecast.Forecast{cert, hook}},
			kept:    []string{"fc-1", "fc-2"},
		},
		{
			name: "an ETA that moved by seconds is not a change",
			reading: forecast.Reading{Forecasts: []forecast.Forecast{
				fc(drift.ResourceUnhealthy, "cert", eta.Add(30*time.Second), 0.72), hook}},
			kept: []string{"fc-1", "fc-2"},
		},
		{
			name:    "an ETA that moved updates in place",
			reading: forecast.Reading{Forecasts: []forecast.Forecast{fc(drift.ResourceUnhealthy, "cert", eta.Add(day), 0.7), hook}},
			updated: []string{"fc-1"}, kept: []string{"fc-2"}, wantETA: eta.Add(day),
		},
		{
			name:    "an indicator that went away clears its forecast",
			reading: forecast.Reading{Forecasts: []forecast.Forecast{cert}},
			kept:    []string{"fc-1"}, cleared: []string{"fc-2"},
		},
		{
			name: "an unknown indicator keeps its forecast as it is",
			reading: forecast.Reading{Forecasts: []forecast.Forecast{hook},
				Unknown: map[forecast.Source]string{{Key: forecast.Key{Code: drift.ResourceUnhealthy, Component: "cert"}, Indicator: forecast.IndicatorCertificate}: "probe timed out"}},
			kept: []string{"fc-2", "fc-1"},
		},
		{
			name:    "a new key is raised beside the open ones",
			reading: forecast.Reading{Forecasts: []forecast.Forecast{cert, hook, fc(drift.IntegrationMismatch, "orders", eta, 0.6)}},
			raised:  []string{"fc-1"}, kept: []string{"fc-1", "fc-2"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := forecast.Track(open, tc.reading, later, ids())
			idsOf := func(fs []forecast.Forecast) []string {
				var out []string
				for _, f := range fs {
					out = append(out, f.ID)
				}
				return out
			}
			require.Equal(t, tc.raised, idsOf(got.Raised), "raised")
			require.Equal(t, tc.updated, idsOf(got.Updated), "updated")
			require.Equal(t, tc.kept, idsOf(got.Kept), "kept")
			require.Equal(t, tc.cleared, idsOf(got.Cleared), "cleared")
			for _, f := range got.Cleared {
				require.Equal(t, later, *f.ClearedAt)
			}
			for _, f := range got.Updated {
				require.Equal(t, earlier, f.RaisedAt, "an update keeps when it was raised")
				require.Equal(t, tc.wantETA, f.ETA)
			}
			for _, f := range got.Raised {
				require.Equal(t, later, f.RaisedAt)
			}
			require.Len(t, got.Open(), len(got.Raised)+len(got.Updated)+len(got.Kept))
		})
	}
}

func TestTrackIgnoresClearedAndDuplicates(t *testing.T) {
	t.Parallel()
	cleared := now.Add(-day)
	old := fc(drift.ResourceUnhealthy, "cert", now.Add(day), 0.7)
	old.ID, old.RaisedAt, old.ClearedAt = "fc-old", now.Add(-2*day), &cleared
	again := fc(drift.ResourceUnhealthy, "cert", now.Add(day), 0.7)
	got := forecast.Track([]forecast.Forecast{old}, forecast.Reading{Forecasts: []forecast.Forecast{again, again}}, now, ids())
	require.Len(t, got.Raised, 1, "a cleared forecast is history: the indicator coming back raises a new one, once")
	require.Equal(t, "fc-1", got.Raised[0].ID)
	require.Empty(t, got.Cleared)
}

func TestCheck(t *testing.T) {
	t.Parallel()
	good := withRaised(fc(drift.ResourceUnhealthy, "cert", now.Add(day), 0.7))
	require.NoError(t, forecast.Check(good))
	for _, tc := range []struct {
		name string
		edit func(*forecast.Forecast)
		want string
	}{
		{"no client", func(f *forecast.Forecast) { f.ClientID = "" }, "client and stack are required"},
		{"no component", func(f *forecast.Forecast) { f.Component = "" }, "component is required"},
		{"unknown code", func(f *forecast.Forecast) { f.Code = "cert_expiring" }, `unknown drift code "cert_expiring"`},
		{"bad class", func(f *forecast.Forecast) { f.Class = "guess" }, `class "guess" is not dated or trend`},
		{"confidence above 1", func(f *forecast.Forecast) { f.Confidence = 1.5 }, "confidence 1.5 is outside 0..1"},
		{"no eta", func(f *forecast.Forecast) { f.ETA = time.Time{} }, "eta and raised_at are required"},
	} {
		f := good
		tc.edit(&f)
		require.ErrorContains(t, forecast.Check(f), tc.want, tc.name)
	}
	require.Equal(t, day, good.LeadTime())
}

func TestMaterialChange(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 8, 12, 0, 0, 0, time.UTC)
	base := forecast.Forecast{ETA: now.Add(time.Hour), Confidence: 0.6, Class: forecast.ClassTrend, Evidence: forecast.Evidence{Indicator: forecast.IndicatorLatency, Detail: "a"}}
	with := func(f func(*forecast.Forecast)) forecast.Forecast {
		c := base
		f(&c)
		return c
	}
	for _, tc := range []struct {
		name     string
		next     forecast.Forecast
		interval time.Duration
		want     bool
	}{
		{"unchanged", base, 5 * time.Minute, false},
		{"eta moved within one interval", with(func(f *forecast.Forecast) { f.ETA = f.ETA.Add(4 * time.Minute) }), 5 * time.Minute, false},
		{"eta moved by more than one interval", with(func(f *forecast.Forecast) { f.ETA = f.ETA.Add(-7 * time.Minute) }), 5 * time.Minute, true},
		{"eta moved by more than the default interval", with(func(f *forecast.Forecast) { f.ETA = f.ETA.Add(7 * time.Minute) }), 0, true},
		{"a longer interval", with(func(f *forecast.Forecast) { f.ETA = f.ETA.Add(7 * time.Minute) }), 10 * time.Minute, false},
		{"confidence by 0.1", with(func(f *forecast.Forecast) { f.Confidence = 0.7 }), 5 * time.Minute, true},
		{"confidence by less", with(func(f *forecast.Forecast) { f.Confidence = 0.68 }), 5 * time.Minute, false},
		{"class", with(func(f *forecast.Forecast) { f.Class = forecast.ClassDated }), 5 * time.Minute, true},
		{"indicator", with(func(f *forecast.Forecast) { f.Evidence.Indicator = forecast.IndicatorErrorShare }), 5 * time.Minute, true},
		{"only the detail's wording", with(func(f *forecast.Forecast) { f.Evidence.Detail = "b" }), 5 * time.Minute, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, forecast.MaterialChange(base, tc.next, tc.interval, now))
		})
	}
	// Far off, a move is material only past a tenth of the time left.
	far := with(func(f *forecast.Forecast) { f.ETA = now.Add(10 * 24 * time.Hour) })
	require.False(t, forecast.MaterialChange(far, with(func(f *forecast.Forecast) { f.ETA = far.ETA.Add(20 * time.Hour) }), 5*time.Minute, now))
	require.True(t, forecast.MaterialChange(far, with(func(f *forecast.Forecast) { f.ETA = far.ETA.Add(-25 * time.Hour) }), 5*time.Minute, now))
}
