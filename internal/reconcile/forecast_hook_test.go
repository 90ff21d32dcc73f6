package reconcile_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
	"github.com/blackwellio/blackwell/internal/reconcile"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

// certProber answers every resource with a healthy certificate.
type certProber struct{ notAfter time.Time }

func (p certProber) ProbeAll(_ context.Context, rs map[string]config.Resource) map[string]drift.ResourceObservation {
	out := map[string]drift.ResourceObservation{}
	for name := range rs {
		na := p.notAfter
		out[name] = drift.ResourceObservation{Status: drift.StatusHealthy, NotAfter: &na}
	}
	return out
}

type hookRecorder struct {
	mu  sync.Mutex
	got []reconcile.PassObservation
}

func (h *hookRecorder) AfterPass(_ context.Context, p reconcile.PassObservation) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.got = append(h.got, p)
}

func TestForecastHookSeesTheCommittedPass(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "blackwell.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	spec := config.StackSpec{Resources: map[string]config.Resource{"cert": {Probe: config.ProbeTLS, Address: "site.example:443"}}}
	doc, err := json.Marshal(spec)
	require.NoError(t, err)
	_, err = db.ApplyDesired(ctx, []store.DesiredInput{{ClientID: "acme", StackID: "web", Hash: "h1", Document: doc}})
	require.NoError(t, err)

	notAfter := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	hook := &hookRecorder{}
	loop := reconcile.New(reconcile.Options{Store: db, Prober: certProber{notAfter}, Forecasts: hook})
	res, _, err := loop.Reconcile(ctx, "acme/web", reconcile.TriggerManual)
	require.NoError(t, err)

	require.Len(t, hook.got, 1, "one call per committed pass")
	p := hook.got[0]
	require.Equal(t, "acme", p.ClientID)
	require.Equal(t, "web", p.StackID)
	require.Equal(t, res.ReconciliationID, p.ReconciliationID)
	require.Equal(t, reconcile.TriggerManual, p.Trigger)
	require.Equal(t, res.StartedAt, p.At)
	require.Equal(t, spec.Resources, p.Spec.Resources)
	require.Equal(t, notAfter, *p.Observed.Resources["cert"].NotAfter)
	require.Empty(t, p.Forecasts)

	// The hook's forecasts reach the next pass's hook with the pass's
	// load: the hook reads none itself.
	f := forecast.Forecast{ID: "fc-1", ClientID: "acme", StackID: "web", Code: drift.ResourceUnhealthy, Component: "cert",
		ETA: notAfter, Confidence: 0.9, Class: forecast.ClassDated, RaisedAt: res.StartedAt,
		Evidence: forecast.Evidence{Indicator: forecast.IndicatorCertificate, Detail: "expires"}}
	_, err = db.WriteForecasts(ctx, store.ForecastWrite{Raise: []forecast.Forecast{f}})
	require.NoError(t, err)
	_, _, err = loop.Reconcile(ctx, "acme/web", reconcile.TriggerManual)
	require.NoError(t, err)
	require.Len(t, hook.got, 2)
	require.Len(t, hook.got[1].Forecasts, 1)
	require.Equal(t, "fc-1", hook.got[1].Forecasts[0].ID)
}
