package audit_test

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/audit"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

func TestKeyFilesRoundTrip(t *testing.T) {
	t.Parallel()
	k, err := audit.GenerateKey()
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "audit.key")
	require.NoError(t, writeFile(path, k.PrivatePEM()))
	back, err := audit.LoadKey(path)
	require.NoError(t, err)
	require.Equal(t, k.Public(), back.Public())
	require.Len(t, k.ID(), 16)

	for name, data := range map[string][]byte{
		"public pem":  audit.PublicPEM(k.Public()),
		"private pem": k.PrivatePEM(),
		"base64":      []byte(base64.StdEncoding.EncodeToString(k.Public()) + "\n"),
	} {
		pub, err := audit.ParsePublicKey(data)
		require.NoError(t, err, name)
		require.Equal(t, k.Public(), pub, name)
	}
	for _, bad := range []string{"", "not a key", base64.StdEncoding.EncodeToString([]byte("short")),
		"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"} {
		_, err := audit.ParsePublicKey([]byte(bad))
		require.Error(t, err, "%q", bad)
	}
	_, err = audit.ParseKey(audit.PublicPEM(k.Public()))
	require.Error(t, err, "a public key is not a signing key")
}

func TestCheckpointSignature(t *testing.T) {
	t.Parallel()
	k, err := audit.GenerateKey()
	require.NoError(t, err)
	other, err := audit.GenerateKey()
	require.NoError(t, err)
	cp := k.Sign(store.AuditCheckpoint{Seq: 7, Hash: "abc", Count: 7, CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 678901234, time.UTC)})
	require.NoError(t, audit.VerifyCheckpoint(k.Public(), cp))
	require.Equal(t, k.ID(), cp.KeyID)

	cases := []struct {
		name   string
		pub    func() []byte
		tamper func(*store.AuditCheckpoint)
		want   string
	}{
		{"seq", nil, func(c *store.AuditCheckpoint) { c.Seq, c.Count = 8, 8 }, "does not verify"},
		{"hash", nil, func(c *store.AuditCheckpoint) { c.Hash = "abd" }, "does not verify"},
		{"count", nil, func(c *store.AuditCheckpoint) { c.Count = 6 }, "does not verify"},
		{"time", nil, func(c *store.AuditCheckpoint) { c.CreatedAt = c.CreatedAt.Add(time.Microsecond) }, "does not verify"},
		{"signature", nil, func(c *store.AuditCheckpoint) { c.Signature = "AAAA" + c.Signature[4:] }, "does not verify"},
		{"garbage signature", nil, func(c *store.AuditCheckpoint) { c.Signature = "!" }, "does not verify"},
		{"key id", nil, func(c *store.AuditCheckpoint) { c.KeyID = other.ID() }, "not by key"},
		{"resigned by another key", nil, func(c *store.AuditCheckpoint) { *c = other.Sign(*c) }, "not by key"},
		{"inconsistent count", nil, func(c *store.AuditCheckpoint) { c.Count = 6; *c = k.Sign(*c) }, "stands for 6 entries"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := cp
			tc.tamper(&c)
			err := audit.VerifyCheckpoint(k.Public(), c)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestVerifierFromCheckpoint(t *testing.T) {
	t.Parallel()
	es := chain(t, 6)
	cp := store.AuditCheckpoint{Seq: es[2].Seq, Hash: es[2].Hash, Count: es[2].Seq}
	rest := es[3:]

	v := audit.FromCheckpoint(cp)
	for _, e := range rest {
		require.NoError(t, v.Add(e))
	}
	seq, hash, n := v.Head()
	require.Equal(t, es[5].Seq, seq)
	require.Equal(t, es[5].Hash, hash)
	require.Equal(t, int64(3), n)

	empty := audit.FromCheckpoint(cp)
	seq, hash, n = empty.Head()
	require.Equal(t, cp.Seq, seq, "no entry after the checkpoint: the head is the checkpoint")
	require.Equal(t, cp.Hash, hash)
	require.Zero(t, n)

	cases := []struct {
		name    string
		cp      store.AuditCheckpoint
		entries []store.AuditEntry
		badSeq  int64
		because string
	}{
		{"entry after checkpoint deleted", cp, es[4:], es[4].Seq, "does not link to the checkpoint"},
		{"checkpoint moved back", store.AuditCheckpoint{Seq: es[1].Seq, Hash: es[1].Hash}, rest, es[3].Seq, "does not link to the checkpoint"},
		{"seq does not follow", store.AuditCheckpoint{Seq: es[1].Seq, Hash: es[2].Hash}, rest, es[3].Seq, "not the entry after the checkpoint"},
		{"no checkpoint at all", store.AuditCheckpoint{}, rest, es[3].Seq, "does not link to the start"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := audit.FromCheckpoint(tc.cp)
			var err error
			for _, e := range tc.entries {
				if err = v.Add(e); err != nil {
					break
				}
			}
			var br *audit.Break
			require.True(t, errors.As(err, &br), "want a break, got %v", err)
			require.Equal(t, tc.badSeq, br.Seq)
			require.ErrorContains(t, err, tc.because)
		})
	}
}

// pruneSetup is a SQLite store holding n entries one minute apart from t0,
// and a pruner with a fresh key.
func pruneSetup(t *testing.T, n int) (*sqlite.Store, *audit.Pruner, time.Time) {
	db, p, t0, _ := pruneSetupFile(t, n)
	return db, p, t0
}

// pruneSetupFile is pruneSetup, also returning the database file.
func pruneSetupFile(t *testing.T, n int) (*sqlite.Store, *audit.Pruner, time.Time, string) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "a.db")
	db, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var in []store.AuditEntry
	for i := range n {
		in = append(in, store.AuditEntry{Timestamp: t0.Add(time.Duration(i) * time.Minute), Action: "a", ClientID: "c", TriggeredBy: "test"})
	}
	require.NoError(t, db.AppendAudit(ctx, in))
	k, err := audit.GenerateKey()
	require.NoError(t, err)
	return db, &audit.Pruner{Store: db, Key: k, Now: func() time.Time { return t0.Add(time.Hour) }}, t0, path
}

