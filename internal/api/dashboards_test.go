package api

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/store"
)

func TestDashboardReconciliation(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	active := prometheus.NewGauge(prometheus.GaugeOpts{Name: "blackwell_active_reconciliations"})
	reg.MustRegister(active)
	active.Set(2)
	f := setup(t, func(o *Options) { o.Gatherer = reg })

	// No history yet: every bucket is there, and says no data.
	v := decodeAs[ReconciliationView](t, f.do(t, "GET", "/v1/dashboard/reconciliation?since=1h", ""), http.StatusOK)
	require.Len(t, v.Buckets, 12)
	require.EqualValues(t, 300, v.StepSeconds)
	require.Zero(t, v.Totals.Passes)
	require.Nil(t, v.Totals.P50)
	require.Nil(t, v.Totals.Consistency)
	require.Equal(t, 2.0, *v.InFlight)
	require.Nil(t, v.QueueDepth, "a metric the registry does not export is no data")

	f.seed(t)
	f.seedDrift(t, "acme-corp", "status-page", drift.Drift{Code: drift.ResourceUnhealthy, Component: "page", Expected: "healthy", Observed: "503", Confirmed: true})
	f.seedDrift(t, "globex", "site")
	v = decodeAs[ReconciliationView](t, f.do(t, "GET", "/v1/dashboard/reconciliation", ""), http.StatusOK)
	require.Len(t, v.Buckets, 48)
	require.Equal(t, 2, v.Totals.Passes)
	require.Equal(t, 1, v.Totals.DriftDetected)
	require.Equal(t, 1, v.Totals.Detections[drift.TypeResource])
	require.Equal(t, 0.5, *v.Totals.Consistency)
	require.NotNil(t, v.Totals.P99)

	// Filtered by client.
	v = decodeAs[ReconciliationView](t, f.do(t, "GET", "/v1/dashboard/reconciliation?client_id=globex&since=7d", ""), http.StatusOK)
	require.Equal(t, 1, v.Totals.Passes)
	require.Equal(t, "globex", v.ClientID)

	for _, bad := range []string{"0s", "-1h", "32d", "soon", "1e9d"} {
		requireError(t, f.do(t, "GET", "/v1/dashboard/reconciliation?since="+bad, ""), http.StatusBadRequest, codeBadRequest)
	}
}

func TestDashboardClientHealth(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.seed(t)
	requireError(t, f.do(t, "GET", "/v1/dashboard/clients/nobody/health", ""), http.StatusNotFound, codeNotFound)

	// Stacks, and no history yet.
	v := decodeAs[ClientHealthView](t, f.do(t, "GET", "/v1/dashboard/clients/acme-corp/health", ""), http.StatusOK)
	require.Equal(t, 2, v.Stacks.Total)
	require.Empty(t, v.RecentDrifts)
	require.NotNil(t, v.RecentDrifts, "[] not null")
	require.Empty(t, v.Heals)
	require.Len(t, v.Page, 2)
	require.Nil(t, v.Forecasts)

	f.seedDrift(t, "acme-corp", "status-page", drift.Drift{Code: drift.ResourceUnhealthy, Component: "page", Expected: "healthy", Observed: "503", Confirmed: true})
	v = decodeAs[ClientHealthView](t, f.do(t, "GET", "/v1/dashboard/clients/acme-corp/health?since=6h&limit=1", ""), http.StatusOK)
	require.Equal(t, 1, v.Stacks.ByStatus[store.StatusDriftDetected])
	require.Len(t, v.RecentDrifts, 1)
	require.Equal(t, "page", v.RecentDrifts[0].Component)
	require.NotEmpty(t, v.RecentDrifts[0].Confidence, "drifts are explained as everywhere else")
	require.Equal(t, []store.DriftCount{{Type: drift.TypeResource, Code: drift.ResourceUnhealthy, Component: "page", Severity: drift.SeverityHigh, Count: 1, Stacks: 1}}, v.ResourceHealth)
	require.Equal(t, 0.0, *v.Totals.Consistency, "its one pass found drift")
	require.Len(t, v.Page, 1)
	require.NotEmpty(t, v.NextCursor)
	next := decodeAs[ClientHealthView](t, f.do(t, "GET", "/v1/dashboard/clients/acme-corp/health?limit=1&cursor="+v.NextCursor, ""), http.StatusOK)
	require.Len(t, next.Page, 1)
	require.NotEqual(t, v.Page[0].StackID, next.Page[0].StackID)
	require.Equal(t, "status-page", next.Page[0].StackID)
	require.Equal(t, 1, next.Page[0].Drifts)
	require.Equal(t, drift.SeverityHigh, next.Page[0].Worst)
	requireError(t, f.do(t, "GET", "/v1/dashboard/clients/acme-corp/health?limit=0", ""), http.StatusBadRequest, codeBadRequest)
}

