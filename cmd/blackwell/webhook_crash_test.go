package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/provider/shopify"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

// TestWebhookCrashLosesNothingAcknowledged runs blackwell serve as a child
// process, has 32 senders deliver signed Shopify webhooks to it as fast as
// it acknowledges them, kills it with SIGKILL in mid-stream, and checks
// that every delivery that got a 200 is in the store after reopening it,
// with its content-cache state.
func TestWebhookCrashLosesNothingAcknowledged(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("blackwell") // the test binary as the CLI (TestMain)
	require.NoError(t, err)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "blackwell.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(`apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: shop, environment: prod}
spec:
  providers:
    ecommerce: {name: shopify, webhook_secret: "${SHOP_SECRET}"}
  content_types: [product]
`), 0o600))
	dbPath := filepath.Join(dir, "blackwell.db")
	const secret = "crash-test-secret"

	cmd := exec.Command(bin, "serve", "--config", cfgPath, "--listen", "127.0.0.1:0",
		"--store", "sqlite://"+dbPath)
	cmd.Env = append(os.Environ(), "SHOP_SECRET="+secret)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	base := serveAddress(t, stderr)

	// Senders deliver until the server dies, recording each event id that
	// was acknowledged, and each product's newest acknowledged state.
	var (
		mu       sync.Mutex
		acked    = map[string]bool{}
		newest   = map[string]time.Time{}
		sent     atomic.Int64
		stop     = make(chan struct{})
		enough   = make(chan struct{}) // closed at 1,500 acknowledged
		once     sync.Once
		wg       sync.WaitGroup
		t0       = time.Now().UTC().Truncate(time.Second).Add(-time.Hour)
		client   = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		url      = base + "/v1/webhooks/shopify/acme"
		products = 50
	)
	for s := range 32 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				n := sent.Add(1)
				product := int(n) % products
				updated := t0.Add(time.Duration(n) * time.Millisecond).Truncate(time.Second)
				id := fmt.Sprintf("crash-%d-%d", s, i)
				body := []byte(fmt.Sprintf(`{"id":%d,"title":"T-Shirt %d","updated_at":%q}`, 1000+product, n, updated.Format(time.RFC3339)))
				h := shopify.Delivery{Topic: "products/update", ShopDomain: "acme.myshopify.com", WebhookID: id, EventID: id}.Header(secret, body)
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
				req.Header = h
				resp, err := client.Do(req)
				if err != nil {
					return // the server is gone
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					mu.Lock()
					acked["shopify:acme:"+id] = true
					gid := fmt.Sprintf("gid://shopify/Product/%d", 1000+product)
					if updated.After(newest[gid]) {
						newest[gid] = updated
					}
					if len(acked) >= 1500 {
						once.Do(func() { close(enough) })
					}
					mu.Unlock()
				}
			}
		})
	}
	// Kill once a good number of deliveries is acknowledged: the kill
	// lands among commits in flight.
	// (After 30s it lands wherever the senders are.)
	select {
	case <-enough:
	case <-time.After(30 * time.Second):
	}
	require.NoError(t, cmd.Process.Kill()) // SIGKILL
	close(stop)
	wg.Wait()
	_ = cmd.Wait()

	mu.Lock()
	defer mu.Unlock()
	require.GreaterOrEqual(t, len(acked), 100, "the server acknowledged deliveries before the kill")
	t.Logf("sent %d deliveries, %d acknowledged before SIGKILL", sent.Load(), len(acked))

	st, err := sqlite.Open(context.Background(), dbPath)
	require.NoError(t, err)
	defer st.Close()
	stored := map[string]bool{}
	q := store.EventQuery{ClientID: "acme", Limit: store.MaxLimit}
	for {
		page, next, err := st.ListEvents(context.Background(), q)
		require.NoError(t, err)
		for _, e := range page {
			stored[e.EventID] = true
		}
		if next == "" {
			break
		}
		q.Cursor = next
	}
	var lost []string
	for id := range acked {
		if !stored[id] {
			lost = append(lost, id)
		}
	}
	require.Empty(t, lost, "acknowledged deliveries missing after the crash (%d of %d)", len(lost), len(acked))

	items, _, err := st.ListContent(context.Background(), store.ContentQuery{ClientID: "acme", Limit: store.MaxLimit})
	require.NoError(t, err)
	for _, c := range items {
		require.False(t, c.UpdatedAt.Before(newest[c.ContentID]), "%s: the cache holds at least the newest acknowledged state", c.ContentID)
	}
	require.Len(t, items, len(newest))
}

// serveAddress reads serve's JSON log until it names its address, and
// keeps draining it.
func serveAddress(t *testing.T, stderr io.Reader) string {
	t.Helper()
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var line struct{ Msg, Listen string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "blackwell serving" {
				addrc <- line.Listen
			}
		}
	}()
	select {
	case a := <-addrc:
		return "http://" + a
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not start")
		return ""
	}
}
