package evaluator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
	"github.com/blackwellio/blackwell/internal/forecast/evaluator"
	"github.com/blackwellio/blackwell/internal/reconcile"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

const day = 24 * time.Hour

type bundle struct {
	ev       *evaluator.Evaluator
	st       *sqlite.Store
	reg      *prometheus.Registry
	refusals *refusals
}

// refusals is a RefusalSource whose streaks a test sets.
type refusals struct{ streaks []forecast.RefusalStreak }

func (r *refusals) Streaks(string) []forecast.RefusalStreak { return r.streaks }

func setup(t *testing.T) bundle {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "blackwell.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	reg := prometheus.NewRegistry()
	n := 0
	ref := &refusals{}
	ev := evaluator.New(evaluator.Options{
		Store: st, Metrics: evaluator.NewMetrics(reg, st), Refusals: ref,
		// Fixed thresholds, so that tuning DefaultParams does not move
		// these tests.
		Params: forecast.Params{CertificateHorizon: 10 * day, RefusalStreak: 3, RefusalAge: -1, FlapReturns: 3, FlapWindow: day},
		NewID:  func() string { n++; return fmt.Sprintf("fc-%d", n) },
	})
	return bundle{ev: ev, st: st, reg: reg, refusals: ref}
}

// evaluate evaluates p with the stack's open forecasts, as the reconciler
// hands them over (read with the pass: store.PassInput.Forecasts).
func (b bundle) evaluate(t *testing.T, p reconcile.PassObservation) (forecast.Tracked, error) {
	t.Helper()
	var err error
	p.Forecasts, _, err = b.st.ListForecasts(t.Context(), store.ForecastQuery{ClientID: p.ClientID, StackID: p.StackID})
	require.NoError(t, err)
	return b.ev.Evaluate(t.Context(), p)
}

func spec() config.StackSpec {
	return config.StackSpec{
		Providers:    map[string]config.ProviderBinding{"ecommerce": {Name: "shopify", Settings: map[string]string{"shop": "demo", "api_version": "2026-10"}}},
		Integrations: map[string]config.Integration{"orders": {Provider: "ecommerce", Topics: []string{"orders/create"}}},
		Resources:    map[string]config.Resource{"cert": {Probe: config.ProbeTLS, Address: "site.example:443"}},
	}
}

func pass(at time.Time, notAfter time.Time, status drift.ResourceStatus) reconcile.PassObservation {
	return reconcile.PassObservation{
		ClientID: "acme", StackID: "web", ReconciliationID: "recon-" + at.Format("0102150405"), Trigger: "schedule", At: at, Spec: spec(),
		Observed: drift.Observed{Resources: map[string]drift.ResourceObservation{"cert": {Status: status, NotAfter: &notAfter}}},
	}
}

func audit(ctx context.Context, t *testing.T, st store.Store) []string {
	t.Helper()
	es, _, err := st.ListAudit(ctx, store.AuditQuery{ClientID: "acme"})
	require.NoError(t, err)
	var out []string
	for _, e := range es {
		var ch map[string]any
		require.NoError(t, json.Unmarshal(e.ChangesMade, &ch))
		out = append(out, fmt.Sprintf("%s %s %s/%s", e.Action, ch["forecast_id"], ch["code"], ch["component"]))
	}
	return out
}