func TestDashboardSystem(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	depth := prometheus.NewGauge(prometheus.GaugeOpts{Name: "blackwell_reconcile_queue_depth"})
	lag := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "blackwell_event_processing_lag_seconds", Buckets: []float64{1, 10, 60, 300}})
	deliveries := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "blackwell_webhook_deliveries_total"}, []string{"provider", "result"})
	reg.MustRegister(depth, lag, deliveries)
	for range 99 {
		lag.Observe(0.5)
	}
	lag.Observe(200)
	deliveries.WithLabelValues("shopify", "accepted").Add(10)
	deliveries.WithLabelValues("shopify", "bad_signature").Add(3)
	depth.Set(4)
	f := setup(t, func(o *Options) { o.Gatherer = reg })
	f.seed(t)
	f.seedDrift(t, "acme-corp", "status-page", drift.Drift{Code: drift.ResourceUnhealthy, Component: "page", Expected: "healthy", Observed: "503", Confirmed: true})

	v := decodeAs[SystemView](t, f.do(t, "GET", "/v1/dashboard/system", ""), http.StatusOK)
	require.Equal(t, 3, v.Stacks.Total)
	require.NotNil(t, v.Health.Score)
	require.Len(t, v.Health.Components, 5)
	require.Equal(t, 3.0, *v.Errors.WebhooksRejected)
	require.Nil(t, v.Errors.NotificationsFailed)
	require.InDelta(t, 1.0, *v.Ingest.LagP99, 0.01, "the 99th of 100 observations is in the first bucket's top")
	require.Positive(t, v.Process.Goroutines)
	require.Positive(t, v.Process.MemoryBytes)
	firing := map[string]bool{}
	for _, a := range v.Alerts {
		firing[a.Name] = a.Firing
		require.NotEmpty(t, a.How)
	}
	require.True(t, firing["BlackwellStateInconsistent"], "one stack of three drifted, two never passed")
	require.False(t, firing["BlackwellReconcileStalled"], "a pass finished in the last 5 minutes")
	require.False(t, firing["BlackwellStoreUnreachable"])

	// Events of the last five minutes, per minute.
	_, err := f.store.InsertEvents(context.Background(), []store.Event{
		{EventID: "e1", ClientID: "acme-corp", ProviderName: "shopify", EventType: "products/update", Timestamp: f.now.Add(-time.Minute), ReceivedAt: f.now},
		{EventID: "e2", ClientID: "acme-corp", ProviderName: "shopify", EventType: "products/update", Timestamp: f.now.Add(-time.Hour), ReceivedAt: f.now},
	})
	require.NoError(t, err)
	v = decodeAs[SystemView](t, f.do(t, "GET", "/v1/dashboard/system", ""), http.StatusOK)
	require.Equal(t, 0.2, v.Ingest.PerMinute)
}

func TestDashboardAccess(t *testing.T) {
	t.Parallel()
	f := setupAuth(t)
	// A client-scoped viewer sees its client's views, not another's, and
	// not the system overview (every client's numbers).
	require.Equal(t, http.StatusOK, f.as(t, "acme-viewer", "GET", "/v1/dashboard/clients/acme-corp/health", "").Code)
	requireError(t, f.as(t, "acme-viewer", "GET", "/v1/dashboard/clients/globex/health", ""), http.StatusForbidden, codeForbidden)
	requireError(t, f.as(t, "acme-viewer", "GET", "/v1/dashboard/system", ""), http.StatusForbidden, codeForbidden)
	requireError(t, f.as(t, "acme-viewer", "GET", "/v1/dashboard/reconciliation?client_id=globex", ""), http.StatusForbidden, codeForbidden)
	v := decodeAs[ReconciliationView](t, f.as(t, "acme-viewer", "GET", "/v1/dashboard/reconciliation", ""), http.StatusOK)
	require.Equal(t, "acme-corp", v.ClientID, "filtered to the token's client")
	require.Equal(t, http.StatusOK, f.as(t, "viewer", "GET", "/v1/dashboard/system", "").Code)
	requireError(t, f.do(t, "GET", "/v1/dashboard/system", ""), http.StatusUnauthorized, codeUnauthorized)
}
