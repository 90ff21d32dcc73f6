package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/poll"
	"github.com/blackwellio/blackwell/internal/provider/shopify"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/postgres"
	"github.com/blackwellio/blackwell/internal/store/postgres/pgtest"
)

// tcpProxy forwards connections to a target and can cut them: cut closes
// every open connection and closes new ones at once, as a stopped
// PostgreSQL would; restore lets connections through again.
type tcpProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	return newTCPProxyAt(t, "127.0.0.1:0", target)
}

// newTCPProxyAt is newTCPProxy listening on addr.
func newTCPProxyAt(t *testing.T, addr, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	p := &tcpProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.serve)
	t.Cleanup(func() {
		ln.Close()
		p.setCut(true)
		p.wg.Wait()
	})
	return p
}

func (p *tcpProxy) Addr() string { return p.ln.Addr().String() }

func (p *tcpProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		cut := p.cut
		p.mu.Unlock()
		if cut {
			c.Close()
			continue
		}
		up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.cut { // cut while dialling
			p.mu.Unlock()
			c.Close()
			up.Close()
			continue
		}
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			_, _ = io.Copy(dst, src)
			dst.Close()
			src.Close()
			p.mu.Lock()
			delete(p.conns, dst)
			delete(p.conns, src)
			p.mu.Unlock()
		}
		p.wg.Go(func() { pipe(up, c) })
		p.wg.Go(func() { pipe(c, up) })
	}
}

func (p *tcpProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			c.Close()
		}
	}
}

