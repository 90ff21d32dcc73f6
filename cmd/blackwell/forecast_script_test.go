package main

import (
	"context"
	"strconv"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
	"github.com/blackwellio/blackwell/internal/store"
)

// cmdSeedForecast stores an open forecast (seedforecast CLIENT STACK CODE
// COMPONENT ETA_HOURS), raised at the script's now; with
// "seedforecast clear ID" it clears one. Sets FORECAST_ID.
func cmdSeedForecast(ts *testscript.TestScript, neg bool, args []string) {
	s := serverOf(ts)
	ctx := context.Background()
	if !neg && len(args) == 2 && args[0] == "clear" {
		at := scriptNow().Add(time.Hour)
		_, err := s.store.WriteForecasts(ctx, store.ForecastWrite{Clear: []forecast.Forecast{{ID: args[1], ClearedAt: &at}}})
		ts.Check(err)
		return
	}
	if neg || len(args) != 5 {
		ts.Fatalf("usage: seedforecast CLIENT STACK CODE COMPONENT ETA_HOURS | seedforecast clear ID")
	}
	hours, err := strconv.Atoi(args[4])
	ts.Check(err)
	id := "fc-" + args[1] + "-" + args[3]
	_, err = s.store.WriteForecasts(ctx, store.ForecastWrite{Raise: []forecast.Forecast{{
		ID: id, ClientID: args[0], StackID: args[1], Code: drift.Code(args[2]), Component: args[3],
		ETA: scriptNow().Add(time.Duration(hours) * time.Hour), Confidence: 0.8, Class: forecast.ClassDated,
		Evidence: forecast.Evidence{Indicator: forecast.IndicatorCertificate, Detail: "certificate expires soon"},
		RaisedAt: scriptNow(),
	}}})
	ts.Check(err)
	ts.Setenv("FORECAST_ID", id)
}
