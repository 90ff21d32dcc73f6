package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/audit"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

// TestBackupOnline: a backup taken while a writer appends holds a
// consistent prefix of what was committed: every row committed before it
// started, an audit chain that verifies, and it opens as a store.
func TestBackupOnline(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	src := open(t, filepath.Join(dir, "live.db"))
	_, err := src.ApplyDesired(ctx, []store.DesiredInput{{ClientID: "acme", StackID: "shop", Hash: "h", Document: json.RawMessage(`{}`)}})
	require.NoError(t, err)
	appendN := func(from, n int) {
		for i := from; i < from+n; i++ {
			require.NoError(t, src.AppendAudit(ctx, []store.AuditEntry{{Timestamp: time.Now(), Action: "apply", ClientID: "acme", TriggeredBy: fmt.Sprint("cli:", i)}}))
			_, err := src.InsertEvents(ctx, []store.Event{{EventID: fmt.Sprint("e", i), ClientID: "acme", ProviderName: "shopify", EventType: "x", Timestamp: time.Now(), ReceivedAt: time.Now()}})
			require.NoError(t, err)
		}
	}
	appendN(0, 200)

	var wg sync.WaitGroup
	stop := make(chan struct{})
	var written atomic.Int64
	wg.Go(func() {
		for i := 200; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			appendN(i, 1)
			written.Add(1)
		}
	})
	dst := filepath.Join(dir, "backup.db")
	info, err := sqlite.Backup(ctx, filepath.Join(dir, "live.db"), dst)
	close(stop)
	wg.Wait()
	require.NoError(t, err)
	require.Equal(t, dst, info.Path)
	require.Positive(t, info.Bytes)
	require.Equal(t, sqlite.LatestSchemaVersion(), info.SchemaVersion)
	matches, _ := filepath.Glob(filepath.Join(dir, ".backup.db.*"))
	require.Empty(t, matches, "no temporary file is left")

	b := open(t, dst)
	var v audit.Verifier
	n := 0
	cursor := ""
	for {
		page, next, err := b.ListAudit(ctx, store.AuditQuery{Cursor: cursor, Limit: 100})
		require.NoError(t, err)
		for _, e := range page {
			require.NoError(t, v.Add(e))
			n++
		}
		if next == "" {
			break
		}
		cursor = next
	}
	require.GreaterOrEqual(t, n, 200, "every entry committed before the backup")
	tables, err := store.Digest(ctx, b)
	require.NoError(t, err)
	rows := map[string]int64{}
	for _, tc := range tables {
		rows[tc.Table] = tc.Rows
	}
	// Each audit entry is followed by its event, in the next transaction:
	// one snapshot holds the same number of both, or one event fewer.
	require.Contains(t, []int64{int64(n) - 1, int64(n)}, rows["events"], "one snapshot")
	_, err = b.GetState(ctx, "acme", "shop")
	require.NoError(t, err)
	t.Logf("backup of %d entries while %d more were written", n, written.Load())
}

func TestBackupRefuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, filepath.Join(dir, "a.db"))
	require.NoError(t, s.Ping(ctx))

	existing := filepath.Join(dir, "exists.db")
	require.NoError(t, os.WriteFile(existing, []byte("keep"), 0o600))
	_, err := sqlite.Backup(ctx, filepath.Join(dir, "a.db"), existing)
	require.ErrorContains(t, err, "already exists")
	b, _ := os.ReadFile(existing)
	require.Equal(t, "keep", string(b), "an existing file is left alone")

	_, err = sqlite.Backup(ctx, filepath.Join(dir, "missing.db"), filepath.Join(dir, "out.db"))
	require.Error(t, err)
	require.NoFileExists(t, filepath.Join(dir, "missing.db"), "a missing source is not created")
	require.NoFileExists(t, filepath.Join(dir, "out.db"))

	other := filepath.Join(dir, "other.db")
	require.NoError(t, os.WriteFile(other, nil, 0o600))
	_, err = sqlite.Backup(ctx, other, filepath.Join(dir, "out.db"))
	require.ErrorContains(t, err, "not a blackwell store")
	require.NoFileExists(t, filepath.Join(dir, "out.db"))
}
