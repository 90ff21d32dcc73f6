package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/notify"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/postgres/pgtest"
)

// agreementConfig is a one-stack config (plus extra stacks) whose policy
// sends to the named webhook channels.
func agreementConfig(receiver string, channels []string, extraStacks ...string) string {
	var b strings.Builder
	for _, id := range append([]string{"web"}, extraStacks...) {
		fmt.Fprintf(&b, `apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: %s, environment: prod}
spec:
  resources:
    site: {probe: http, url: "%s/", expect_status: 200, timeout: 1s}
---
`, id, receiver)
	}
	var refs []string
	for _, name := range channels {
		refs = append(refs, "{ref: "+name+"}")
		fmt.Fprintf(&b, `apiVersion: blackwell.io/v1
kind: NotificationChannel
metadata: {name: %s}
spec: {type: webhook, url: "%s/%s", secret: "${DRIFT_WHSEC}", severity_threshold: low}
---
`, name, receiver, name)
	}
	fmt.Fprintf(&b, `apiVersion: blackwell.io/v1
kind: ReconciliationPolicy
metadata: {client_id: acme}
spec:
  schedule: {interval: 5m}
  notifications: {channels: [%s]}
`, strings.Join(refs, ", "))
	return b.String()
}

// TestReplicasMustAgreeOnChannels (issue 23, item 4): two replicas on one
// PostgreSQL. A replica that starts with fewer or more notification
// channels than the running one is refused, naming the difference, and
// applies nothing; with the same channels it starts. When a config with
// other channels is applied to one replica, the other stops planning and
// sending until it is given them too.
func TestReplicasMustAgreeOnChannels(t *testing.T) {
	t.Parallel()
	storeURL := pgtest.SchemaURL(t)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(receiver.Close)
	env := map[string]string{"DRIFT_WHSEC": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
	dir := t.TempDir()
	start := func(name, cfg string) (*server, error) {
		path := filepath.Join(dir, name+".yaml")
		require.NoError(t, os.WriteFile(path, []byte(cfg), 0o600))
		srv, err := startServer(context.Background(), serverOptions{
			configPath: path, configRequired: true, listen: "127.0.0.1:0", storeURL: storeURL, logOut: io.Discard,
			workers: 2, getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		})
		if err == nil {
			t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
		}
		return srv, err
	}

	a, err := start("a", agreementConfig(receiver.URL, []string{"n0", "n1"}))
	require.NoError(t, err)
	set, err := a.store.GetChannelSet(context.Background(), notify.DefaultSubscriber)
	require.NoError(t, err)
	require.Equal(t, []string{"n0", "n1"}, set.Names, "recorded by the replica that applied the config")

	_, err = start("b-fewer", agreementConfig(receiver.URL, []string{"n0"}, "extra"))
	require.Error(t, err)
	require.ErrorContains(t, err, "refusing to start")
	require.ErrorContains(t, err, "missing here: n1")
	require.ErrorContains(t, err, set.SetBy, "names the replica that recorded them")
	_, err = a.store.GetState(context.Background(), "acme", "extra")
	require.ErrorIs(t, err, store.ErrNotFound, "the refused replica applied nothing")

	_, err = start("b-more", agreementConfig(receiver.URL, []string{"n0", "n1", "n2"}))
	require.ErrorContains(t, err, "not recorded: n2")

	b, err := start("b", agreementConfig(receiver.URL, []string{"n1", "n0"}))
	require.NoError(t, err, "the same channels, in any order")
	require.Nil(t, a.ChannelMismatch())
	require.Nil(t, b.ChannelMismatch())

	// One channel fewer, applied to A: B, still with both, holds back.
	resp, err := bearerClient(a.bootstrapToken).Post("http://"+a.Addr()+"/v1/config", "application/yaml",
		strings.NewReader(agreementConfig(receiver.URL, []string{"n0"})))
	require.NoError(t, err)
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(msg))
	require.Nil(t, a.ChannelMismatch())
	require.Eventually(t, func() bool {
		mm := b.ChannelMismatch()
		return mm != nil && len(mm.Extra) == 1 && mm.Extra[0] == "n1"
	}, 10*time.Second, 20*time.Millisecond, "B sees that its channels are no longer the recorded ones")
	require.False(t, b.SendsChannel("n0"), "and sends nothing")

	// B reloads the new file: they agree again.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "b.yaml"), []byte(agreementConfig(receiver.URL, []string{"n0"})), 0o600))
	require.NoError(t, b.Reload(context.Background()))
	require.Nil(t, b.ChannelMismatch())
}
