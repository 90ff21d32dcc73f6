package server

import (
	"context"
	"fmt"
	"strings"

	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/dynamodb"
	"github.com/blackwellio/blackwell/internal/store/postgres"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

// UsageError is an error in the Options themselves (a flag's value, or
// flags that go only together), as opposed to a failure while starting:
// the CLI answers it with its usage exit status.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// OpenStore opens the store named by a URL: sqlite://PATH (or a bare path),
// or postgres://... (postgresql://...), whose parameters are documented in
// package postgres (pool_max_conns, statement_timeout, sslmode, ...), or
// dynamodb://PREFIX?region=R[&endpoint=URL] (experimental: refused unless
// BLACKWELL_DYNAMODB_EXPERIMENTAL=1, see package dynamodb).
// An unknown scheme is a UsageError.
func OpenStore(ctx context.Context, url string) (store.Store, error) {
	switch {
	case strings.HasPrefix(url, "sqlite://"):
		return sqlite.Open(ctx, strings.TrimPrefix(url, "sqlite://"))
	case isPostgres(url):
		st, err := postgres.Open(ctx, url)
		if err != nil {
			return nil, err
		}
		return st, nil
	case strings.HasPrefix(url, "dynamodb://"):
		if _, err := dynamodb.ParseURL(url); err != nil {
			return nil, UsageError{err}
		}
		return dynamodb.Open(ctx, url)
	case strings.Contains(url, "://"):
		// Only the scheme: the rest of a URL may hold a password.
		scheme, _, _ := strings.Cut(url, "://")
		return nil, UsageError{fmt.Errorf("unknown store URL scheme %q: want sqlite://PATH, postgres://... or dynamodb://PREFIX?region=R", scheme)}
	default:
		return sqlite.Open(ctx, url)
	}
}

// isPostgres reports whether a store URL names PostgreSQL.
func isPostgres(url string) bool {
	return strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://")
}

// RedactStoreURL is a store URL fit for logs: a PostgreSQL URL without its
// password and parameters; a SQLite path as it is.
func RedactStoreURL(u string) string {
	if isPostgres(u) {
		return postgres.Redact(u)
	}
	return u
}

// sqliteFile returns the file of a SQLite store URL (sqlite://PATH or a
// bare path, as OpenStore reads them), or false for another scheme.
func sqliteFile(u string) (string, bool) {
	if p, ok := strings.CutPrefix(u, "sqlite://"); ok {
		return p, true
	}
	if strings.Contains(u, "://") {
		return "", false
	}
	return u, true
}

// workers is Options.Workers, or its default for the store: 64 on
// SQLite; 128 on PostgreSQL, whose passes wait on the server's round trips
// too, and whose loads and commits go in batches of the passes waiting at
// once (three replicas at 100,000 stacks, quiet machine, alternating:
// PostgreSQL's CPU per pass 0.26-0.31 ms at 128 against 0.32-0.33 ms at
// 64; 256 gave no more than 128 in another window); and
// 8 on DynamoDB (measured on dynalite: at 64, passes of 1,000 stacks ran
// past their commit deadline retrying transactions cancelled by each
// other's stream head; at 8 a pass took 2.6 transactions).
func workers(o Options) int {
	switch {
	case o.Workers > 0:
		return o.Workers
	case strings.HasPrefix(o.StoreURL, "dynamodb://"):
		return 8
	case isPostgres(o.StoreURL):
		return 128
	default:
		return 64
	}
}
