package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

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
