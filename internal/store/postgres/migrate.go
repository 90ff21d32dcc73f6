package postgres

import (
	"context"
	"embed"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/blackwellio/blackwell/internal/store"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// ErrSchemaTooNew: the database was migrated by a newer blackwell than this
// one. Open refuses it rather than run against a schema it does not know.
// It is store.ErrSchemaTooNew.
var ErrSchemaTooNew = store.ErrSchemaTooNew

// migrations returns the embedded migrations in order (see
// store.ReadMigrations). Number n means the same change as the SQLite
// driver's migration n.
func migrations() ([]store.MigrationFile, error) {
	return store.ReadMigrations(migrationFS, "migrations")
}

// qMigrateLock serialises migrations of one schema: replicas that start at
// once wait here, and the later ones find the migrations applied. The lock
// is transaction-scoped (released at COMMIT or ROLLBACK, even if the
// connection dies) and keyed by the schema, so databases holding several
// installations, one per schema, do not wait for each other.
const qMigrateLock = `SELECT pg_advisory_xact_lock(hashtextextended('blackwell.migrate:' || coalesce(current_schema(), ''), 0))`

// migrate applies the pending migrations, all in one transaction (DDL is
// transactional in PostgreSQL: a failed migration leaves nothing behind).
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	err = s.inTx(ctx, func(ctx context.Context, t *txn) error {
		var current int
		b := t.batch()
		b.Queue(qMigrateLock)
		b.Queue(`CREATE TABLE IF NOT EXISTS schema_migrations (
	version    bigint      PRIMARY KEY,
	name       text        NOT NULL,
	applied_at timestamptz NOT NULL
)`)
		if err := t.send(ctx, b); err != nil {
			return fmt.Errorf("lock migrations: %w", err)
		}
		// Not in the batch: pgx prepares a batch's statements before any
		// runs, and the table may only just have been created.
		if err := t.conn.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if err := store.CheckSchemaVersion(current, len(ms)); err != nil {
			return err
		}
		for _, m := range ms[current:] {
			// No arguments: pgx sends the file with the simple protocol,
			// which runs several statements.
			if _, err := t.conn.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("apply migration %s: %w", m.Name, err)
			}
			if _, err := t.conn.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.Version, m.Name, ts(s.now())); err != nil {
				return fmt.Errorf("record migration %s: %w", m.Name, err)
			}
		}
		return t.commit(ctx, t.batch())
	})
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// SchemaVersion returns the number of the last applied migration.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	if err := s.pool.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

// LatestSchemaVersion is the number of this program's last migration: the
// version Open brings a database to.
func LatestSchemaVersion() int {
	ms, err := migrations()
	if err != nil {
		return 0
	}
	return len(ms)
}

// Migrations returns the applied migrations, oldest first.
func (s *Store) Migrations(ctx context.Context) ([]store.Migration, error) {
	rows, _ := s.pool.Query(ctx, `SELECT version, name, applied_at FROM schema_migrations ORDER BY version`)
	out, err := collectRows(rows, func(row pgx.CollectableRow) (store.Migration, error) {
		var (
			m store.Migration
			v int64
		)
		err := row.Scan(&v, &m.Name, &m.AppliedAt)
		m.Version, m.AppliedAt = int(v), utc(m.AppliedAt)
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	return out, nil
}
