package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

// TestMigration0012ShardsExistingStacks: the stacks a store held before
// migration 0011 get the shard store.ShardOf gives them, from the SQL
// version of the hash in the migration itself (run again here on stacks
// whose shard column was taken away).
func TestMigration0012ShardsExistingStacks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "b.db")
	s, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	var in []store.DesiredInput
	for i := range 300 {
		in = append(in, store.DesiredInput{ClientID: fmt.Sprintf("client-%d", i%7), StackID: fmt.Sprintf("stäck-%d-日本", i),
			Environment: "prod", Hash: "h", Document: []byte(`{}`)})
	}
	in = append(in, store.DesiredInput{ClientID: "a", StackID: "b", Environment: "prod", Hash: "h", Document: []byte(`{}`)})
	_, err = s.ApplyDesired(ctx, in)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	migration, err := os.ReadFile("migrations/0012_replicas.sql")
	require.NoError(t, err)

	db, err := sql.Open("sqlite", "file:"+path)
	require.NoError(t, err)
	defer db.Close()
	for _, q := range []string{`DROP INDEX outbox_channel`, `DROP INDEX states_shard`, `DROP TABLE notify_channel_sets`, `ALTER TABLE states DROP COLUMN shard`, string(migration)} {
		_, err := db.ExecContext(ctx, q)
		require.NoError(t, err, q)
	}
	rows, err := db.QueryContext(ctx, `SELECT client_id, stack_id, shard FROM states`)
	require.NoError(t, err)
	defer rows.Close()
	n := 0
	for rows.Next() {
		var c, k string
		var shard int
		require.NoError(t, rows.Scan(&c, &k, &shard))
		require.Equal(t, store.ShardOf(c, k), shard, "%s/%s", c, k)
		n++
	}
	require.NoError(t, rows.Err())
	require.Equal(t, len(in), n)
}
