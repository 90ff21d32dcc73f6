package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/audit"
	"github.com/blackwellio/blackwell/internal/poll"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

func TestServeAuditRetentionNeedsAKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := startServer(context.Background(), serverOptions{
		listen: "127.0.0.1:0", storeURL: "sqlite://" + filepath.Join(dir, "blackwell.db"), logOut: io.Discard,
		auditRetention: time.Hour,
	})
	require.ErrorContains(t, err, "--audit-retention needs --audit-key-file")
	_, err = startServer(context.Background(), serverOptions{
		listen: "127.0.0.1:0", storeURL: "sqlite://" + filepath.Join(dir, "blackwell.db"), logOut: io.Discard,
		auditKeyFile: filepath.Join(dir, "missing.key"),
	})
	require.ErrorContains(t, err, "read audit key")
}

// TestServeSweepPrunesTheAuditLog: serve --audit-retention prunes old
// entries in the background sweep, behind a checkpoint the API shows with
// its key, and the rest verifies from it.
func TestServeSweepPrunesTheAuditLog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "blackwell.db")
	st, err := sqlite.Open(ctx, dbPath)
	require.NoError(t, err)
	old := time.Now().Add(-48 * time.Hour)
	var in []store.AuditEntry
	for i := range 2500 { // more than one sweep batch
		in = append(in, store.AuditEntry{Timestamp: old.Add(time.Duration(i) * time.Second), Action: "old", ClientID: "acme"})
	}
	in = append(in, store.AuditEntry{Timestamp: time.Now(), Action: "new", ClientID: "acme"})
	require.NoError(t, st.AppendAudit(ctx, in))
	require.NoError(t, st.Close())

	key, err := audit.GenerateKey()
	require.NoError(t, err)
	keyFile := filepath.Join(dir, "audit.key")
	require.NoError(t, os.WriteFile(keyFile, key.PrivatePEM(), 0o600))

	srv, err := startServer(ctx, serverOptions{
		listen: "127.0.0.1:0", storeURL: "sqlite://" + dbPath, logOut: io.Discard,
		eventTTLSweep: 10 * time.Millisecond, auditRetention: 24 * time.Hour, auditKeyFile: keyFile,
		shutdownTimeout: time.Second,
	})
	require.NoError(t, err)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })

	var ans checkpointAnswer
	poll.Until(t, time.Minute, "the old entries pruned", func() bool {
		resp, err := bearerClient(srv.bootstrapToken).Get("http://" + srv.Addr() + "/v1/audit/checkpoint")
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&ans))
		return ans.Checkpoint != nil && ans.Checkpoint.Seq == 2500
	})
	pub, err := audit.ParsePublicKey([]byte(ans.PublicKey))
	require.NoError(t, err)
	require.Equal(t, key.Public(), pub)
	require.NoError(t, audit.VerifyCheckpoint(pub, *ans.Checkpoint))
	rest, _, err := srv.store.ListAudit(ctx, store.AuditQuery{Limit: 1000})
	require.NoError(t, err)
	v := audit.FromCheckpoint(*ans.Checkpoint)
	for _, e := range rest {
		require.NoError(t, v.Add(e))
	}
	require.Equal(t, "new", rest[0].Action)
}

// TestServeSignsTheAuditHead: serve --audit-key-file signs the chain's
// head every --audit-sign-interval when it moved, and GET /v1/audit/heads
// shows the signed heads, which verify with the key and match the chain.
func TestServeSignsTheAuditHead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	key, err := audit.GenerateKey()
	require.NoError(t, err)
	keyFile := filepath.Join(dir, "audit.key")
	require.NoError(t, os.WriteFile(keyFile, key.PrivatePEM(), 0o600))
	srv, err := startServer(ctx, serverOptions{
		listen: "127.0.0.1:0", storeURL: "sqlite://" + filepath.Join(dir, "blackwell.db"), logOut: io.Discard,
		auditKeyFile: keyFile, auditSignInterval: 10 * time.Millisecond, shutdownTimeout: time.Second,
	})
	require.NoError(t, err)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })

	heads := func() []store.AuditHead {
		req, err := http.NewRequest(http.MethodGet, "http://"+srv.Addr()+"/v1/audit/heads", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+srv.bootstrapToken)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		var page wirePage[store.AuditHead]
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&page))
		return page.Items
	}
	for round := range 2 {
		require.NoError(t, srv.store.AppendAudit(ctx, []store.AuditEntry{{Timestamp: time.Now(), Action: "x", ClientID: "acme"}}))
		head, err := srv.store.AuditChainHead(ctx)
		require.NoError(t, err)
		poll.Until(t, time.Minute, "the head signed", func() bool {
			hs := heads()
			return len(hs) == round+1 && hs[round].Seq == head.Seq
		})
	}
	hs := heads()
	es, _, err := srv.store.ListAudit(ctx, store.AuditQuery{})
	require.NoError(t, err)
	hc, err := audit.NewHeadCheck(key.Public(), hs, nil)
	require.NoError(t, err)
	for _, e := range es {
		require.NoError(t, hc.Add(e))
	}
	require.NoError(t, hc.Finish(es[len(es)-1].Seq))
	newest, checked, _ := hc.Newest()
	require.Equal(t, 2, checked)
	require.Equal(t, es[len(es)-1].Seq, newest.Seq)
}
