package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
	"github.com/blackwellio/blackwell/internal/store"
)

// mkForecast is an open forecast of a stack raised at raised.
func mkForecast(id, client, stack string, code drift.Code, component string, raised time.Time) forecast.Forecast {
	return forecast.Forecast{
		ID: id, ClientID: client, StackID: stack, Code: code, Component: component,
		ETA: raised.Add(72 * time.Hour), Confidence: 0.73, Class: forecast.ClassDated,
		Evidence: forecast.Evidence{Indicator: forecast.IndicatorCertificate, Detail: "expires soon",
			Values: map[string]any{"min_days_valid": float64(14)}},
		RaisedAt: raised,
	}
}

func listForecasts(ctx context.Context, t *testing.T, s store.Store, q store.ForecastQuery) []forecast.Forecast {
	t.Helper()
	return drain(t, "ListForecasts", q.Cursor, q.Limit, func(cursor string) ([]forecast.Forecast, string, error) {
		q.Cursor = cursor
		return s.ListForecasts(ctx, q)
	})
}

func forecastIDs(fs []forecast.Forecast) []string {
	out := []string{}
	for _, f := range fs {
		out = append(out, f.ID)
	}
	return out
}

// testForecasts: raise, idempotent raise of an open key, update, clear,
// list open by client and stack with pages, counts per code, audit in the
// same transaction, invalid input.
func testForecasts(ctx context.Context, t *testing.T, s store.Store) {
	cert := mkForecast("fc-1", "acme", "web", drift.ResourceUnhealthy, "cert", at(0))
	hook := mkForecast("fc-2", "acme", "web", drift.WebhookBroken, "orders", at(time.Minute))
	hook.Class, hook.Evidence.Indicator = forecast.ClassTrend, forecast.IndicatorRefusals
	shop := mkForecast("fc-3", "acme", "shop", drift.IntegrationMismatch, "products", at(2*time.Minute))
	other := mkForecast("fc-4", "globex", "web", drift.ResourceUnhealthy, "cert", at(0))

	audit := []store.AuditEntry{{Timestamp: at(0), Action: "forecast_raised", ClientID: "acme", StackID: "web", TriggeredBy: "forecast"}}
	got, err := s.WriteForecasts(ctx, store.ForecastWrite{Raise: []forecast.Forecast{cert, hook, shop, other}, Audit: audit})
	require.NoError(t, err)
	require.Equal(t, []forecast.Forecast{store.StoredForecast(cert), store.StoredForecast(hook), store.StoredForecast(shop), store.StoredForecast(other)}, got)
	require.NotZero(t, audit[0].Seq, "the audit entry is appended with the forecasts")
	entries := allAudit(ctx, t, s, store.AuditQuery{Action: "forecast_raised"})
	require.Len(t, entries, 1)

	require.Equal(t, []string{"fc-3", "fc-1", "fc-2"}, forecastIDs(listForecasts(ctx, t, s, store.ForecastQuery{ClientID: "acme"})),
		"by stack, then raised_at")
	require.Equal(t, []string{"fc-1", "fc-2"}, forecastIDs(listForecasts(ctx, t, s, store.ForecastQuery{ClientID: "acme", StackID: "web"})))
	require.Equal(t, []string{"fc-3", "fc-1", "fc-2"}, forecastIDs(listForecasts(ctx, t, s, store.ForecastQuery{ClientID: "acme", Limit: 1})),
		"pages of one")
	require.Equal(t, []string{"fc-4"}, forecastIDs(listForecasts(ctx, t, s, store.ForecastQuery{ClientID: "globex"})))
	require.Empty(t, listForecasts(ctx, t, s, store.ForecastQuery{ClientID: "nobody"}))

	// Raising an open key again (a second replica, a retried write)
	// updates the open forecast: same id, same raised_at, new eta.
	again := mkForecast("fc-9", "acme", "web", drift.ResourceUnhealthy, "cert", at(time.Hour))
	again.ETA, again.Confidence = at(96*time.Hour), 0.9
	got, err = s.WriteForecasts(ctx, store.ForecastWrite{Raise: []forecast.Forecast{again}})
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "fc-1", got[0].ID)
	require.Equal(t, store.Truncate(at(0)), got[0].RaisedAt)
	require.Equal(t, store.Truncate(at(96*time.Hour)), got[0].ETA)
	require.InDelta(t, 0.9, got[0].Confidence, 1e-9)
	require.Len(t, listForecasts(ctx, t, s, store.ForecastQuery{ClientID: "acme", StackID: "web"}), 2, "no second open forecast")

	// Update and clear by id, in one write.
	upd := store.StoredForecast(hook)
	upd.ETA, upd.Confidence = at(5*time.Hour), 0.55
	cleared := at(3 * time.Hour)
	clr := store.StoredForecast(shop)
	clr.ClearedAt = &cleared
	_, err = s.WriteForecasts(ctx, store.ForecastWrite{Update: []forecast.Forecast{upd}, Clear: []forecast.Forecast{clr}})
	require.NoError(t, err)
	open := listForecasts(ctx, t, s, store.ForecastQuery{ClientID: "acme"})
	require.Equal(t, []string{"fc-1", "fc-2"}, forecastIDs(open))
	require.Equal(t, store.StoredForecast(upd), open[1])
	all := listForecasts(ctx, t, s, store.ForecastQuery{ClientID: "acme", IncludeCleared: true})
	require.Equal(t, []string{"fc-3", "fc-1", "fc-2"}, forecastIDs(all))
	require.Equal(t, store.Truncate(cleared), *all[0].ClearedAt)

	// Clearing again keeps the first clearance; updating a cleared one
	// does nothing.
	later := at(4 * time.Hour)
	clr2 := clr
	clr2.ClearedAt = &later
	upd2 := clr
	upd2.ClearedAt, upd2.Confidence = nil, 0.1
	_, err = s.WriteForecasts(ctx, store.ForecastWrite{Update: []forecast.Forecast{upd2}, Clear: []forecast.Forecast{clr2}})
	require.NoError(t, err)
	all = listForecasts(ctx, t, s, store.ForecastQuery{ClientID: "acme", StackID: "shop", IncludeCleared: true})
	require.Len(t, all, 1)
	require.Equal(t, store.Truncate(cleared), *all[0].ClearedAt)
	require.InDelta(t, 0.73, all[0].Confidence, 1e-9)

	// The key of a cleared forecast may be raised anew: a new forecast.
	back := mkForecast("fc-5", "acme", "shop", drift.IntegrationMismatch, "products", at(5*time.Hour))
	got, err = s.WriteForecasts(ctx, store.ForecastWrite{Raise: []forecast.Forecast{back}})
	require.NoError(t, err)
	require.Equal(t, "fc-5", got[0].ID)

	counts, err := s.OpenForecastCounts(ctx)
	require.NoError(t, err)
	require.Equal(t, map[drift.Code]int{drift.ResourceUnhealthy: 2, drift.WebhookBroken: 1, drift.IntegrationMismatch: 1}, counts)

	// Invalid input writes nothing.
	bad := mkForecast("fc-6", "acme", "web", "cert_expiring", "x", at(0))
	_, err = s.WriteForecasts(ctx, store.ForecastWrite{Raise: []forecast.Forecast{mkForecast("fc-7", "acme", "web", drift.ContentStale, "posts", at(0)), bad}})
	require.ErrorContains(t, err, `unknown drift code "cert_expiring"`)
	noID := mkForecast("", "acme", "web", drift.ContentStale, "posts", at(0))
	_, err = s.WriteForecasts(ctx, store.ForecastWrite{Raise: []forecast.Forecast{noID}})
	require.ErrorContains(t, err, "id is required")
	require.Len(t, listForecasts(ctx, t, s, store.ForecastQuery{ClientID: "acme", StackID: "web"}), 2)
	_, _, err = s.ListForecasts(ctx, store.ForecastQuery{})
	require.ErrorContains(t, err, "client is required")
	_, _, err = s.ListForecasts(ctx, store.ForecastQuery{ClientID: "acme", Cursor: "nonsense"})
	require.ErrorIs(t, err, store.ErrInvalidCursor)
}
