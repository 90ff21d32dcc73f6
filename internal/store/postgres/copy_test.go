package postgres_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/store"
)

// TestCopyTablesMatchSchema: store.CopyTables lists every table the
// migrations create, with each column, its kind and nullability, so that
// store copy moves everything. A migration that adds a table or column
// fails here until store.CopyTables says how to copy it.
func TestCopyTablesMatchSchema(t *testing.T) {
	t.Parallel()
	u := newSchema(t, serverURL(t))
	open(t, u) // migrates
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := connect(ctx, u)
	require.NoError(t, err)
	defer conn.Close(ctx)

	// audit_head is rebuilt by ImportRows from the audit rows, and
	// event_activity from the events; event_marks and events.xid are this
	// driver's own (export writes drift_checked as the store answers it).
	rows, err := conn.Query(ctx, `SELECT table_name::text FROM information_schema.tables
WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
AND table_name NOT IN ('schema_migrations', 'audit_head', 'event_activity', 'event_marks', 'stream', 'stream_head') ORDER BY table_name`)
	require.NoError(t, err)
	var tables []string
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

	kinds := map[store.Kind]string{
		store.KindText: "text", store.KindInt: "bigint", store.KindBool: "boolean", store.KindTime: "timestamp with time zone",
	}
	for _, tb := range store.CopyTables() {
		type col struct {
			typ      string
			nullable bool
		}
		have := map[string]col{}
		rows, err := conn.Query(ctx, `SELECT column_name::text, data_type::text, is_nullable::text FROM information_schema.columns
WHERE table_schema = current_schema() AND table_name = $1`, tb.Name)
		require.NoError(t, err)
		for rows.Next() {
			var name, nullable string
			var c col
			require.NoError(t, rows.Scan(&name, &c.typ, &nullable))
			c.nullable = strings.EqualFold(nullable, "YES")
			have[name] = c
		}
		require.NoError(t, rows.Err())
		if tb.Name == "events" {
			delete(have, "xid")
		}
		for _, c := range tb.Columns {
			got, ok := have[c.Name]
			require.True(t, ok, "%s.%s is not a column of the schema", tb.Name, c.Name)
			delete(have, c.Name)
			require.Equal(t, kinds[c.Kind], got.typ, "%s.%s: type for kind %s", tb.Name, c.Name, c.Kind)
			require.Equal(t, c.Null, got.nullable, "%s.%s: nullable", tb.Name, c.Name)
		}
		require.Empty(t, have, "columns of %s missing from its entry in store.CopyTables (internal/store/copy.go)", tb.Name)
	}
}
