package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

// TestCopyTablesMatchSchema: store.CopyTables lists every table the
// migrations create, with each column, its kind and nullability, so that
// store copy moves everything. A migration that adds a table or column
// fails here until store.CopyTables says how to copy it.
func TestCopyTablesMatchSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "b.db")
	s, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=query_only(1)")
	require.NoError(t, err)
	defer db.Close()

	// event_activity is rebuilt by ImportRows from the events, and
	// event_marks are this driver's own (export writes drift_checked as the
	// store answers it).
	var tables []string
	rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table'
AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name NOT IN ('schema_migrations', 'event_activity', 'event_marks', 'stream', 'stream_head') ORDER BY name`)
	require.NoError(t, err)
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		tables = append(tables, n)
	}
	require.NoError(t, rows.Err())
	var listed []string
	for _, tb := range store.CopyTables() {
		listed = append(listed, tb.Name)
	}
	slices.Sort(listed)
	require.Equal(t, tables, listed, "store.CopyTables (internal/store/copy.go) must list every table of the schema: add one entry per new table, so blackwell store copy moves it")

	for _, tb := range store.CopyTables() {
		type col struct {
			typ         string
			notnull, pk bool
		}
		have := map[string]col{}
		rows, err := db.QueryContext(ctx, `SELECT name, type, "notnull", pk FROM pragma_table_info(?)`, tb.Name)
		require.NoError(t, err)
		for rows.Next() {
			var name string
			var c col
			var pk int
			require.NoError(t, rows.Scan(&name, &c.typ, &c.notnull, &pk))
			c.pk = pk > 0
			have[name] = c
		}
		require.NoError(t, rows.Err())
		for _, c := range tb.Columns {
			got, ok := have[c.Name]
			if !ok && c.Name == "seq" && c.Kind == store.KindInt {
				continue // the rowid
			}
			require.True(t, ok, "%s.%s is not a column of the schema", tb.Name, c.Name)
			delete(have, c.Name)
			want := "INTEGER"
			if c.Kind == store.KindText {
				want = "TEXT"
			}
			require.Equal(t, want, got.typ, "%s.%s: type for kind %s", tb.Name, c.Name, c.Kind)
			if !got.pk { // an INTEGER PRIMARY KEY is the rowid: never NULL, yet notnull = 0
				require.Equal(t, !c.Null, got.notnull, "%s.%s: NOT NULL", tb.Name, c.Name)
			}
		}
		require.Empty(t, have, "columns of %s missing from its entry in store.CopyTables (internal/store/copy.go)", tb.Name)
	}
}
