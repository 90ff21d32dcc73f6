package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/blackwellio/blackwell/internal/store"
)

// Export and import of rows for store copy (store.Ops). Kinds are stored as
// the rest of the driver stores them: time as INTEGER unix microseconds,
// bool as INTEGER 0/1.
//
// A table whose Order names a seq column it does not have keeps its
// insertion order in the rowid (desired_versions: PostgreSQL has an
// identity column there); the rowid is read and written under that name,
// so the order survives a copy either way.

// ident quotes an identifier.
func ident(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

// columnExprs are the SQL expressions of t's columns in this file: the
// column itself, or rowid for a seq column the table does not have.
func columnExprs(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, t store.Table) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT name FROM pragma_table_info(?)`, t.Name)
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", t.Name, err)
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("columns of %s: %w", t.Name, err)
		}
		have[n] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("columns of %s: %w", t.Name, err)
	}
	if len(have) == 0 {
		return nil, fmt.Errorf("table %s does not exist", t.Name)
	}
	exprs := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		switch {
		case have[c.Name]:
			exprs[i] = ident(c.Name)
		case c.Name == "seq" && c.Kind == store.KindInt:
			exprs[i] = "rowid"
		default:
			return nil, fmt.Errorf("table %s has no column %s", t.Name, c.Name)
		}
	}
	return exprs, nil
}

// ExportRows reads the tables in one read transaction: in WAL mode it sees
// one snapshot of the file while writers go on.
func (s *Store) ExportRows(ctx context.Context, tables []store.Table, fn func(t store.Table, row []any) error) error {
	tx, err := s.reader.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("export: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only; nothing to keep
	for _, t := range tables {
		if err := exportTable(ctx, tx, t, fn); err != nil {
			return fmt.Errorf("export %s: %w", t.Name, err)
		}
	}
	return nil
}

func exportTable(ctx context.Context, tx *sql.Tx, t store.Table, fn func(t store.Table, row []any) error) error {
	exprs, err := columnExprs(ctx, tx, t)
	if err != nil {
		return err
	}
	order := make([]string, len(t.Order))
	for i, o := range t.Order {
		order[i] = ident(o)
		for j, c := range t.Columns {
			if c.Name == o {
				order[i] = exprs[j]
			}
		}
	}
	cols := make([]string, len(exprs))
	for i, c := range t.Columns {
		cols[i] = exportExpr(t.Name, c.Name, exprs[i])
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+strings.Join(cols, ", ")+` FROM `+ident(t.Name)+` ORDER BY `+strings.Join(order, ", "))
	if err != nil {
		return err
	}
	defer rows.Close()
	dest := make([]any, len(t.Columns))
	texts := make([]sql.NullString, len(t.Columns))
	ints := make([]sql.NullInt64, len(t.Columns))
	for i, c := range t.Columns {
		if c.Kind == store.KindText {
			dest[i] = &texts[i]
		} else {
			dest[i] = &ints[i]
		}
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		row := make([]any, len(t.Columns))
		for i, c := range t.Columns {
			switch {
			case c.Kind == store.KindText && texts[i].Valid:
				row[i] = texts[i].String
			case c.Kind == store.KindText || !ints[i].Valid:
				row[i] = nil
			case c.Kind == store.KindInt:
				row[i] = ints[i].Int64
			case c.Kind == store.KindBool:
				row[i] = ints[i].Int64 != 0
			case c.Kind == store.KindTime:
				row[i] = fromMicros(ints[i].Int64)
			}
		}
		if err := fn(t, row); err != nil {
			return err
		}
	}
	return rows.Err()
}

// ImportRows writes the rows in one transaction on the writer connection,
// holding the write lock throughout: the committer's writes wait, and a
// target that another process writes to is refused as not empty or waits
// for busy_timeout.
func (s *Store) ImportRows(ctx context.Context, tables []store.Table, rows func(emit func(t store.Table, row []any) error) error) error {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("import: begin: %w", translate(err))
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it does nothing
	for _, t := range tables {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM `+ident(t.Name)+`)`).Scan(&n); err != nil {
			return fmt.Errorf("import: check %s is empty: %w", t.Name, err)
		}
		if n != 0 {
			return fmt.Errorf("%w: table %s has rows", store.ErrNotEmpty, t.Name)
		}
	}
	stmts := map[string]*sql.Stmt{}
	known := map[string]bool{}
	for _, t := range tables {
		known[t.Name] = true
	}
	emit := func(t store.Table, row []any) error {
		if !known[t.Name] {
			return fmt.Errorf("import: table %s was not checked empty", t.Name)
		}
		st, ok := stmts[t.Name]
		if !ok {
			exprs, err := columnExprs(ctx, tx, t)
			if err != nil {
				return fmt.Errorf("import: %w", err)
			}
			marks := strings.TrimSuffix(strings.Repeat("?, ", len(exprs)), ", ")
			st, err = tx.PrepareContext(ctx, `INSERT INTO `+ident(t.Name)+` (`+strings.Join(exprs, ", ")+`) VALUES (`+marks+`)`)
			if err != nil {
				return fmt.Errorf("import %s: %w", t.Name, err)
			}
			stmts[t.Name] = st
		}
		if _, err := store.EncodeRow(t, row); err != nil {
			return fmt.Errorf("import: %w", err)
		}
		args := make([]any, len(row))
		for i := range row {
			switch v := row[i].(type) {
			case bool:
				args[i] = boolInt(v)
			case time.Time:
				args[i] = micros(v)
			default: // nil, string, int64 (EncodeRow checked the kinds)
				args[i] = v
			}
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("import %s: %w", t.Name, translate(err))
		}
		return nil
	}
	if err := rows(emit); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("import: commit: %w", translate(err))
	}
	return nil
}
