package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

// seedForecasts writes a forecast of each tenant's stack into the store
// file before serve opens it, so that the forecasts route has each
// client's data to leak (its stack id is a marker).
func seedForecasts(t *testing.T, path string, tenants ...*tenant) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	defer func() { require.NoError(t, st.Close()) }()
	now := time.Now().UTC()
	var fs []forecast.Forecast
	for _, tn := range tenants {
		fs = append(fs, forecast.Forecast{
			ID: "fc-" + tn.client, ClientID: tn.client, StackID: tn.stack, Code: drift.ResourceUnhealthy, Component: "site",
			ETA: now.Add(48 * time.Hour), Confidence: 0.8, Class: forecast.ClassDated, RaisedAt: now,
			Evidence: forecast.Evidence{Indicator: forecast.IndicatorCertificate, Detail: "seeded by the tenancy suite"},
		})
	}
	_, err = st.WriteForecasts(ctx, store.ForecastWrite{Raise: fs})
	require.NoError(t, err)
}
