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
