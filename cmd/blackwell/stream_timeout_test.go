package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/sim"
)

// TestStreamOutlivesTheReadTimeout: the server's ReadTimeout bounds reading
// a request, not the life of /v1/stream. A stream open for several read
// timeouts still delivers the next event.
func TestStreamOutlivesTheReadTimeout(t *testing.T) {
	t.Parallel()
	site, err := sim.NewSite(sim.SiteOptions{})
	require.NoError(t, err)
	t.Cleanup(site.Close)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "blackwell.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(e2eConfig(site.URL(), "")), 0o600))
	const readTimeout = 300 * time.Millisecond
	srv, err := startServer(context.Background(), serverOptions{
		configPath: cfgPath, configRequired: true, listen: "127.0.0.1:0",
		storeURL: "sqlite://" + filepath.Join(dir, "blackwell.db"), logOut: io.Discard, readTimeout: readTimeout,
	})
	require.NoError(t, err)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	base := "http://" + srv.Addr()
	hc := bearerClient(srv.bootstrapToken)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/stream?client_id=acme&kind=reconciliation.completed", nil)
	require.NoError(t, err)
	resp, err := hc.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	events := make(chan string, 100)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "id: ") {
				events <- sc.Text()
			}
		}
	}()

	// Let several read timeouts pass with the stream open (the property
	// under test is time passing), draining what the scheduled passes send.
	idle := time.After(4 * readTimeout)
	for waiting := true; waiting; {
		select {
		case _, ok := <-events:
			require.True(t, ok, "the stream ended while it was open for less than 4 read timeouts")
		case <-idle:
			waiting = false
		}
	}
	// A pass asked for now reaches the same stream.
	r, err := hc.Post(base+"/v1/stacks/acme/web/reconcile?wait=10s", "application/json", nil)
	require.NoError(t, err)
	r.Body.Close()
	require.Equal(t, http.StatusOK, r.StatusCode)
	select {
	case id, ok := <-events:
		require.True(t, ok, "the stream was cut after the read timeout")
		require.NotEmpty(t, id)
	case <-ctx.Done():
		t.Fatal("no event on the stream")
	}
}
