package dynamodb

// The methods this driver does not implement yet: each answers
// ErrIncomplete (see the package doc and docs/DEPLOYMENT.md).

import (
	"context"

	"github.com/blackwellio/blackwell/internal/drift"
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

// OpenDriftCounts is not implemented yet: ErrIncomplete.
func (s *Store) OpenDriftCounts(_ context.Context, _ string, _ int) ([]store.DriftCount, error) {
	return *new([]store.DriftCount), ErrIncomplete
}

// RecentDrifts is not implemented yet: ErrIncomplete.
func (s *Store) RecentDrifts(_ context.Context, _ store.RecentQuery) ([]drift.Drift, error) {
	return *new([]drift.Drift), ErrIncomplete
}

// RecentHeals is not implemented yet: ErrIncomplete.
func (s *Store) RecentHeals(_ context.Context, _ store.RecentQuery) ([]store.HealAttempt, error) {
	return *new([]store.HealAttempt), ErrIncomplete
}