// TestStoreOutage runs serve on PostgreSQL through a proxy, under a small
// webhook load, and cuts the database off for 5 seconds: webhooks answer
// 503 with Retry-After while it is gone (never a 200 for an event that is
// then missing), /readyz answers 503 JSON, the server keeps running, and
// when the database is back everything resumes: readiness, 200s and
// reconcile passes, also of a stack that no webhook triggers.
func TestStoreOutage(t *testing.T) {
	t.Parallel()
	pgURL := pgtest.SchemaURL(t)
	u, err := url.Parse(pgURL)
	require.NoError(t, err)
	proxy := newTCPProxy(t, u.Host)
	u.Host = proxy.Addr()
	q := u.Query()
	q.Set("connect_timeout", "2")
	q.Set("pool_max_conns", "8")
	q.Set("statement_timeout", "5s")
	u.RawQuery = q.Encode()
	proxied := u.String()

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "blackwell.yaml")
	const secret = "outage-secret"
	var cfg bytes.Buffer
	for _, stack := range []string{"shop", "blog", "docs"} {
		fmt.Fprintf(&cfg, `---
apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: %s, environment: prod}
spec:
  providers:
    ecommerce: {name: shopify, webhook_secret: "${SHOP_SECRET}"}
  content_types: [product]
`, stack)
	}
	// A stack that gets no webhooks: only the resumption after the
	// outage runs it again before its schedule (5 minutes).
	fmt.Fprint(&cfg, `---
apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: quiet, stack_id: site, environment: prod}
spec:
  providers:
    ecommerce: {name: shopify, webhook_secret: "${SHOP_SECRET}"}
`)
	require.NoError(t, os.WriteFile(cfgPath, cfg.Bytes(), 0o600))
	srv, err := startServer(context.Background(), serverOptions{
		configPath: cfgPath, configRequired: true, listen: "127.0.0.1:0", storeURL: proxied,
		logOut: io.Discard, workers: 4,
		getenv: func(k string) (string, bool) {
			if k == "SHOP_SECRET" {
				return secret, true
			}
			return "", false
		},
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	base := "http://" + srv.Addr()
	client := &http.Client{Timeout: 10 * time.Second}

	// Four senders, a delivery every 20 ms each.
	var (
		mu                 sync.Mutex
		acked              = map[string]bool{}
		ok, unavailable    atomic.Int64
		okAfterRestore     atomic.Int64
		restored           atomic.Bool
		other              []string
		stop               = make(chan struct{})
		senders            sync.WaitGroup
		t0                 = time.Now().UTC().Truncate(time.Second)
		missingRetryAfter  atomic.Int64
		unavailableOutside atomic.Int64
		outage             atomic.Bool
		// cut is true from when the proxy has cut the database off until
		// just before it lets it through again; okDuringCut counts 200s of
		// deliveries sent and answered within that time.
		cut         atomic.Bool
		okDuringCut atomic.Int64
	)
	for s := range 4 {
		senders.Go(func() {
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				id := fmt.Sprintf("outage-%d-%d", s, i)
				body := fmt.Appendf(nil, `{"id":%d,"title":"T-Shirt","updated_at":%q}`, 1000+i%20, t0.Add(time.Duration(i)*time.Second).Format(time.RFC3339))
				req, _ := http.NewRequest(http.MethodPost, base+"/v1/webhooks/shopify/acme", bytes.NewReader(body))
				req.Header = shopify.Delivery{Topic: "products/update", ShopDomain: "acme.myshopify.com", WebhookID: id, EventID: id}.Header(secret, body)
				sentDuringCut := cut.Load()
				resp, err := client.Do(req)
				if err != nil {
					mu.Lock()
					other = append(other, err.Error())
					mu.Unlock()
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case http.StatusOK:
					ok.Add(1)
					if sentDuringCut && cut.Load() {
						okDuringCut.Add(1)
					}
					if restored.Load() {
						okAfterRestore.Add(1)
					}
					mu.Lock()
					acked["shopify:acme:"+id] = true
					mu.Unlock()
				case http.StatusServiceUnavailable:
					unavailable.Add(1)
					if resp.Header.Get("Retry-After") == "" {
						missingRetryAfter.Add(1)
					}
					if !outage.Load() && !restored.Load() {
						unavailableOutside.Add(1)
					}
				default:
					mu.Lock()
					other = append(other, resp.Status)
					mu.Unlock()
				}
			}
		})
	}
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		senders.Wait()
	}()

	readyz := func() (int, map[string]any) {
		resp, err := client.Get(base + "/readyz")
		require.NoError(t, err)
		defer resp.Body.Close()
		var body map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
		return resp.StatusCode, body
	}
	poll.Until(t, time.Minute, "deliveries acknowledged before the outage", func() bool { return ok.Load() >= 20 })
	code, _ := readyz()
	require.Equal(t, http.StatusOK, code)

	// The outage: 5 seconds without the database.
	outage.Store(true)
	proxy.setCut(true)
	cut.Store(true)
	cutAt := time.Now()
	poll.Until(t, time.Minute, "webhooks answer 503 during the outage", func() bool { return unavailable.Load() >= 5 })
	code, body := readyz()
	require.Equal(t, http.StatusServiceUnavailable, code, "readyz during the outage")
	require.Equal(t, "not_ready", body["error"].(map[string]any)["code"])
	// The outage's length is the scenario, so it is timed: 5s, past the
	// pool's 2s connect_timeout more than once (a blip would test less).
	// No event announces that an outage has lasted long enough.
	time.Sleep(time.Until(cutAt.Add(5 * time.Second)))
	cut.Store(false)
	require.Zero(t, okDuringCut.Load(), "no 200 for a delivery sent and answered while the database was gone")

	restoredAt := time.Now()
	proxy.setCut(false)
	outage.Store(false)
	restored.Store(true)
	poll.Until(t, time.Minute, "readyz after the outage", func() bool { c, _ := readyz(); return c == http.StatusOK })
	poll.Until(t, time.Minute, "deliveries acknowledged after the outage", func() bool { return okAfterRestore.Load() >= 20 })
	close(stop)
	senders.Wait()

	// Reconciliation resumed: a pass of every stack started after the
	// database came back.
	direct, err := postgres.Open(context.Background(), pgURL)
	require.NoError(t, err)
	defer direct.Close()
	for _, key := range []string{"acme/shop", "acme/blog", "acme/docs", "quiet/site"} {
		client, stack, _ := strings.Cut(key, "/")
		poll.Until(t, time.Minute, "a pass of "+key+" after the outage", func() bool {
			res, _, err := direct.ListReconciliations(context.Background(), client, stack, "", 1)
			return err == nil && len(res) == 1 && res[0].StartedAt.After(restoredAt)
		})
	}

	// Nothing acknowledged is missing.
	stored := map[string]bool{}
	eq := store.EventQuery{ClientID: "acme", Limit: store.MaxLimit}
	for {
		page, next, err := direct.ListEvents(context.Background(), eq)
		require.NoError(t, err)
		for _, e := range page {
			stored[e.EventID] = true
		}
		if next == "" {
			break
		}
		eq.Cursor = next
	}
	mu.Lock()
	defer mu.Unlock()
	var lost []string
	for id := range acked {
		if !stored[id] {
			lost = append(lost, id)
		}
	}
	require.Empty(t, lost, "acknowledged deliveries missing")
	require.Empty(t, other, "every answer is 200 or 503")
	require.Zero(t, missingRetryAfter.Load(), "every 503 has Retry-After")
	require.Zero(t, unavailableOutside.Load(), "no 503 before the outage")
	t.Logf("acknowledged %d deliveries (%d after the outage), %d answered 503 during the %s outage",
		ok.Load(), okAfterRestore.Load(), unavailable.Load(), restoredAt.Sub(cutAt).Round(time.Millisecond))
}
