package dynamodb

// The methods this driver does not implement yet: each answers
// ErrIncomplete (see the package doc and docs/DEPLOYMENT.md).

import (
	"context"
	"time"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
	"github.com/blackwellio/blackwell/internal/store"
)

var _ store.Store = (*Store)(nil)

// AddAuditHead is not implemented yet: ErrIncomplete.
func (s *Store) AddAuditHead(_ context.Context, _ store.AuditHead) (bool, error) {
	return *new(bool), ErrIncomplete
}

// AppendStream is not implemented yet: ErrIncomplete.
func (s *Store) AppendStream(_ context.Context, _ []store.StreamEvent) error { return ErrIncomplete }

// AuditAfter is not implemented yet: ErrIncomplete.
func (s *Store) AuditAfter(_ context.Context, _ int64, _ int) ([]store.AuditEntry, error) {
	return *new([]store.AuditEntry), ErrIncomplete
}

// AuditChainHead is not implemented yet: ErrIncomplete.
func (s *Store) AuditChainHead(_ context.Context) (store.AuditHead, error) {
	return *new(store.AuditHead), ErrIncomplete
}

// AuditCheckpoint is not implemented yet: ErrIncomplete.
func (s *Store) AuditCheckpoint(_ context.Context) (store.AuditCheckpoint, error) {
	return *new(store.AuditCheckpoint), ErrIncomplete
}

// AuditHead is not implemented yet: ErrIncomplete.
func (s *Store) AuditHead(_ context.Context) (int64, error) { return *new(int64), ErrIncomplete }

// CommitSubscriber is not implemented yet: ErrIncomplete.
func (s *Store) CommitSubscriber(_ context.Context, _ store.SubscriberCommit) error {
	return ErrIncomplete
}

// CountStacks is not implemented yet: ErrIncomplete.
func (s *Store) CountStacks(_ context.Context, _ string) (map[store.Status]int, error) {
	return *new(map[store.Status]int), ErrIncomplete
}

// CreateToken is not implemented yet: ErrIncomplete.
func (s *Store) CreateToken(_ context.Context, _ store.Token, _ []store.AuditEntry) error {
	return ErrIncomplete
}

// DashboardSeries is not implemented yet: ErrIncomplete.
func (s *Store) DashboardSeries(_ context.Context, _ store.SeriesQuery) (store.Series, error) {
	return *new(store.Series), ErrIncomplete
}

// DataKeys is not implemented yet: ErrIncomplete.
func (s *Store) DataKeys(_ context.Context) ([]store.DataKey, error) {
	return *new([]store.DataKey), ErrIncomplete
}

// DeleteContent is not implemented yet: ErrIncomplete.
func (s *Store) DeleteContent(_ context.Context, _ store.ContentErase) (int, error) {
	return *new(int), ErrIncomplete
}

// DeleteOutbox is not implemented yet: ErrIncomplete.
func (s *Store) DeleteOutbox(_ context.Context, _ []string) error { return ErrIncomplete }

// DeleteRows is not implemented yet: ErrIncomplete.
func (s *Store) DeleteRows(_ context.Context, _ store.PayloadTable, _ []string) (int, error) {
	return *new(int), ErrIncomplete
}

// DeleteStack is not implemented yet: ErrIncomplete.
func (s *Store) DeleteStack(_ context.Context, _ store.StackDeletion) (store.StackDeleted, error) {
	return *new(store.StackDeleted), ErrIncomplete
}

// ExportRows is not implemented yet: ErrIncomplete.
func (s *Store) ExportRows(_ context.Context, _ []store.Table, _ func(store.Table, []interface{}) error) error {
	return ErrIncomplete
}

// GetChannelSet is not implemented yet: ErrIncomplete.
func (s *Store) GetChannelSet(_ context.Context, _ string) (store.ChannelSet, error) {
	return *new(store.ChannelSet), ErrIncomplete
}

// GetSubscriber is not implemented yet: ErrIncomplete.
func (s *Store) GetSubscriber(_ context.Context, _ string) (store.Subscriber, error) {
	return *new(store.Subscriber), ErrIncomplete
}

// GetToken is not implemented yet: ErrIncomplete.
func (s *Store) GetToken(_ context.Context, _ string) (store.Token, error) {
	return *new(store.Token), ErrIncomplete
}

// HasTokens is not implemented yet: ErrIncomplete.
func (s *Store) HasTokens(_ context.Context) (bool, error) { return *new(bool), ErrIncomplete }

// ImportRows is not implemented yet: ErrIncomplete.
func (s *Store) ImportRows(_ context.Context, _ []store.Table, _ func(func(store.Table, []interface{}) error) error) error {
	return ErrIncomplete
}

