//go:build unix

package main

import (
	"context"
	"io"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestASecondServeOnOneSQLiteFileIsRefusedWithoutReplica: two serve
// processes on one SQLite file silently became two replicas (issue 21,
// item 13); the second is refused unless it asks with --replica, and the
// file is free again once the first stops.
func TestASecondServeOnOneSQLiteFileIsRefusedWithoutReplica(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	opts := serverOptions{listen: "127.0.0.1:0", storeURL: "sqlite://" + filepath.Join(dir, "blackwell.db"), logOut: io.Discard}
	first, err := startServer(context.Background(), opts)
	require.NoError(t, err)

	_, err = startServer(context.Background(), opts)
	require.Error(t, err)
	require.Contains(t, err.Error(), "another blackwell serve is using the SQLite store")
	require.Contains(t, err.Error(), "--replica")

	withReplica := opts
	withReplica.replica = true
	second, err := startServer(context.Background(), withReplica)
	require.NoError(t, err, "--replica shares the store")
	require.NoError(t, second.Shutdown(context.Background()))

	require.NoError(t, first.Shutdown(context.Background()))
	third, err := startServer(context.Background(), opts)
	require.NoError(t, err, "the lock goes with the server that held it")
	require.NoError(t, third.Shutdown(context.Background()))
}
