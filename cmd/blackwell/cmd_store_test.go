package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/postgres"
	"github.com/blackwellio/blackwell/internal/store/postgres/pgtest"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

// runCLI runs the blackwell CLI in-process.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, bytes.NewReader(nil), &out, &errb)
	return out.String(), errb.String(), code
}

// TestStoreCopySQLiteToPostgresAndBack moves an installation from SQLite to
// PostgreSQL and back with blackwell store copy: the final file holds the
// same rows as the first (digests equal), the audit chain verifies on
// PostgreSQL, and the PostgreSQL store goes on appending to the chain.
func TestStoreCopySQLiteToPostgresAndBack(t *testing.T) {
	t.Parallel()
	pg := pgtest.SchemaURL(t)
	ctx := context.Background()
	dir := t.TempDir()
	first := filepath.Join(dir, "first.db")
	st, err := sqlite.Open(ctx, first)
	require.NoError(t, err)
	require.NoError(t, seedStore(ctx, st))
	want, err := store.Digest(ctx, st)
	require.NoError(t, err)
	require.NoError(t, st.Close())

	out, errOut, code := runCLI(t, "store", "copy", "--from", "sqlite://"+first, "--to", pg, "-o", "json")
	require.Equal(t, 0, code, errOut)
	var res copyResult
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	require.Equal(t, want, res.Tables, "rows and digests as in the source")
	require.Equal(t, int64(3), res.Audit.Entries)
	require.NotContains(t, out, "search_path", "the target URL is shown without its parameters")

	// Into a non-empty PostgreSQL target: refused.
	_, errOut, code = runCLI(t, "store", "copy", "--from", "sqlite://"+first, "--to", pg)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "target store is not empty")

	// The PostgreSQL store serves and continues the chain.
	p, err := postgres.Open(ctx, pg)
	require.NoError(t, err)
	got, err := store.Digest(ctx, p)
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.NoError(t, p.AppendAudit(ctx, []store.AuditEntry{{Timestamp: time.Now(), Action: "apply", ClientID: "acme", TriggeredBy: "cli:after-copy"}}))
	chain, err := verifyChain(ctx, p)
	require.NoError(t, err)
	require.Equal(t, int64(4), chain.HeadSeq)
	require.NoError(t, p.Close())

	// And back to a new file: the same rows plus the new entry.
	back := filepath.Join(dir, "back.db")
	_, errOut, code = runCLI(t, "store", "copy", "--from", pg, "--to", "sqlite://"+back)
	require.Equal(t, 0, code, errOut)
	b, err := sqlite.Open(ctx, back)
	require.NoError(t, err)
	defer b.Close()
	gotBack, err := store.Digest(ctx, b)
	require.NoError(t, err)
	for i, tc := range gotBack {
		if tc.Table == "audit" {
			require.Equal(t, want[i].Rows+1, tc.Rows)
			continue
		}
		require.Equal(t, want[i], tc, "table %s", tc.Table)
	}
	chain, err = verifyChain(ctx, b)
	require.NoError(t, err)
	require.Equal(t, int64(4), chain.Entries)
}

// TestStoreCopyPrunedChain: a chain pruned behind a checkpoint is copied
// with its checkpoint and verifies on the target from it; a checkpoint that
// does not stand for the entries before the first one left fails the copy's
// verification.
func TestStoreCopyPrunedChain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	st, err := sqlite.Open(ctx, src)
	require.NoError(t, err)
	require.NoError(t, seedStore(ctx, st)) // audit entries 1..3
	third, _, err := st.ListAudit(ctx, store.AuditQuery{Limit: 3})
	require.NoError(t, err)
	_, err = st.PruneAudit(ctx, 0, store.AuditCheckpoint{Seq: 2, Hash: third[1].Hash, Count: 2, CreatedAt: time.Now(), KeyID: "k", Signature: "s"})
	require.NoError(t, err)
	require.NoError(t, st.Close())

	out, errOut, code := runCLI(t, "store", "copy", "--from", "sqlite://"+src, "--to", "sqlite://"+filepath.Join(dir, "dst.db"), "-o", "json")
	require.Equal(t, 0, code, errOut)
	var res copyResult
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	require.Equal(t, chainReport{Entries: 1, FirstSeq: 3, HeadSeq: 3, HeadHash: third[2].Hash}, res.Audit)

	// Entries after the checkpoint removed: the chain does not verify.
	dst, err := sqlite.Open(ctx, filepath.Join(dir, "dst.db"))
	require.NoError(t, err)
	defer dst.Close()
	chain, err := verifyChain(ctx, dst)
	require.NoError(t, err)
	require.Equal(t, int64(3), chain.HeadSeq)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "src.db"))
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec(`UPDATE audit_checkpoint SET seq = 1`)
	require.NoError(t, err)
	_, errOut, code = runCLI(t, "store", "copy", "--from", "sqlite://"+src, "--to", "sqlite://"+filepath.Join(dir, "dst2.db"))
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "audit chain does not verify: audit chain breaks at entry 3")
}
