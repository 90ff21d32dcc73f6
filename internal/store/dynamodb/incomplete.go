package dynamodb

// The methods this driver does not implement yet: each answers
// ErrIncomplete (see the package doc and docs/DEPLOYMENT.md).

import (
	"context"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
	"github.com/blackwellio/blackwell/internal/store"
)

var _ store.Store = (*Store)(nil)

// CountStacks is not implemented yet: ErrIncomplete.
func (s *Store) CountStacks(_ context.Context, _ string) (map[store.Status]int, error) {
	return *new(map[store.Status]int), ErrIncomplete
}

// DashboardSeries is not implemented yet: ErrIncomplete.
func (s *Store) DashboardSeries(_ context.Context, _ store.SeriesQuery) (store.Series, error) {
	return *new(store.Series), ErrIncomplete
}

// ExportRows is not implemented yet: ErrIncomplete.
func (s *Store) ExportRows(_ context.Context, _ []store.Table, _ func(store.Table, []interface{}) error) error {
	return ErrIncomplete
}

// ImportRows is not implemented yet: ErrIncomplete.
func (s *Store) ImportRows(_ context.Context, _ []store.Table, _ func(func(store.Table, []interface{}) error) error) error {
	return ErrIncomplete
}

// ListForecasts is not implemented yet: ErrIncomplete.
func (s *Store) ListForecasts(_ context.Context, _ store.ForecastQuery) ([]forecast.Forecast, string, error) {
	return *new([]forecast.Forecast), *new(string), ErrIncomplete
}

// OpenDriftCounts is not implemented yet: ErrIncomplete.
func (s *Store) OpenDriftCounts(_ context.Context, _ string, _ int) ([]store.DriftCount, error) {
	return *new([]store.DriftCount), ErrIncomplete
}

// OpenForecastCounts is not implemented yet: ErrIncomplete.
func (s *Store) OpenForecastCounts(_ context.Context) (map[drift.Code]int, error) {
	return *new(map[drift.Code]int), ErrIncomplete
}

// RecentDrifts is not implemented yet: ErrIncomplete.
func (s *Store) RecentDrifts(_ context.Context, _ store.RecentQuery) ([]drift.Drift, error) {
	return *new([]drift.Drift), ErrIncomplete
}

// RecentHeals is not implemented yet: ErrIncomplete.
func (s *Store) RecentHeals(_ context.Context, _ store.RecentQuery) ([]store.HealAttempt, error) {
	return *new([]store.HealAttempt), ErrIncomplete
}

// WriteForecasts is not implemented yet: ErrIncomplete.
func (s *Store) WriteForecasts(_ context.Context, _ store.ForecastWrite) ([]forecast.Forecast, error) {
	return *new([]forecast.Forecast), ErrIncomplete
}
