package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	bwserver "github.com/blackwellio/blackwell/internal/server"
	"github.com/blackwellio/blackwell/internal/store"
)

// redactStoreURL is a store URL fit for logs (server.RedactStoreURL).
func redactStoreURL(u string) string { return bwserver.RedactStoreURL(u) }

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
