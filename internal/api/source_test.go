package api

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/store"
)

// seedFile applies testdata/blackwell.yaml as the server's config file
// (state.ApplyFile, as serve does at start and on SIGHUP).
func (f *fixture) seedFile(t *testing.T) *config.Config {
	t.Helper()
	data, err := os.ReadFile("testdata/blackwell.yaml")
	require.NoError(t, err)
	cfg, err := config.Parse("blackwell.yaml", data, testEnv)
	require.NoError(t, err)
	_, err = f.state.ApplyFile(context.Background(), cfg, "blackwell.yaml")
	require.NoError(t, err)
	return cfg
}

// TestWritesTheFileWillUndoSaySo: the config file is the source of truth
// for what it declares. A PATCH, rollback, apply or policy PUT that leaves
// a stack or policy otherwise than the file declares it answers a warning;
// a rollback with a hold pins the stack (the file's apply keeps it, a
// PATCH is refused) until unpin.
func TestWritesTheFileWillUndoSaySo(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.now = time.Now().UTC() // holds are judged by the store's clock too
	cfg := f.seedFile(t)

	spec := `{"spec": {"resources": {"page": {"probe": "http", "url": "https://status.acme.example/v2"}}}}`
	patched := decodeAs[stackWriteAnswer](t, f.do(t, "PATCH", "/v1/stacks/acme-corp/status-page", spec), http.StatusOK)
	require.Equal(t, "v1.1.0", patched.StateVersion)
	require.Len(t, patched.Warnings, 1)
	require.Contains(t, patched.Warnings[0], "acme-corp/status-page: the config file blackwell.yaml declares this stack with another desired state; the server applies the file's again on its next SIGHUP or restart")

	// Back to the file's version: nothing to warn about.
	rb := decodeAs[rollbackAnswer](t, f.do(t, "POST", "/v1/stacks/acme-corp/status-page/rollback", `{"version":"v1.0.0"}`), http.StatusOK)
	require.Empty(t, rb.Warnings)
	require.Nil(t, rb.Hold)

	// A held rollback to the API's version: pinned, and warned of the end.
	rb = decodeAs[rollbackAnswer](t, f.do(t, "POST", "/v1/stacks/acme-corp/status-page/rollback", `{"version":"v1.1.0","hold":"2d"}`), http.StatusOK)
	require.Equal(t, "v1.3.0", rb.Version)
	require.NotNil(t, rb.Hold)
	require.Equal(t, "v1.3.0", rb.Hold.Version)
	require.Equal(t, "v1.1.0", rb.Hold.Restored)
	require.WithinDuration(t, f.now.Add(48*time.Hour), rb.Hold.Until, time.Second)
	require.Len(t, rb.Warnings, 1)
	require.Contains(t, rb.Warnings[0], "acme-corp/status-page: pinned until ")
	rec := decodeAs[store.StateRecord](t, f.do(t, "GET", "/v1/stacks/acme-corp/status-page", ""), http.StatusOK)
	require.Equal(t, rb.Hold, rec.Hold)

	// The file applied again (SIGHUP) keeps it; so does the same file
	// through POST /v1/config, which says so.
	_, err := f.state.ApplyFile(context.Background(), cfg, "blackwell.yaml")
	require.NoError(t, err)
	data, err := os.ReadFile("testdata/blackwell.yaml")
	require.NoError(t, err)
	applied := decodeAs[configAnswer](t, f.do(t, "POST", "/v1/config", string(data), "Content-Type", "application/yaml"), http.StatusOK)
	var pinned []string
	for _, it := range applied.Items {
		if it.Pinned != nil {
			pinned = append(pinned, it.ClientID+"/"+it.StackID+" "+it.Version)
		}
	}
	require.Equal(t, []string{"acme-corp/status-page v1.3.0"}, pinned)
	require.Len(t, applied.Warnings, 1)
	require.Contains(t, applied.Warnings[0], "acme-corp/status-page: kept at v1.3.0, pinned by a rollback hold until ")
	rec = decodeAs[store.StateRecord](t, f.do(t, "GET", "/v1/stacks/acme-corp/status-page", ""), http.StatusOK)
	require.Equal(t, "v1.3.0", rec.StateVersion)
	kept := decodeAs[list[store.AuditEntry]](t, f.do(t, "GET", "/v1/audit?action=desired_state_kept", ""), http.StatusOK)
	require.Len(t, kept.Items, 2)
	require.Equal(t, "config:blackwell.yaml", kept.Items[0].TriggeredBy)

	// A PATCH of a pinned stack, or a rollback without a hold, is refused.
	v3 := strings.ReplaceAll(spec, "/v2", "/v3")
	e := requireError(t, f.do(t, "PATCH", "/v1/stacks/acme-corp/status-page", v3), http.StatusConflict, codeConflict)
	require.Contains(t, e.Error.Message, "stack acme-corp/status-page is pinned at v1.3.0 until ")
	require.Contains(t, e.Error.Message, "blackwell unpin acme-corp/status-page")
	e = requireError(t, f.do(t, "POST", "/v1/stacks/acme-corp/status-page/rollback", `{"version":"v1.0.0"}`), http.StatusConflict, codeConflict)
	require.Contains(t, e.Error.Message, "is pinned at v1.3.0")
	e = requireError(t, f.do(t, "POST", "/v1/stacks/acme-corp/status-page/rollback", `{"version":"v1.0.0","hold":"8d"}`), http.StatusUnprocessableEntity, codeInvalid)
	require.Contains(t, e.Error.Message, "at most 7 days")

	// Unpin: the hold goes, the desired state stays, the file will win.
	un := decodeAs[unpinAnswer](t, f.do(t, "POST", "/v1/stacks/acme-corp/status-page/unpin", ""), http.StatusOK)
	require.True(t, un.Unpinned)
	require.Equal(t, "v1.3.0", un.Hold.Version)
	require.Len(t, un.Warnings, 1)
	require.Contains(t, un.Warnings[0], "applies the file's again on its next SIGHUP or restart")
	un = decodeAs[unpinAnswer](t, f.do(t, "POST", "/v1/stacks/acme-corp/status-page/unpin", ""), http.StatusOK)
	require.False(t, un.Unpinned)
	requireError(t, f.do(t, "POST", "/v1/stacks/acme-corp/nope/unpin", ""), http.StatusNotFound, codeNotFound)
	rec = decodeAs[store.StateRecord](t, f.do(t, "GET", "/v1/stacks/acme-corp/status-page", ""), http.StatusOK)
	require.Nil(t, rec.Hold)
	require.Equal(t, "v1.3.0", rec.StateVersion)

	// A policy the file declares, changed through the API: warned.
	pol := decodeAs[policyAnswer](t, f.do(t, "PUT", "/v1/clients/acme-corp/policy", `{"auto_heal": {"enabled": false}}`), http.StatusOK)
	require.Len(t, pol.Warnings, 1)
	require.True(t, strings.HasPrefix(pol.Warnings[0], "policy acme-corp: the config file blackwell.yaml declares it with another spec"), pol.Warnings[0])
	// One it does not declare: no warning.
	pol = decodeAs[policyAnswer](t, f.do(t, "PUT", "/v1/clients/globex/policy", `{"auto_heal": {"enabled": false}}`), http.StatusOK)
	require.Empty(t, pol.Warnings)
}
