package main

import (
	"strings"

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
