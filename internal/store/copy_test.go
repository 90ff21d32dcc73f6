package store

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCopyTablesWellFormed(t *testing.T) {
	t.Parallel()
	names := map[string]bool{}
	for _, tb := range CopyTables() {
		require.False(t, names[tb.Name], "table %s listed twice", tb.Name)
		names[tb.Name] = true
		cols := map[string]bool{}
		for _, c := range tb.Columns {
			require.False(t, cols[c.Name], "%s.%s listed twice", tb.Name, c.Name)
			cols[c.Name] = true
		}
		require.NotEmpty(t, tb.Order, tb.Name)
		for _, o := range tb.Order {
			require.True(t, cols[o], "%s: order column %s is not a column", tb.Name, o)
		}
	}
	require.Panics(t, func() { table("x", "a", "a text, b float") })
	require.Panics(t, func() { table("x", "a", "a text nullable") })
}

func TestEncodeRow(t *testing.T) {
	t.Parallel()
	tb := table("t", "id", "id int, name text, ok bool, at time, note text null")
	when := time.Date(2026, 1, 2, 3, 4, 5, 6789, time.FixedZone("X", 3600))
	good := []any{int64(1), "a", true, when, nil}
	b, err := EncodeRow(tb, good)
	require.NoError(t, err)
	same, err := EncodeRow(tb, []any{int64(1), "a", true, Truncate(when), nil})
	require.NoError(t, err)
	require.Equal(t, b, same, "times encode as their stored value")

	for name, row := range map[string][]any{
		"short":          {int64(1), "a", true, when},
		"int as string":  {"1", "a", true, when, nil},
		"int as int":     {1, "a", true, when, nil},
		"bool as int":    {int64(1), "a", int64(1), when, nil},
		"time as int":    {int64(1), "a", true, when.UnixMicro(), nil},
		"null not null":  {int64(1), nil, true, when, nil},
		"text as []byte": {int64(1), []byte("a"), true, when, nil},
	} {
		_, err := EncodeRow(tb, row)
		require.Error(t, err, name)
	}
	// Values that differ encode differently, also across kinds' edges.
	other, err := EncodeRow(tb, []any{int64(1), "a", true, when, ""})
	require.NoError(t, err)
	require.NotEqual(t, b, other, "NULL and empty text differ")
	split1, _ := EncodeRow(table("t", "a", "a text, b text"), []any{"ab", ""})
	split2, _ := EncodeRow(table("t", "a", "a text, b text"), []any{"a", "b"})
	require.NotEqual(t, split1, split2, "lengths are prefixed")
}

func TestDigestIgnoresOrder(t *testing.T) {
	t.Parallel()
	tb := table("t", "id", "id int, name text")
	rows := [][]any{{int64(1), "a"}, {int64(2), "b"}, {int64(3), "c"}}
	fwd, back := newTableDigests([]Table{tb}), newTableDigests([]Table{tb})
	for i := range rows {
		require.NoError(t, fwd.add(tb, rows[i]))
		require.NoError(t, back.add(tb, rows[len(rows)-1-i]))
	}
	require.Equal(t, fwd["t"].hex(), back["t"].hex())
	require.Equal(t, int64(3), fwd["t"].rows)
	changed := newTableDigests([]Table{tb})
	for _, r := range [][]any{{int64(1), "a"}, {int64(2), "b"}, {int64(3), "C"}} {
		require.NoError(t, changed.add(tb, r))
	}
	require.NotEqual(t, fwd["t"].hex(), changed["t"].hex())
}
