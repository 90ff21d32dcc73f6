package store

import (
	"context"
	"errors"
	"time"
)

// ErrSchemaTooNew: the database was migrated by a newer blackwell than this
// one. Drivers refuse to open it rather than run against a schema they do
// not know.
var ErrSchemaTooNew = errors.New("database schema is newer than this program")

// Migration is one numbered schema migration of a driver.
type Migration struct {
	Version int    `json:"version"`
	Name    string `json:"name"`
	// AppliedAt is when it was applied to this database.
	AppliedAt time.Time `json:"applied_at"`
}

// Ops is what operating an installation needs from a store beyond its
// records: the schema version, and moving every row to another store
// (blackwell migrate, backup, store copy).
type Ops interface {
	// SchemaVersion returns the number of the last applied migration.
	SchemaVersion(ctx context.Context) (int, error)
	// Migrations returns the applied migrations, oldest first.
	Migrations(ctx context.Context) ([]Migration, error)
	// ExportRows reads every row of the tables, table by table in the order
	// given, each table in its Order, from one consistent snapshot of the
	// store, and calls fn with each row: one value per column of the table,
	// as Kind says (see Table).
	ExportRows(ctx context.Context, tables []Table, fn func(t Table, row []any) error) error
	// ImportRows fills empty tables in one transaction: it fails with
	// ErrNotEmpty, having written nothing, when any of the tables holds a
	// row; else it calls rows, whose emit writes one row (values as
	// ExportRows gives them) into its table, and commits when rows returns
	// nil. Identity counters and other driver bookkeeping (the head of the
	// audit chain) are brought up to the imported rows before the commit.
	ImportRows(ctx context.Context, tables []Table, rows func(emit func(t Table, row []any) error) error) error
}

// ErrNotEmpty: ImportRows found rows in a table it was to fill.
var ErrNotEmpty = errors.New("target store is not empty")
