package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/poll"
	"github.com/blackwellio/blackwell/internal/sim"
)

// TestTheFileIsTheSourceOfTruthExceptForAHeldRollback runs a server with
// a config file: a PATCH is warned that the file wins, and SIGHUP (Reload)
// puts the file's version back; a rollback with a hold survives a reload
// and a restart (logged and audited as kept), and the passes reconcile
// toward the pinned version.
func TestTheFileIsTheSourceOfTruthExceptForAHeldRollback(t *testing.T) {
	t.Parallel()
	site, err := sim.NewSite(sim.SiteOptions{})
	require.NoError(t, err)
	t.Cleanup(site.Close)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "blackwell.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(e2eConfig(site.URL(), "")), 0o600))
	ctx := context.Background()
	logs := &syncBuffer{}
	start := func() *e2e {
		srv, err := startServer(ctx, serverOptions{
			configPath: cfgPath, configRequired: true, listen: "127.0.0.1:0",
			storeURL: "sqlite://" + filepath.Join(dir, "blackwell.db"), logOut: logs,
		})
		require.NoError(t, err)
		return &e2e{srv: srv, base: "http://" + srv.Addr(), cfgPath: cfgPath, token: srv.bootstrapToken}
	}
	e := start()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			e.srv.Shutdown(ctx)
		}
	})
	type stack struct {
		StateVersion string   `json:"state_version"`
		DesiredHash  string   `json:"desired_hash"`
		AppliedHash  string   `json:"applied_hash"`
		Warnings     []string `json:"warnings"`
		Hold         *struct {
			Version string `json:"version"`
		} `json:"hold"`
	}
	var rec stack
	e.getJSON(t, "/v1/stacks/acme/web", &rec)
	fileHash := rec.DesiredHash

	// A PATCH: applied, with a warning that the file wins at the next reload.
	patch := `{"spec": {"resources": {"site": {"probe": "http", "url": "` + site.URL() + `/", "expect_status": 200, "timeout": "1s"},` +
		` "port": {"probe": "tcp", "address": "` + site.Addr() + `"}}}}`
	var patched stack
	require.Equal(t, http.StatusOK, e.send(t, http.MethodPatch, "/v1/stacks/acme/web", patch, &patched))
	require.Equal(t, "v1.1.0", patched.StateVersion)
	require.Len(t, patched.Warnings, 1)
	require.Contains(t, patched.Warnings[0], "acme/web: the config file "+cfgPath+" declares this stack with another desired state")
	require.NoError(t, e.srv.Reload(ctx))
	e.getJSON(t, "/v1/stacks/acme/web", &rec)
	require.Equal(t, "v1.2.0", rec.StateVersion)
	require.Equal(t, fileHash, rec.DesiredHash, "SIGHUP put the file's version back")

	// A held rollback to the PATCH's version survives a reload.
	var rb stack
	require.Equal(t, http.StatusOK, e.send(t, http.MethodPost, "/v1/stacks/acme/web/rollback", `{"version": "v1.1.0", "hold": "1h"}`, &rb))
	require.Equal(t, "v1.3.0", rb.StateVersion)
	require.NotNil(t, rb.Hold)
	require.NoError(t, e.srv.Reload(ctx))
	e.getJSON(t, "/v1/stacks/acme/web", &rec)
	require.Equal(t, "v1.3.0", rec.StateVersion)
	require.Equal(t, patched.DesiredHash, rec.DesiredHash)
	require.Contains(t, logs.String(), `"msg":"desired state kept: the stack is pinned by a rollback hold; the file's version of it was not applied"`)

	// And a restart; the passes then reconcile toward the pinned version.
	e.srv.Shutdown(ctx)
	stopped = true
	e = start()
	stopped = false
	e.getJSON(t, "/v1/stacks/acme/web", &rec)
	require.Equal(t, "v1.3.0", rec.StateVersion)
	require.NotNil(t, rec.Hold)
	poll.Until(t, 20*time.Second, "a pass verifies the pinned version", func() bool {
		e.getJSON(t, "/v1/stacks/acme/web", &rec)
		return rec.AppliedHash == patched.DesiredHash
	})
	var audit struct {
		Items []struct {
			TriggeredBy string `json:"triggered_by"`
		} `json:"items"`
	}
	e.getJSON(t, "/v1/audit?action=desired_state_kept", &audit)
	require.Len(t, audit.Items, 2, "the reload and the restart")
	require.Equal(t, "config:"+cfgPath, audit.Items[1].TriggeredBy)

	// Unpinned, the next reload applies the file again.
	var un struct {
		Unpinned bool     `json:"unpinned"`
		Warnings []string `json:"warnings"`
	}
	require.Equal(t, http.StatusOK, e.send(t, http.MethodPost, "/v1/stacks/acme/web/unpin", "", &un))
	require.True(t, un.Unpinned)
	require.Len(t, un.Warnings, 1)
	require.NoError(t, e.srv.Reload(ctx))
	var after stack
	e.getJSON(t, "/v1/stacks/acme/web", &after)
	require.Equal(t, fileHash, after.DesiredHash)
	require.Nil(t, after.Hold)
}

// send makes an API write with a JSON body (none when empty) and decodes
// the answer into v.
func (e *e2e) send(t *testing.T, method, path, body string, v any) int {
	t.Helper()
	var r *bytes.Reader
	if body != "" {
		r = bytes.NewReader([]byte(body))
	} else {
		r = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, e.base+path, r)
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := bearerClient(e.token).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var raw bytes.Buffer
	_, err = raw.ReadFrom(resp.Body)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw.Bytes(), v), strings.TrimSpace(raw.String()))
	return resp.StatusCode
}