func TestEvaluatorRaisesOnceAndClears(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	notAfter := t0.Add(20 * day) // the probe turns unhealthy at t0+6d

	tr, err := b.evaluate(t, pass(t0, notAfter, drift.StatusHealthy))
	require.NoError(t, err)
	require.Len(t, tr.Raised, 1)
	require.Equal(t, "fc-1", tr.Raised[0].ID)

	// Pass after pass, the same indicator raises nothing more.
	for i := 1; i <= 3; i++ {
		tr, err = b.evaluate(t, pass(t0.Add(time.Duration(i)*5*time.Minute), notAfter, drift.StatusHealthy))
		require.NoError(t, err)
		require.Empty(t, tr.Raised)
		require.Empty(t, tr.Cleared)
	}
	// An unknown probe keeps it.
	unknown := pass(t0.Add(time.Hour), notAfter, drift.StatusUnknown)
	unknown.Observed.Resources["cert"] = drift.ResourceObservation{Status: drift.StatusUnknown, Reason: drift.ReasonTimeout}
	tr, err = b.evaluate(t, unknown)
	require.NoError(t, err)
	require.Empty(t, tr.Cleared)

	require.Equal(t, 1.0, testutil.ToFloat64(gauge(t, b.reg, "resource_unhealthy")))
	// A renewed certificate clears it.
	tr, err = b.evaluate(t, pass(t0.Add(2*time.Hour), t0.Add(90*day), drift.StatusHealthy))
	require.NoError(t, err)
	require.Len(t, tr.Cleared, 1)

	require.Equal(t, []string{"forecast_raised fc-1 resource_unhealthy/cert", "forecast_cleared fc-1 resource_unhealthy/cert"}, audit(ctx, t, b.st))
	all, _, err := b.st.ListForecasts(ctx, store.ForecastQuery{ClientID: "acme", IncludeCleared: true})
	require.NoError(t, err)
	require.Len(t, all, 1)
	require.Equal(t, t0.Add(2*time.Hour), *all[0].ClearedAt)
	require.Equal(t, t0.Add(6*day), all[0].ETA)
	require.Equal(t, 0.0, testutil.ToFloat64(gauge(t, b.reg, "resource_unhealthy")))
	require.Equal(t, 2, testutil.CollectAndCount(b.reg, "blackwell_forecast_lead_time_seconds"), "dated and trend")
	require.NoError(t, testutil.GatherAndCompare(b.reg, strings.NewReader(`
# HELP blackwell_forecast_lead_time_seconds Time from a forecast's raise to its eta (how far ahead drift was forecast), by class (dated or trend).
# TYPE blackwell_forecast_lead_time_seconds histogram
blackwell_forecast_lead_time_seconds_bucket{class="dated",le="3600"} 0
blackwell_forecast_lead_time_seconds_bucket{class="dated",le="14400"} 0
blackwell_forecast_lead_time_seconds_bucket{class="dated",le="43200"} 0
blackwell_forecast_lead_time_seconds_bucket{class="dated",le="86400"} 0
blackwell_forecast_lead_time_seconds_bucket{class="dated",le="259200"} 0
blackwell_forecast_lead_time_seconds_bucket{class="dated",le="604800"} 1
blackwell_forecast_lead_time_seconds_bucket{class="dated",le="1.2096e+06"} 1
blackwell_forecast_lead_time_seconds_bucket{class="dated",le="2.592e+06"} 1
blackwell_forecast_lead_time_seconds_bucket{class="dated",le="5.184e+06"} 1
blackwell_forecast_lead_time_seconds_bucket{class="dated",le="7.776e+06"} 1
blackwell_forecast_lead_time_seconds_bucket{class="dated",le="+Inf"} 1
blackwell_forecast_lead_time_seconds_sum{class="dated"} 518400
blackwell_forecast_lead_time_seconds_count{class="dated"} 1
blackwell_forecast_lead_time_seconds_bucket{class="trend",le="3600"} 0
blackwell_forecast_lead_time_seconds_bucket{class="trend",le="14400"} 0
blackwell_forecast_lead_time_seconds_bucket{class="trend",le="43200"} 0
blackwell_forecast_lead_time_seconds_bucket{class="trend",le="86400"} 0
blackwell_forecast_lead_time_seconds_bucket{class="trend",le="259200"} 0
blackwell_forecast_lead_time_seconds_bucket{class="trend",le="604800"} 0
blackwell_forecast_lead_time_seconds_bucket{class="trend",le="1.2096e+06"} 0
blackwell_forecast_lead_time_seconds_bucket{class="trend",le="2.592e+06"} 0
blackwell_forecast_lead_time_seconds_bucket{class="trend",le="5.184e+06"} 0
blackwell_forecast_lead_time_seconds_bucket{class="trend",le="7.776e+06"} 0
blackwell_forecast_lead_time_seconds_bucket{class="trend",le="+Inf"} 0
blackwell_forecast_lead_time_seconds_sum{class="trend"} 0
blackwell_forecast_lead_time_seconds_count{class="trend"} 0
`), "blackwell_forecast_lead_time_seconds"))
}