// LatestAuditHead is not implemented yet: ErrIncomplete.
func (s *Store) LatestAuditHead(_ context.Context, _ string) (store.AuditHead, error) {
	return *new(store.AuditHead), ErrIncomplete
}

// ListAuditHeads is not implemented yet: ErrIncomplete.
func (s *Store) ListAuditHeads(_ context.Context, _ string, _ int) ([]store.AuditHead, string, error) {
	return *new([]store.AuditHead), *new(string), ErrIncomplete
}

// ListForecasts is not implemented yet: ErrIncomplete.
func (s *Store) ListForecasts(_ context.Context, _ store.ForecastQuery) ([]forecast.Forecast, string, error) {
	return *new([]forecast.Forecast), *new(string), ErrIncomplete
}

// ListTokens is not implemented yet: ErrIncomplete.
func (s *Store) ListTokens(_ context.Context) ([]store.Token, error) {
	return *new([]store.Token), ErrIncomplete
}

// OpenDriftCounts is not implemented yet: ErrIncomplete.
func (s *Store) OpenDriftCounts(_ context.Context, _ string, _ int) ([]store.DriftCount, error) {
	return *new([]store.DriftCount), ErrIncomplete
}

// OpenForecastCounts is not implemented yet: ErrIncomplete.
func (s *Store) OpenForecastCounts(_ context.Context) (map[drift.Code]int, error) {
	return *new(map[drift.Code]int), ErrIncomplete
}

// PendingOutbox is not implemented yet: ErrIncomplete.
func (s *Store) PendingOutbox(_ context.Context, _ store.OutboxQuery) ([]store.OutboxItem, error) {
	return *new([]store.OutboxItem), ErrIncomplete
}

// PruneAudit is not implemented yet: ErrIncomplete.
func (s *Store) PruneAudit(_ context.Context, _ int64, _ store.AuditCheckpoint) (int, error) {
	return *new(int), ErrIncomplete
}

// PruneStream is not implemented yet: ErrIncomplete.
func (s *Store) PruneStream(_ context.Context, _ store.StreamPrune, _ int) (int, error) {
	return *new(int), ErrIncomplete
}

// PutChannelSet is not implemented yet: ErrIncomplete.
func (s *Store) PutChannelSet(_ context.Context, _ store.ChannelSet) (int, error) {
	return *new(int), ErrIncomplete
}

// PutDataKeys is not implemented yet: ErrIncomplete.
func (s *Store) PutDataKeys(_ context.Context, _ []store.DataKey) error { return ErrIncomplete }

// ReadStream is not implemented yet: ErrIncomplete.
func (s *Store) ReadStream(_ context.Context, _ int64, _ int) (store.StreamPage, error) {
	return *new(store.StreamPage), ErrIncomplete
}

// RecentDrifts is not implemented yet: ErrIncomplete.
func (s *Store) RecentDrifts(_ context.Context, _ store.RecentQuery) ([]drift.Drift, error) {
	return *new([]drift.Drift), ErrIncomplete
}

// RecentHeals is not implemented yet: ErrIncomplete.
func (s *Store) RecentHeals(_ context.Context, _ store.RecentQuery) ([]store.HealAttempt, error) {
	return *new([]store.HealAttempt), ErrIncomplete
}

// RevokeToken is not implemented yet: ErrIncomplete.
func (s *Store) RevokeToken(_ context.Context, _ string, _ time.Time, _ []store.AuditEntry) (store.Token, error) {
	return *new(store.Token), ErrIncomplete
}

// ScanPayloads is not implemented yet: ErrIncomplete.
func (s *Store) ScanPayloads(_ context.Context, _ store.PayloadScan) ([]store.PayloadRow, error) {
	return *new([]store.PayloadRow), ErrIncomplete
}

// SwapPayloads is not implemented yet: ErrIncomplete.
func (s *Store) SwapPayloads(_ context.Context, _ store.PayloadTable, _ []store.PayloadSwap) (int, error) {
	return *new(int), ErrIncomplete
}

// TokenBySecretHash is not implemented yet: ErrIncomplete.
func (s *Store) TokenBySecretHash(_ context.Context, _ string) (store.Token, error) {
	return *new(store.Token), ErrIncomplete
}

// TouchToken is not implemented yet: ErrIncomplete.
func (s *Store) TouchToken(_ context.Context, _ string, _ time.Time) error { return ErrIncomplete }

// WatchStream is not implemented yet: ErrIncomplete.
func (s *Store) WatchStream(_ context.Context, _ func()) error { return ErrIncomplete }

// WriteForecasts is not implemented yet: ErrIncomplete.
func (s *Store) WriteForecasts(_ context.Context, _ store.ForecastWrite) ([]forecast.Forecast, error) {
	return *new([]forecast.Forecast), ErrIncomplete
}
