package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRerunnableBatch: a batch of rerunnable writes runs without
// savepoints; when one fails, the batch runs again with them, so the
// others commit and only the failing one reports its error.
func TestRerunnableBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "blackwell.db"))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })

	runs := make([]int, 4)
	op := func(i int, fail bool) *writeOp {
		return &writeOp{rerunnable: true, durable: true, done: make(chan error, 1), fn: func(ctx context.Context, tx *sql.Tx) error {
			runs[i]++
			if _, err := tx.ExecContext(ctx, `INSERT INTO policies (client_id, stack_id, document, updated_at) VALUES (?, '', '{}', 0)`,
				fmt.Sprintf("c%d", i)); err != nil {
				return err
			}
			if fail {
				return errors.New("boom")
			}
			return nil
		}}
	}
	count := func() int {
		var n int
		require.NoError(t, s.reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM policies`).Scan(&n))
		return n
	}

	// All succeed: one plain run each.
	ok := []*writeOp{op(0, false), op(1, false)}
	s.writes.commit(ok)
	for _, o := range ok {
		require.NoError(t, <-o.done)
	}
	require.Equal(t, []int{1, 1, 0, 0}, runs)
	require.Equal(t, 2, count())

	// One fails: the batch runs again in savepoints.
	runs = make([]int, 4)
	mixed := []*writeOp{op(2, false), op(3, true)}
	s.writes.commit(mixed)
	require.NoError(t, <-mixed[0].done)
	require.EqualError(t, <-mixed[1].done, "boom")
	require.Equal(t, []int{0, 0, 2, 2}, runs, "both ran plain, then again with savepoints")
	require.Equal(t, 3, count(), "the failing write left nothing, the other committed")
}

// TestJoinedBatch: writes with a join run together, once; when the joined
// run fails, each runs alone in its savepoint and only the bad one fails.
// Beside a write that is not rerunnable, they run joined in a savepoint.
func TestJoinedBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "blackwell.db"))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })

	var joins, alone []string
	insert := func(ctx context.Context, tx *sql.Tx, client string) error {
		if client == "bad" {
			return errors.New("boom")
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO policies (client_id, stack_id, document, updated_at) VALUES (?, '', '{}', 0)`, client)
		return err
	}
	var join func(ctx context.Context, tx *sql.Tx, ops []*writeOp) error
	op := func(client string) *writeOp {
		return &writeOp{rerunnable: true, durable: true, join: join, ingest: &ingestCall{now: time.Unix(0, 0)},
			done: make(chan error, 1), fn: func(ctx context.Context, tx *sql.Tx) error {
				alone = append(alone, client)
				return insert(ctx, tx, client)
			}}
	}
	clients := map[*writeOp]string{}
	join = func(ctx context.Context, tx *sql.Tx, ops []*writeOp) error {
		var names []string
		for _, o := range ops {
			names = append(names, clients[o])
		}
		joins = append(joins, strings.Join(names, "+"))
		for _, n := range names {
			if err := insert(ctx, tx, n); err != nil {
				return err
			}
		}
		return nil
	}
	batch := func(names ...string) []*writeOp {
		var ops []*writeOp
		for _, n := range names {
			o := op(n)
			if n == "plain" {
				o.join = nil
				o.rerunnable = false
			}
			clients[o] = n
			ops = append(ops, o)
		}
		return ops
	}
	stored := func() []string {
		rows, err := s.reader.QueryContext(ctx, `SELECT client_id FROM policies ORDER BY client_id`)
		require.NoError(t, err)
		defer rows.Close()
		var out []string
		for rows.Next() {
			var c string
			require.NoError(t, rows.Scan(&c))
			out = append(out, c)
		}
		return out
	}

	ok := batch("a", "b", "c")
	s.writes.commit(ok)
	for _, o := range ok {
		require.NoError(t, <-o.done)
	}
	require.Equal(t, []string{"a+b+c"}, joins)
	require.Empty(t, alone, "joined, no write ran alone")

	joins, alone = nil, nil
	mixed := batch("d", "bad", "e")
	s.writes.commit(mixed)
	require.NoError(t, <-mixed[0].done)
	require.EqualError(t, <-mixed[1].done, "boom")
	require.NoError(t, <-mixed[2].done)
	require.Equal(t, []string{"d+bad+e"}, joins, "joined, without savepoints")
	require.Equal(t, []string{"d", "bad", "e"}, alone, "then each alone, in its savepoint")

	joins, alone = nil, nil
	withPlain := batch("f", "plain", "g")
	s.writes.commit(withPlain)
	for _, o := range withPlain {
		require.NoError(t, <-o.done)
	}
	require.Equal(t, []string{"f+g"}, joins, "joined in a savepoint beside a write that is not rerunnable")
	require.Equal(t, []string{"plain"}, alone)

	joins, alone = nil, nil
	badWithPlain := batch("h", "plain", "bad")
	s.writes.commit(badWithPlain)
	require.NoError(t, <-badWithPlain[0].done)
	require.Error(t, <-badWithPlain[1].done, "plain again: a conflict")
	require.EqualError(t, <-badWithPlain[2].done, "boom")
	require.Equal(t, []string{"h+bad"}, joins, "joined in a savepoint")
	require.Equal(t, []string{"h", "bad", "plain"}, alone, "each alone where the join was, before the write after it")
	require.Equal(t, []string{"a", "b", "c", "d", "e", "f", "g", "h", "plain"}, stored())
}