// gauge is blackwell_forecasts_open{code} as gathered.
func gauge(t *testing.T, reg *prometheus.Registry, code string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "blackwell_forecasts_open" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == code {
				g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "x"})
				g.Set(m.GetGauge().GetValue())
				return g
			}
		}
	}
	t.Fatalf("no blackwell_forecasts_open{code=%q}", code)
	return nil
}

func TestEvaluatorRefusalsAndFlapping(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	far := t0.Add(300 * day)

	b.refusals.streaks = []forecast.RefusalStreak{{Provider: "shopify", Topic: "orders/create", Count: 4, First: t0.Add(-time.Hour), Last: t0, LastStatus: 503}}
	tr, err := b.evaluate(t, pass(t0, far, drift.StatusHealthy))
	require.NoError(t, err)
	require.Len(t, tr.Raised, 1)
	require.Equal(t, drift.WebhookBroken, tr.Raised[0].Code)
	require.Equal(t, t0.Add(3*time.Hour), tr.Raised[0].ETA)

	// An accepted delivery ends the streak: cleared.
	b.refusals.streaks = nil
	tr, err = b.evaluate(t, pass(t0.Add(5*time.Minute), far, drift.StatusHealthy))
	require.NoError(t, err)
	require.Len(t, tr.Cleared, 1)

	// A drift that resolved after returning three times in a day.
	p := pass(t0.Add(10*time.Minute), far, drift.StatusHealthy)
	st, err := b.st.ApplyDesired(ctx, []store.DesiredInput{{ClientID: "acme", StackID: "web", Hash: "h", Document: json.RawMessage(`{}`)}})
	require.NoError(t, err)
	require.Len(t, st, 1)
	rec, err := b.st.GetState(ctx, "acme", "web")
	require.NoError(t, err)
	d := drift.Drift{ID: drift.ID("acme", "web", drift.TypeResource, "home"), ClientID: "acme", StackID: "web",
		Code: drift.ResourceUnhealthy, Type: drift.TypeResource, Component: "home", Severity: drift.SeverityHigh,
		DetectedAt: t0, FirstSeen: t0, LastSeen: t0, Observations: 1}
	commit := func(open []drift.Drift, at time.Time) {
		t.Helper()
		got, err := b.st.CommitPass(ctx, store.Pass{State: rec, Drifts: open, Result: store.ReconciliationResult{
			ReconciliationID: "r-" + at.Format("150405.000"), ClientID: "acme", StackID: "web", Trigger: "schedule",
			StartedAt: at, CompletedAt: at, Status: store.ResultSuccess}})
		require.NoError(t, err)
		rec = got
	}
	at := t0.Add(-6 * time.Hour)
	for range 4 { // open, resolve: the 2nd, 3rd and 4th openings are returns
		commit([]drift.Drift{d}, at)
		commit(nil, at.Add(time.Minute))
		at = at.Add(time.Hour)
	}
	resolvedAt := at.Add(-time.Hour + time.Minute)
	r := d
	r.ResolvedAt = &resolvedAt
	p.Resolved = []drift.Drift{r}
	tr, err = b.evaluate(t, p)
	require.NoError(t, err)
	require.Len(t, tr.Raised, 1)
	require.Equal(t, forecast.IndicatorFlapping, tr.Raised[0].Evidence.Indicator)
	require.Equal(t, "home", tr.Raised[0].Component)
}

