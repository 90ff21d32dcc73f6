// Package sqlite is the embedded store driver: one SQLite file in WAL mode,
// pure Go (modernc.org/sqlite), migrations embedded and applied at Open.
package sqlite

import (
	"context"
	"errors"

	"github.com/blackwellio/blackwell/internal/store"
)

// Store is the SQLite driver of store.Store.
type Store struct{ store.Store }

// Open opens (creating if needed) the database at path and applies
// migrations. path ":memory:" is not supported; use a temp file.
func Open(ctx context.Context, path string) (*Store, error) {
	return nil, errors.New("sqlite.Open: not implemented yet")
}