// tamper changes the database behind the store's back, as an attacker with
// the file would.
func tamper(t *testing.T, path, query string) {
	t.Helper()
	raw, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer raw.Close()
	res, err := raw.Exec(query)
	require.NoError(t, err)
	n, err := res.RowsAffected()
	require.NoError(t, err)
	require.Positive(t, n, "tamper changed nothing: %s", query)
}

func writeFile(path string, data []byte) error { return os.WriteFile(path, data, 0o600) }

// verifyAll reads the whole stored chain as audit verify does.
func verifyAll(t *testing.T, db *sqlite.Store, k *audit.Key) (store.AuditCheckpoint, []store.AuditEntry, error) {
	t.Helper()
	ctx := context.Background()
	v := &audit.Verifier{}
	cp, err := db.AuditCheckpoint(ctx)
	if err == nil {
		if err := audit.VerifyCheckpoint(k.Public(), cp); err != nil {
			return cp, nil, err
		}
		v = audit.FromCheckpoint(cp)
	}
	es, _, err := db.ListAudit(ctx, store.AuditQuery{Limit: 1000})
	require.NoError(t, err)
	for _, e := range es {
		if err := v.Add(e); err != nil {
			return cp, es, err
		}
	}
	return cp, es, nil
}

func TestPrunerKeepsTheChainVerifiable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, p, t0 := pruneSetup(t, 10)

	// Batches of 3 entries older than minute 7 (entries 1..7).
	var total []int
	for {
		n, err := p.Prune(ctx, t0.Add(7*time.Minute), 3)
		require.NoError(t, err)
		if n == 0 {
			break
		}
		total = append(total, n)
	}
	require.Equal(t, []int{3, 3, 1}, total)
	cp, rest, err := verifyAll(t, db, p.Key)
	require.NoError(t, err)
	require.Equal(t, int64(7), cp.Seq)
	require.Equal(t, int64(7), cp.Count)
	require.Len(t, rest, 3)

	// Everything old: the newest entry stays, it anchors the next append.
	n, err := p.Prune(ctx, t0.Add(time.Hour), 100)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	cp, rest, err = verifyAll(t, db, p.Key)
	require.NoError(t, err)
	require.Equal(t, int64(9), cp.Seq)
	require.Len(t, rest, 1)
	n, err = p.Prune(ctx, t0.Add(time.Hour), 100)
	require.NoError(t, err)
	require.Zero(t, n)

	require.NoError(t, db.AppendAudit(ctx, []store.AuditEntry{{Timestamp: t0.Add(time.Hour), Action: "later"}}))
	_, rest, err = verifyAll(t, db, p.Key)
	require.NoError(t, err)
	require.Len(t, rest, 2)
}