// TestEvaluatorAuditsAnEtaThatMoved: an update that moves the eta is
// audited with the pass interval (the notification feed announces by the
// eta and streams material moves); a pass that changed nothing Track
// stores is not.
func TestEvaluatorAuditsAnEtaThatMoved(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	_, err := b.evaluate(t, pass(t0, t0.Add(20*day), drift.StatusHealthy))
	require.NoError(t, err)
	_, err = b.evaluate(t, pass(t0.Add(time.Hour), t0.Add(20*day), drift.StatusHealthy))
	require.NoError(t, err)
	moved := pass(t0.Add(2*time.Hour), t0.Add(19*day), drift.StatusHealthy)
	moved.Policy.Schedule.Interval = config.Duration(10 * time.Minute)
	tr, err := b.evaluate(t, moved)
	require.NoError(t, err)
	require.Len(t, tr.Updated, 1)
	require.Equal(t, []string{"forecast_raised fc-1 resource_unhealthy/cert", "forecast_updated fc-1 resource_unhealthy/cert"}, audit(ctx, t, b.st))
	es, _, err := b.st.ListAudit(ctx, store.AuditQuery{ClientID: "acme"})
	require.NoError(t, err)
	var ch struct {
		ETA             time.Time `json:"eta"`
		IntervalSeconds float64   `json:"interval_seconds"`
	}
	require.NoError(t, json.Unmarshal(es[1].ChangesMade, &ch))
	require.Equal(t, t0.Add(5*day), ch.ETA.UTC())
	require.Equal(t, 600.0, ch.IntervalSeconds)
}

func TestEvaluatorProbeTrend(t *testing.T) {
	t.Parallel()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "blackwell.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	probes := forecast.NewProbeHistory(day)
	ev := evaluator.New(evaluator.Options{Store: st, Metrics: evaluator.NewMetrics(prometheus.NewRegistry(), st),
		Probes: probes,
		Params: forecast.Params{TrendWindow: 6 * time.Hour, TrendMinPoints: 12, TrendHorizon: 2 * time.Hour, ErrorShareLimit: 0.5}})
	ctx := t.Context()
	// As the reconciler does, each pass brings the stack's open forecasts.
	evaluate := func(p reconcile.PassObservation) (forecast.Tracked, error) {
		var err error
		p.Forecasts, _, err = st.ListForecasts(ctx, store.ForecastQuery{ClientID: p.ClientID, StackID: p.StackID})
		require.NoError(t, err)
		return ev.Evaluate(ctx, p)
	}
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	s := spec()
	s.Resources = map[string]config.Resource{"api": {Probe: config.ProbeHTTP, URL: "https://api.example/", MaxLatency: config.Duration(2 * time.Second)}}
	at := func(i int, status drift.ResourceStatus) reconcile.PassObservation {
		// 0.5 s rising 0.2 s an hour: 2 s after 7.5 h.
		lat := 500*time.Millisecond + time.Duration(float64(i)/12*0.2*float64(time.Second))
		return reconcile.PassObservation{ClientID: "acme", StackID: "web", Trigger: "schedule", At: t0.Add(time.Duration(i) * 5 * time.Minute), Spec: s,
			Observed: drift.Observed{Resources: map[string]drift.ResourceObservation{"api": {Status: status, Latency: lat}}}}
	}
	var raised []forecast.Forecast
	for i := range 73 {
		tr, err := evaluate(at(i, drift.StatusHealthy))
		require.NoError(t, err)
		raised = append(raised, tr.Raised...)
	}
	require.Len(t, raised, 1, "raised once from the passes' own probes")
	require.Equal(t, forecast.IndicatorLatency, raised[0].Evidence.Indicator)
	require.Equal(t, "api", raised[0].Component)

	samples := func(at time.Time) int { return len(probes.Record("acme", "web", at, nil)["api"]) }

	// A failure one pass saw and the next did not (never confirmed) is
	// part of the trend: its resolution forgets nothing.
	p := at(79, drift.StatusHealthy)
	p.Resolved = []drift.Drift{{Code: drift.ResourceUnhealthy, Component: "api"}}
	_, err = evaluate(p)
	require.NoError(t, err)
	require.Equal(t, 74, samples(p.At), "the 73 passes before and this one")

	// The drift was confirmed and resolved: the samples before it are
	// forgotten, so the trend is unknown and the forecast kept, not
	// cleared.
	p = at(80, drift.StatusHealthy)
	p.Resolved = []drift.Drift{{Code: drift.ResourceUnhealthy, Component: "api", Confirmed: true}}
	tr, err := evaluate(p)
	require.NoError(t, err)
	require.Empty(t, tr.Cleared)
	require.Len(t, tr.Kept, 1)
	require.Equal(t, 1, samples(p.At))
}
