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
	"github.com/blackwellio/blackwell/internal/forecast/evaluator"
	"github.com/blackwellio/blackwell/internal/poll"
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

// A forecast raised with an eta before the stack's next scheduled pass
// gets a pass at its eta (trigger "forecast"), through the loop's queue;
// one whose eta is after the next scheduled pass gets none.
func TestForecastETABeforeNextPassGetsAPass(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		eta      time.Duration // after the start, on the fake clock
		wantPass bool
	}{
		{"eta before the next pass", 10 * time.Minute, true},
		{"eta after the next pass", 90 * time.Minute, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// The certificate turns unhealthy (min_days_valid 14) eta
			// after the fixture's clock starts (time.Now, a moment later).
			notAfter := time.Now().Add(14*24*time.Hour + tc.eta)
			f := setup(t, fixtureOpts{prober: certProber{notAfter},
				forecasts: func(st store.Store) reconcile.ForecastHook {
					return evaluator.New(evaluator.Options{Store: st})
				}})
			waiters := startCertStack(t, f)
			open, _, err := f.store.ListForecasts(t.Context(), store.ForecastQuery{ClientID: "acme"})
			require.NoError(t, err)
			require.Len(t, open, 1, "the first pass raised the certificate's forecast")
			// The queue's timers for the pass(es) after this one.
			poll.Until(t, 10*time.Second, "the next pass's timer", func() bool { return f.clock.Waiters() > waiters })

			// Before the eta (or the scheduled pass, at 54-66 min) nothing
			// runs; then the first pass is the forecast's at its eta, or the
			// scheduled one when the eta is after it.
			first := min(tc.eta, 54*time.Minute)
			f.clock.Step(first - 30*time.Second)
			select {
			case r := <-f.passes:
				t.Fatalf("pass before the eta: %+v", r)
			case <-time.After(100 * time.Millisecond):
			}
			if !tc.wantPass {
				f.clock.Step(13 * time.Minute) // past 66 min, before 90
			} else {
				f.clock.Step(time.Minute)
			}
			select {
			case r := <-f.passes:
				if !tc.wantPass {
					require.Equal(t, reconcile.TriggerSchedule, r.Trigger, "the scheduled pass comes before the eta")
					break
				}
				require.Equal(t, reconcile.TriggerForecast, r.Trigger)
				require.WithinDuration(t, open[0].ETA, r.StartedAt, time.Minute, "the pass runs at the eta")
			case <-time.After(5 * time.Second):
				t.Fatal("no pass")
			}
		})
	}
}

// askingHook asks for a pass ahead after every pass, like a trend whose
// eta stays ahead of each pass.
type askingHook struct{ ahead time.Duration }

func (h askingHook) AfterPass(_ context.Context, p reconcile.PassObservation) {
	p.PassAt(p.At.Add(h.ahead))
}

// A pass asked for by a forecast asks for no other: the stack gets one
// forecast pass, then its scheduled one.
func TestForecastPassDoesNotChain(t *testing.T) {
	t.Parallel()
	f := setup(t, fixtureOpts{prober: certProber{time.Now().Add(100 * 24 * time.Hour)},
		forecasts: func(store.Store) reconcile.ForecastHook { return askingHook{ahead: 2 * time.Minute} }})
	waiters := startCertStack(t, f)
	poll.Until(t, 10*time.Second, "the next pass's timer", func() bool { return f.clock.Waiters() > waiters })
	f.clock.Step(2*time.Minute + time.Second)
	select {
	case r := <-f.passes:
		require.Equal(t, reconcile.TriggerForecast, r.Trigger)
	case <-time.After(5 * time.Second):
		t.Fatal("no forecast pass")
	}
	// Four more minutes: a chained forecast pass would have run by now.
	for range 4 {
		f.clock.Step(time.Minute)
		select {
		case r := <-f.passes:
			t.Fatalf("a pass after the forecast pass, before the interval: %+v", r)
		case <-time.After(100 * time.Millisecond):
		}
	}
	f.clock.Step(2 * time.Hour) // past the jittered interval (54-66 min)
	select {
	case r := <-f.passes:
		require.Equal(t, reconcile.TriggerSchedule, r.Trigger)
	case <-time.After(5 * time.Second):
		t.Fatal("no scheduled pass")
	}
}

// startCertStack applies acme/web, a TLS probe passed hourly, starts the
// loop and waits for its first pass; it returns the clock's waiters
// before the start (the next pass's timer makes one more).
func startCertStack(t *testing.T, f *fixture) int {
	t.Helper()
	pol := policy(1)
	pol.Schedule.Interval = config.Duration(time.Hour)
	f.apply(t, pol, stack("acme", "web", config.StackSpec{Resources: map[string]config.Resource{
		"cert": {Probe: config.ProbeTLS, Address: "site.example:443"}}}))
	waiters := f.clock.Waiters()
	require.NoError(t, f.loop.Start(context.Background()))
	t.Cleanup(func() { f.loop.Stop(context.Background()) })
	require.Equal(t, reconcile.TriggerConfig, (<-f.passes).Trigger)
	return waiters
}
