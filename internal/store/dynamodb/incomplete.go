package dynamodb

// The methods this driver does not implement yet: each answers
// ErrIncomplete (see the package doc and docs/DEPLOYMENT.md).

import (
	"context"

	"github.com/blackwellio/blackwell/internal/store"
)

var _ store.Store = (*Store)(nil)

// ExportRows is not implemented yet: ErrIncomplete.
func (s *Store) ExportRows(_ context.Context, _ []store.Table, _ func(store.Table, []interface{}) error) error {
	return ErrIncomplete
}

// ImportRows is not implemented yet: ErrIncomplete.
func (s *Store) ImportRows(_ context.Context, _ []store.Table, _ func(func(store.Table, []interface{}) error) error) error {
	return ErrIncomplete
}

// PutPipeline is not implemented yet: ErrIncomplete.
func (s *Store) PutPipeline(context.Context, store.PipelineRecord) error { return ErrIncomplete }

// ListPipelines answers none: no pipeline can be stored yet
// (PutPipeline is not implemented), so no application has one.
func (s *Store) ListPipelines(context.Context, string) ([]store.PipelineRecord, error) {
	return nil, nil
}

// CreatePromotion is not implemented yet: ErrIncomplete.
func (s *Store) CreatePromotion(context.Context, store.Promotion, *store.Approval, []store.AuditEntry) (store.Promotion, error) {
	return store.Promotion{}, ErrIncomplete
}

// UpdatePromotion is not implemented yet: ErrIncomplete.
func (s *Store) UpdatePromotion(context.Context, store.Promotion, []store.AuditEntry) (store.Promotion, error) {
	return store.Promotion{}, ErrIncomplete
}

// GetPromotion answers ErrNotFound: no promotion can be stored yet.
func (s *Store) GetPromotion(context.Context, string, string) (store.Promotion, error) {
	return store.Promotion{}, store.ErrNotFound
}

// ListPromotions answers none: no promotion can be stored yet.
func (s *Store) ListPromotions(context.Context, store.PromotionQuery) ([]store.Promotion, store.Page, error) {
	return nil, "", nil
}
