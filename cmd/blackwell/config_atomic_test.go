package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/sim"
	"github.com/blackwellio/blackwell/internal/store"
)

// configFacts is what applying a config writes: every stack's desired
// state, the digests of the versions and policies tables, and the audit
// entries an apply appends. Passes of the running loop change other
// columns and tables (status, results), which a config never writes.
type configFacts struct {
	Stacks []string
	Tables []store.TableCopy
	Audit  []string
}

func readConfigFacts(t *testing.T, st store.Store) configFacts {
	t.Helper()
	ctx := context.Background()
	var f configFacts
	recs, err := store.AllStates(ctx, st, "")
	require.NoError(t, err)
	for _, r := range recs {
		f.Stacks = append(f.Stacks, strings.Join([]string{r.ClientID, r.StackID, r.Environment, r.StateVersion, r.DesiredHash,
			strings.Join(r.PreviousVersions, ",")}, " "))
	}
	tables, err := store.Digest(ctx, st)
	require.NoError(t, err)
	for _, tc := range tables {
		if tc.Table == "desired_versions" || tc.Table == "policies" {
			f.Tables = append(f.Tables, tc)
		}
	}
	for _, action := range []string{"desired_state_changed", "policy_changed", "channels_applied"} {
		entries, _, err := st.ListAudit(ctx, store.AuditQuery{Action: action, Limit: 1000})
		require.NoError(t, err)
		for _, e := range entries {
			f.Audit = append(f.Audit, e.Action+" "+e.ClientID+"/"+e.StackID+" "+e.Hash)
		}
	}
	return f
}

// TestAConfigFailingInAnyPartLeavesTheStoreAsItWas: a config whose
// stacks, policy and documents validate but whose notification channel
// cannot be built (its secret resolves, on the server, to something that
// is not a whsec_ secret) is refused whole through POST /v1/config, on
// SIGHUP and at start: the store's desired state, versions, policies and
// config audit entries are exactly as before (issue 21, item 1).
func TestAConfigFailingInAnyPartLeavesTheStoreAsItWas(t *testing.T) {
	t.Parallel()
	site, err := sim.NewSite(sim.SiteOptions{})
	require.NoError(t, err)
	t.Cleanup(site.Close)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "blackwell.yaml")
	good := e2eConfig(site.URL(), "")
	require.NoError(t, os.WriteFile(cfgPath, []byte(good), 0o600))
	storeURL := "sqlite://" + filepath.Join(dir, "blackwell.db")
	env := map[string]string{"HOOK_SECRET": "not a whsec secret!"}
	opts := serverOptions{
		configPath: cfgPath, configRequired: true, listen: "127.0.0.1:0", storeURL: storeURL, logOut: io.Discard,
		getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
	}
	srv, err := startServer(context.Background(), opts)
	require.NoError(t, err)
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			srv.Shutdown(context.Background())
		}
	})

	// Every part changes: the stack (a new resource), the policy (its
	// interval), a new stack, and a channel that cannot be built.
	bad := strings.Replace(e2eConfig(site.URL(), "\n    port: {probe: tcp, address: \""+site.Addr()+"\"}"),
		"interval: 1s", "interval: 2s", 1) + `
  notifications:
    channels:
      - {type: webhook, url: "http://127.0.0.1:9/hook", secret: "${HOOK_SECRET}"}
---
apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: other, environment: dev}
spec:
  resources:
    site: {probe: http, url: "` + site.URL() + `/", expect_status: 200, timeout: 1s}
`
	before := readConfigFacts(t, srv.store)
	require.Len(t, before.Stacks, 1)

	// POST /v1/config: 422, nothing applied.
	req, err := http.NewRequest(http.MethodPost, "http://"+srv.Addr()+"/v1/config", strings.NewReader(bad))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/yaml")
	resp, err := bearerClient(srv.bootstrapToken).Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, string(body))
	var answer struct {
		Error struct{ Code, Message string }
	}
	require.NoError(t, json.Unmarshal(body, &answer))
	require.Equal(t, "invalid_config", answer.Error.Code)
	require.Contains(t, answer.Error.Message, "nothing applied")
	require.Contains(t, answer.Error.Message, "whsec_")
	require.NotContains(t, string(body), "not a whsec secret!", "the secret's value is not echoed")
	require.Equal(t, before, readConfigFacts(t, srv.store), "POST /v1/config wrote nothing")

	// SIGHUP (Reload) with the same document in the file.
	require.NoError(t, os.WriteFile(cfgPath, []byte(bad), 0o600))
	err = srv.Reload(context.Background())
	require.ErrorContains(t, err, "nothing applied")
	require.Equal(t, before, readConfigFacts(t, srv.store), "SIGHUP wrote nothing")

	// A restart with it refuses to start; not a row of the store changed.
	stopped = true
	require.NoError(t, srv.Shutdown(context.Background()))
	st, err := openStore(context.Background(), storeURL)
	require.NoError(t, err)
	whole, err := store.Digest(context.Background(), st)
	require.NoError(t, err)
	require.NoError(t, st.Close())
	_, err = startServer(context.Background(), opts)
	require.ErrorContains(t, err, "nothing applied")
	st, err = openStore(context.Background(), storeURL)
	require.NoError(t, err)
	defer st.Close()
	after, err := store.Digest(context.Background(), st)
	require.NoError(t, err)
	require.Equal(t, whole, after, "a refused start wrote nothing")
	require.Equal(t, before, readConfigFacts(t, st))

	// The same document with a usable secret is applied whole.
	env["HOOK_SECRET"] = "whsec_c2VjcmV0LWtleS1mb3ItdGVzdHM="
	srv, err = startServer(context.Background(), opts)
	require.NoError(t, err)
	defer srv.Shutdown(context.Background())
	applied := readConfigFacts(t, srv.store)
	require.Len(t, applied.Stacks, 2)
	require.NotEqual(t, before.Tables, applied.Tables)
}
