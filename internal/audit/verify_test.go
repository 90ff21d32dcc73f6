package audit_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/audit"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

// chain writes n entries through the real store, so the chain is the one
// the driver builds, and reads them back.
func chain(t *testing.T, n int) []store.AuditEntry {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "a.db"))
	require.NoError(t, err)
	defer db.Close()
	var in []store.AuditEntry
	for i := range n {
		in = append(in, store.AuditEntry{
			Timestamp: time.Date(2026, 11, 25, 12, 0, i, 123456789, time.UTC), Action: "drift_detected",
			ClientID: "acme", StackID: "web", TriggeredBy: "test", Success: i%2 == 0,
			ChangesMade: json.RawMessage(fmt.Sprintf(`{"n": %d, "b": [1, 2]}`, i)), DriftID: fmt.Sprintf("d%d", i),
		})
	}
	require.NoError(t, db.AppendAudit(ctx, in))
	out, _, err := db.ListAudit(ctx, store.AuditQuery{Limit: 1000})
	require.NoError(t, err)
	require.Len(t, out, n)
	return out
}

func TestVerifyNamesTheFirstBadEntry(t *testing.T) {
	t.Parallel()
	good := chain(t, 6)
	require.NoError(t, audit.Verify(good))

	cases := []struct {
		name    string
		tamper  func([]store.AuditEntry) []store.AuditEntry
		badSeq  int64
		because string
	}{
		{"altered field", func(es []store.AuditEntry) []store.AuditEntry { es[2].Success = !es[2].Success; return es }, good[2].Seq, "altered"},
		{"altered changes", func(es []store.AuditEntry) []store.AuditEntry {
			es[3].ChangesMade = json.RawMessage(`{"n": 99, "b": [1, 2]}`)
			return es
		}, good[3].Seq, "altered"},
		{"altered time", func(es []store.AuditEntry) []store.AuditEntry {
			es[1].Timestamp = es[1].Timestamp.Add(time.Second)
			return es
		}, good[1].Seq, "altered"},
		{"deleted middle", func(es []store.AuditEntry) []store.AuditEntry { return append(es[:2:2], es[3:]...) }, good[3].Seq, "removed"},
		{"deleted first", func(es []store.AuditEntry) []store.AuditEntry { return es[1:] }, good[1].Seq, "removed"},
		{"swapped", func(es []store.AuditEntry) []store.AuditEntry { es[3], es[4] = es[4], es[3]; return es }, good[4].Seq, "reordered"},
		{"rehashed after edit", func(es []store.AuditEntry) []store.AuditEntry {
			es[2].Action = "nothing_happened"
			es[2].Hash = store.ChainHash(es[2]) // a forger recomputes this entry's hash...
			return es                           // ...but the next entry still links to the old one
		}, good[3].Seq, "does not link"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			es := tc.tamper(append([]store.AuditEntry(nil), good...))
			err := audit.Verify(es)
			var br *audit.Break
			require.True(t, errors.As(err, &br), "want a break, got %v", err)
			require.Equal(t, tc.badSeq, br.Seq)
			require.Contains(t, err.Error(), tc.because)
		})
	}
}

func TestJSONRoundTripStillVerifies(t *testing.T) {
	t.Parallel()
	good := chain(t, 3)
	b, err := json.MarshalIndent(good, "", "  ")
	require.NoError(t, err)
	var back []store.AuditEntry
	require.NoError(t, json.Unmarshal(b, &back))
	require.NoError(t, audit.Verify(back), "what the API serves verifies on the client")
	var v audit.Verifier
	for _, e := range back {
		require.NoError(t, v.Add(e))
	}
	seq, hash, n := v.Head()
	require.Equal(t, good[2].Seq, seq)
	require.Equal(t, good[2].Hash, hash)
	require.Equal(t, int64(3), n)
}
