package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/blackwellio/blackwell/internal/store"
)

// Export and import of rows for store copy (store.Ops). Kinds map to
// text, bigint, boolean and timestamptz, as the migrations declare them.

// copyBatch is how many rows ImportRows sends in one COPY.
const copyBatch = 5000

// ExportRows reads the tables in one REPEATABLE READ, read-only
// transaction: one snapshot, while writers go on.
func (s *Store) ExportRows(ctx context.Context, tables []store.Table, fn func(t store.Table, row []any) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("export: begin: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read-only; nothing to keep
	for _, t := range tables {
		if err := exportTable(ctx, tx, t, fn); err != nil {
			return fmt.Errorf("export %s: %w", t.Name, err)
		}
	}
	return nil
}

func identList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = pgx.Identifier{n}.Sanitize()
	}
	return strings.Join(q, ", ")
}

func exportTable(ctx context.Context, tx pgx.Tx, t store.Table, fn func(t store.Table, row []any) error) error {
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = exportExpr(t.Name, c.Name)
	}
	rows, err := tx.Query(ctx, `SELECT `+strings.Join(cols, ", ")+` FROM `+pgx.Identifier{t.Name}.Sanitize()+` ORDER BY `+identList(t.Order))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		row, err := rows.Values()
		if err != nil {
			return err
		}
		for i, v := range row {
			if tm, ok := v.(time.Time); ok {
				row[i] = utc(tm)
			}
		}
		if err := fn(t, row); err != nil {
			return err
		}
	}
	return rows.Err()
}

// ImportRows writes the rows with COPY, in batches, in one transaction;
// COPY writes the given values into identity columns, so seq numbers are
// kept. Before the commit, each identity counter is set past the largest
// imported value and audit_head to the last audit entry.
func (s *Store) ImportRows(ctx context.Context, tables []store.Table, rows func(emit func(t store.Table, row []any) error) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("import: begin: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit it does nothing
	known := map[string]bool{}
	for _, t := range tables {
		known[t.Name] = true
		var found bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+pgx.Identifier{t.Name}.Sanitize()+`)`).Scan(&found); err != nil {
			return fmt.Errorf("import: check %s is empty: %w", t.Name, err)
		}
		if found {
			return fmt.Errorf("%w: table %s has rows", store.ErrNotEmpty, t.Name)
		}
	}
	var cur store.Table
	var buf [][]any
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{cur.Name}, cur.ColumnNames(), pgx.CopyFromRows(buf)); err != nil {
			return fmt.Errorf("import %s: %w", cur.Name, translate(err))
		}
		buf = buf[:0]
		return nil
	}
	emit := func(t store.Table, row []any) error {
		if !known[t.Name] {
			return fmt.Errorf("import: table %s was not checked empty", t.Name)
		}
		if _, err := store.EncodeRow(t, row); err != nil {
			return fmt.Errorf("import: %w", err)
		}
		if t.Name != cur.Name || len(buf) >= copyBatch {
			if err := flush(); err != nil {
				return err
			}
			cur = t
		}
		buf = append(buf, slices.Clone(row))
		return nil
	}
	if err := rows(emit); err != nil {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	if err := s.afterImport(ctx, tx, known); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("import: commit: %w", err)
	}
	return nil
}

// afterImport brings the bookkeeping up to the imported rows: identity
// counters continue after the largest value, and audit_head names the last
// entry of the chain (appends lock it and continue from it).
func (s *Store) afterImport(ctx context.Context, tx pgx.Tx, tables map[string]bool) error {
	rows, err := tx.Query(ctx, `SELECT table_name::text, column_name::text FROM information_schema.columns
WHERE table_schema = current_schema() AND is_identity = 'YES' ORDER BY table_name, column_name`)
	if err != nil {
		return fmt.Errorf("list identity columns: %w", err)
	}
	type col struct{ table, column string }
	var (
		ids []col
		c   col
	)
	_, err = pgx.ForEachRow(rows, []any{&c.table, &c.column}, func() error {
		if tables[c.table] {
			ids = append(ids, c)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list identity columns: %w", err)
	}
	for _, c := range ids {
		col := pgx.Identifier{c.column}.Sanitize()
		if _, err := tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence($1, $2), COALESCE(MAX(`+col+`), 0) + 1, false) FROM `+pgx.Identifier{c.table}.Sanitize(),
			pgx.Identifier{c.table}.Sanitize(), c.column); err != nil {
			return fmt.Errorf("set identity of %s.%s: %w", c.table, c.column, err)
		}
	}
	if tables["events"] {
		if _, err := tx.Exec(ctx, qRebuildActivity); err != nil {
			return fmt.Errorf("event activity: %w", err)
		}
	}
	if tables["audit"] {
		if _, err := tx.Exec(ctx, `UPDATE audit_head SET seq = last.seq, hash = last.hash
FROM (SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1) AS last`); err != nil {
			return fmt.Errorf("set audit head: %w", err)
		}
	}
	return nil
}
