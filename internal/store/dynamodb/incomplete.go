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

// PutOrganizationPolicy is not implemented yet: ErrIncomplete.
func (s *Store) PutOrganizationPolicy(context.Context, store.OrganizationPolicyRecord) error {
	return ErrIncomplete
}

// GetOrganizationPolicy answers ErrNotFound: no organisation policy can
// be stored yet (PutOrganizationPolicy is not implemented), so there is
// none, and stacks run under their own policies.
func (s *Store) GetOrganizationPolicy(context.Context) (store.OrganizationPolicyRecord, error) {
	return store.OrganizationPolicyRecord{}, store.ErrNotFound
}

// RecordCompliance is not implemented yet: ErrIncomplete.
func (s *Store) RecordCompliance(context.Context, store.ComplianceWrite) (int, error) {
	return 0, ErrIncomplete
}

// ListCompliance is not implemented yet: ErrIncomplete.
func (s *Store) ListCompliance(context.Context, store.ComplianceQuery) ([]store.ComplianceSegment, store.Page, error) {
	return nil, "", ErrIncomplete
}
