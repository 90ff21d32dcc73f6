package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/poll"
	"github.com/blackwellio/blackwell/internal/sim"
)

// TestStreamAndChannelsFromPostedConfig: a server started without
// notification channels gets them from POST /v1/config; a drift then
// reaches the channel once and the live stream, and shutdown ends the
// open stream without waiting for it.
func TestStreamAndChannelsFromPostedConfig(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var types []string
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct{ Type string }
		if err := json.NewDecoder(r.Body).Decode(&ev); err == nil {
			mu.Lock()
			types = append(types, ev.Type)
			mu.Unlock()
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(receiver.Close)
	seen := func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), types...) }

	site, err := sim.NewSite(sim.SiteOptions{})
	require.NoError(t, err)
	t.Cleanup(site.Close)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "blackwell.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(e2eConfig(site.URL(), "")), 0o600))
	env := map[string]string{"DRIFT_WHSEC": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
	srv, err := startServer(context.Background(), serverOptions{
		configPath: cfgPath, configRequired: true, listen: "127.0.0.1:0",
		storeURL: "sqlite://" + filepath.Join(dir, "blackwell.db"), logOut: io.Discard,
		getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
	})
	require.NoError(t, err)
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			srv.Shutdown(context.Background())
		}
	})
	base := "http://" + srv.Addr()

	withChannel := e2eConfig(site.URL(), "") + fmt.Sprintf(`  notifications:
    channels:
      - {type: webhook, url: "%s/hook", secret: "${DRIFT_WHSEC}", severity_threshold: low}
`, receiver.URL)
	hc := bearerClient(srv.bootstrapToken)
	resp, err := hc.Post(base+"/v1/config", "application/yaml", strings.NewReader(withChannel))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	streamCtx, cancelStream := context.WithCancel(context.Background())
	t.Cleanup(cancelStream)
	req, err := http.NewRequestWithContext(streamCtx, http.MethodGet, base+"/v1/stream?client_id=acme", nil)
	require.NoError(t, err)
	stream, err := hc.Do(req)
	require.NoError(t, err)
	defer stream.Body.Close()
	require.Equal(t, "text/event-stream", stream.Header.Get("Content-Type"))
	kinds := make(chan string, 1024)
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		sc := bufio.NewScanner(stream.Body)
		for sc.Scan() {
			if k, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				kinds <- k
			}
		}
	}()
	waitKind := func(want string) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case k := <-kinds:
				if k == want {
					return
				}
			case <-deadline:
				t.Fatalf("no %s event on the stream", want)
			}
		}
	}
	waitKind("reconciliation.completed")

	require.NoError(t, site.SetMode(sim.ModeFailing))
	waitKind("drift.detected")
	poll.Until(t, time.Minute, "drift announced on the channel from the posted config", func() bool { return len(seen()) >= 1 })
	require.Equal(t, []string{"io.blackwell.drift.detected"}, seen())

	// Shutdown ends the open stream first, instead of waiting for it.
	stopped = true
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(context.Background()) }()
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream did not end at shutdown")
	}
	<-shut
}
