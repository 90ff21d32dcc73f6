package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/blackwellio/blackwell/internal/store"

	"github.com/blackwellio/blackwell/internal/store/postgres"
)

// redactStoreURL is a store URL fit for logs: a PostgreSQL URL without its
// password and parameters; a SQLite path as it is.
func redactStoreURL(u string) string {
	if strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://") {
		return postgres.Redact(u)
	}
	return u
}

// openExistingStore opens a store that must exist already: every command
// but serve (and migrate --create) works on an installation, and a typo in
// a SQLite path must not leave an empty store behind it, nor make a copy
// or a token listing "succeed" on nothing. A PostgreSQL database is never
// created by connecting to it, so only SQLite paths are checked here.
func openExistingStore(ctx context.Context, url string) (store.Store, error) {
	if path, ok := sqlitePath(url); ok {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("store %s does not exist: \"blackwell serve\" creates it (or \"blackwell migrate --create --store %s\"); check the path", url, url)
		} else if err != nil {
			return nil, fmt.Errorf("store %s: %w", url, err)
		}
	}
	return openStore(ctx, url)
}
