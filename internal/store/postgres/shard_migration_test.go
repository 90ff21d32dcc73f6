package postgres_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/store"
)

// TestMigration0012ShardsExistingStacks: the stacks a store held before
// migration 0011 get the shard store.ShardOf gives them, from the SQL
// version of the hash in the migration itself (run again here on stacks
// whose shard column was taken away).
func TestMigration0012ShardsExistingStacks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := newSchema(t, serverURL(t))
	s := open(t, url)
	var in []store.DesiredInput
	for i := range 300 {
		in = append(in, store.DesiredInput{ClientID: fmt.Sprintf("client-%d", i%7), StackID: fmt.Sprintf("stäck-%d-日本", i),
			Environment: "prod", Hash: "h", Document: []byte(`{}`)})
	}
	in = append(in, store.DesiredInput{ClientID: "a", StackID: "b", Environment: "prod", Hash: "h", Document: []byte(`{}`)})
	_, err := s.ApplyDesired(ctx, in)
	require.NoError(t, err)
	sql, err := os.ReadFile("migrations/0012_replicas.sql")
	require.NoError(t, err)
	exec(t, url, `DROP INDEX outbox_channel`, `DROP INDEX states_shard`, `DROP TABLE notify_channel_sets`, `ALTER TABLE states DROP COLUMN shard`, string(sql))

	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := connect(cctx, url)
	require.NoError(t, err)
	defer conn.Close(cctx)
	rows, err := conn.Query(cctx, `SELECT client_id, stack_id, shard FROM states`)
	require.NoError(t, err)
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