func TestPrunerRefusesTampering(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("altered entry", func(t *testing.T) {
		t.Parallel()
		db, p, t0, path := pruneSetupFile(t, 5)
		tamper(t, path, `UPDATE audit SET action = 'nothing' WHERE seq = 2`)
		n, err := p.Prune(ctx, t0.Add(time.Hour), 100)
		var br *audit.Break
		require.True(t, errors.As(err, &br), "want a break, got %v", err)
		require.Equal(t, int64(2), br.Seq)
		require.Zero(t, n)
		es, _, err := db.ListAudit(ctx, store.AuditQuery{})
		require.NoError(t, err)
		require.Len(t, es, 5, "nothing deleted: the evidence stays")
	})

	t.Run("deleted entry after the checkpoint", func(t *testing.T) {
		t.Parallel()
		_, p, t0, path := pruneSetupFile(t, 6)
		n, err := p.Prune(ctx, t0.Add(2*time.Minute), 100)
		require.NoError(t, err)
		require.Equal(t, 2, n)
		tamper(t, path, `DELETE FROM audit WHERE seq = 3`)
		_, err = p.Prune(ctx, t0.Add(time.Hour), 100)
		require.ErrorContains(t, err, "does not link to the checkpoint at entry 2")
	})

	t.Run("altered checkpoint", func(t *testing.T) {
		t.Parallel()
		db, p, t0, path := pruneSetupFile(t, 6)
		_, err := p.Prune(ctx, t0.Add(2*time.Minute), 100)
		require.NoError(t, err)
		tamper(t, path, `UPDATE audit_checkpoint SET count = count + 1`)
		_, err = p.Prune(ctx, t0.Add(time.Hour), 100)
		require.ErrorIs(t, err, audit.ErrCheckpointKey)
		_, _, err = verifyAll(t, db, p.Key)
		require.ErrorContains(t, err, "signature does not verify")
	})

	t.Run("checkpoint from another key", func(t *testing.T) {
		t.Parallel()
		db, p, t0 := pruneSetup(t, 5)
		n, err := p.Prune(ctx, t0.Add(2*time.Minute), 100)
		require.NoError(t, err)
		require.Equal(t, 2, n)
		other, err := audit.GenerateKey()
		require.NoError(t, err)
		_, err = (&audit.Pruner{Store: db, Key: other}).Prune(ctx, t0.Add(time.Hour), 100)
		require.ErrorIs(t, err, audit.ErrCheckpointKey)
		_, rest, err := verifyAll(t, db, p.Key)
		require.NoError(t, err)
		require.Len(t, rest, 3, "nothing deleted")
	})
}

func TestPrunerNeedsAKey(t *testing.T) {
	t.Parallel()
	db, _, t0 := pruneSetup(t, 2)
	_, err := (&audit.Pruner{Store: db}).Prune(context.Background(), t0, 10)
	require.Error(t, err)
}

// BenchmarkPruneBatch measures one sweep batch: read, verify and delete
// 1,000 entries behind a new checkpoint (SQLite).
func BenchmarkPruneBatch(b *testing.B) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "a.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	k, err := audit.GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := &audit.Pruner{Store: db, Key: k}
	for b.Loop() {
		b.StopTimer()
		in := make([]store.AuditEntry, 1001)
		for i := range in {
			in[i] = store.AuditEntry{Timestamp: t0, Action: "drift_detected", ClientID: "acme", StackID: "web",
				TriggeredBy: "reconciler", ChangesMade: []byte(`{"code":"resource_unhealthy","expected":"200","observed":"503"}`)}
		}
		if err := db.AppendAudit(ctx, in); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		n, err := p.Prune(ctx, t0.Add(time.Hour), 1000)
		if err != nil || n != 1000 {
			b.Fatalf("pruned %d: %v", n, err)
		}
	}
}
