package api

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
	"github.com/blackwellio/blackwell/internal/store"
)

func TestListForecasts(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.seed(t)
	at := time.Date(2025, 10, 10, 4, 0, 0, 0, time.UTC)
	fc := func(id, client, stack string, code drift.Code, component string, raised time.Time) forecast.Forecast {
		return forecast.Forecast{ID: id, ClientID: client, StackID: stack, Code: code, Component: component,
			ETA: raised.Add(72 * time.Hour), Confidence: 0.8, Class: forecast.ClassDated,
			Evidence: forecast.Evidence{Indicator: forecast.IndicatorCertificate, Detail: "expires soon"}, RaisedAt: raised}
	}
	_, err := f.store.WriteForecasts(context.Background(), store.ForecastWrite{Raise: []forecast.Forecast{
		fc("fc-1", "acme-corp", "cms-ecom-prod", drift.ResourceUnhealthy, "cert", at),
		fc("fc-2", "acme-corp", "status-page", drift.WebhookBroken, "orders", at),
		fc("fc-3", "acme-corp", "cms-ecom-prod", drift.IntegrationMismatch, "products", at.Add(time.Minute)),
		fc("fc-4", "globex", "site", drift.ResourceUnhealthy, "cert", at),
	}})
	require.NoError(t, err)
	cleared := at.Add(time.Hour)
	gone := fc("fc-3", "acme-corp", "cms-ecom-prod", drift.IntegrationMismatch, "products", at.Add(time.Minute))
	gone.ClearedAt = &cleared
	_, err = f.store.WriteForecasts(context.Background(), store.ForecastWrite{Clear: []forecast.Forecast{gone}})
	require.NoError(t, err)

	ids := func(l list[forecast.Forecast]) []string {
		out := []string{}
		for _, x := range l.Items {
			out = append(out, x.ID)
		}
		return out
	}
	all := decodeAs[list[forecast.Forecast]](t, f.do(t, http.MethodGet, "/v1/clients/acme-corp/forecasts", ""), http.StatusOK)
	require.Equal(t, []string{"fc-1", "fc-2"}, ids(all), "the client's open forecasts, by stack")
	require.Equal(t, at.Add(72*time.Hour), all.Items[0].ETA)
	require.Equal(t, forecast.IndicatorCertificate, all.Items[0].Evidence.Indicator)
	require.Nil(t, all.Items[0].ClearedAt)

	stack := decodeAs[list[forecast.Forecast]](t, f.do(t, http.MethodGet, "/v1/clients/acme-corp/forecasts?stack_id=status-page", ""), http.StatusOK)
	require.Equal(t, []string{"fc-2"}, ids(stack))
	withCleared := decodeAs[list[forecast.Forecast]](t, f.do(t, http.MethodGet, "/v1/clients/acme-corp/forecasts?include_cleared=true&stack_id=cms-ecom-prod", ""), http.StatusOK)
	require.Equal(t, []string{"fc-1", "fc-3"}, ids(withCleared))
	require.Equal(t, cleared, *withCleared.Items[1].ClearedAt)

	page := decodeAs[list[forecast.Forecast]](t, f.do(t, http.MethodGet, "/v1/clients/acme-corp/forecasts?limit=1", ""), http.StatusOK)
	require.Equal(t, []string{"fc-1"}, ids(page))
	rest := decodeAs[list[forecast.Forecast]](t, f.do(t, http.MethodGet, "/v1/clients/acme-corp/forecasts?limit=1&cursor="+page.NextCursor, ""), http.StatusOK)
	require.Equal(t, []string{"fc-2"}, ids(rest))
	require.Empty(t, rest.NextCursor)

	require.Equal(t, http.StatusNotFound, f.do(t, http.MethodGet, "/v1/clients/initech/forecasts", "").Code)
	for _, q := range []string{"include_cleared=maybe", "cursor=@@@", "limit=0"} {
		require.Equal(t, http.StatusBadRequest, f.do(t, http.MethodGet, "/v1/clients/acme-corp/forecasts?"+q, "").Code, q)
	}
}
