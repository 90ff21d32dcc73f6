// Package pgtest gives tests outside the store a fresh PostgreSQL schema
// of the test server.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/blackwellio/blackwell/internal/store/postgres"
)

// SchemaURL creates an empty schema on the test PostgreSQL
// (BLACKWELL_TEST_POSTGRES, or this machine's), dropped when the test
// ends, and returns a URL whose connections use it. Without a server the
// test is skipped, except under CI=true where that fails it.
func SchemaURL(t testing.TB) string {
	t.Helper()
	server := os.Getenv("BLACKWELL_TEST_POSTGRES")
	if server == "" {
		server = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL at %s is unreachable, and under CI=true this test must run: %v", postgres.Redact(server), err)
		}
		t.Skipf("PostgreSQL at %s is unreachable (set BLACKWELL_TEST_POSTGRES; under CI=true this fails instead): %v", postgres.Redact(server), err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	name := "test_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+name); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, server); err == nil {
			_, _ = c.Exec(ctx, `DROP SCHEMA `+name+` CASCADE`)
			c.Close(ctx)
		}
	})
	u, err := url.Parse(server)
	if err != nil {
		t.Fatalf("parse %s: %v", postgres.Redact(server), err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// Store opens a store on a fresh schema (SchemaURL), closed when the test
// ends.
func Store(t testing.TB) *postgres.Store {
	t.Helper()
	db, err := postgres.Open(context.Background(), SchemaURL(t), postgres.WithMaxConns(4))
	if err != nil {
		t.Fatalf("open the store: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
