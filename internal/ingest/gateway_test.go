package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/api"
	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/ingest"
	"github.com/blackwellio/blackwell/internal/provider/contentful"
	"github.com/blackwellio/blackwell/internal/provider/sanity"
	"github.com/blackwellio/blackwell/internal/provider/shopify"
	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/stdwebhook"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

// The secrets of the test world, as the server's environment holds them.
var testEnv = map[string]string{
	"SHOP_OLD":      "shop-old-secret",
	"SHOP_NEW":      "shop-new-secret",
	"SANITY_SECRET": "sanity-secret",
	"CF_SECRET":     strings.Repeat("c", 64),
	"WHSEC":         "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
}

// testConfig: client acme with a shop (shopify with two secrets during a
// rotation, sanity), a blog (contentful) and a legacy stack (generic);
// client globex whose shopify secret is not set on this server.
const testConfig = `apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: shop, environment: prod}
spec:
  providers:
    ecommerce: {name: shopify, settings: {shop: acme}, webhook_secret: ["${SHOP_OLD}", "${SHOP_NEW}"]}
    cms: {name: sanity, webhook_secret: "${SANITY_SECRET}"}
  content_types: [product, post]
---
apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: blog, environment: staging}
spec:
  providers:
    cms: {name: contentful, webhook_secret: "${CF_SECRET}"}
---
apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: legacy, environment: prod}
spec:
  providers:
    cms: {name: generic, webhook_secret: "${WHSEC}"}
---
apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: globex, stack_id: site, environment: prod}
spec:
  providers:
    ecommerce: {name: shopify, webhook_secret: "${GLOBEX_UNSET}"}
`

// recorder records triggered passes.
type recorder struct {
	mu   sync.Mutex
	keys []string
}

func (r *recorder) Trigger(clientID, stackID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keys = append(r.keys, clientID+"/"+stackID)
}

// take returns the triggers since the last take.
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.keys
	r.keys = nil
	slices.Sort(out)
	return out
}

type fixture struct {
	url      string
	store    store.Store
	state    *state.Service
	gw       *ingest.Gateway
	reg      *prometheus.Registry
	triggers *recorder
	logs     *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// setup serves the API with the gateway over a new SQLite store holding
// testConfig; opts may change the gateway's options.
func setup(t *testing.T, opts ...func(*ingest.Options)) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "blackwell.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	f := &fixture{store: st, reg: prometheus.NewRegistry(), triggers: &recorder{}, logs: &syncBuffer{}}
	log := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	getenv := func(k string) (string, bool) { v, ok := testEnv[k]; return v, ok }
	o := ingest.Options{
		Store: st, Trigger: f.triggers.Trigger, Getenv: getenv, Registerer: f.reg, Logger: log, TriggerInterval: -1,
	}
	for _, fn := range opts {
		fn(&o)
	}
	f.gw = ingest.New(o)
	f.state = state.New(st, state.Options{Logger: log, OnChange: f.gw.Invalidate})
	f.apply(t, testConfig)
	srv := httptest.NewServer(api.New(api.Options{Store: st, State: f.state, Logger: log, Webhooks: f.gw, Getenv: getenv}))
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

func (f *fixture) apply(t *testing.T, yaml string) {
	t.Helper()
	cfg, err := config.Parse("blackwell.yaml", []byte(yaml), nil)
	require.NoError(t, err)
	_, err = f.state.Apply(context.Background(), cfg, "test")
	require.NoError(t, err)
}

// post sends a delivery and returns the status, the decoded body and the
// answer's headers.
func (f *fixture) post(t *testing.T, path string, h http.Header, body []byte) (int, map[string]any, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.url+path, bytes.NewReader(body))
	require.NoError(t, err)
	for k, vs := range h {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var v map[string]any
	require.NoError(t, json.Unmarshal(data, &v), string(data))
	return resp.StatusCode, v, resp.Header
}

func (f *fixture) events(t *testing.T) []store.Event {
	t.Helper()
	evs, _, err := f.store.ListEvents(context.Background(), store.EventQuery{Limit: 1000})
	require.NoError(t, err)
	return evs
}

func (f *fixture) content(t *testing.T) []store.ContentItem {
	t.Helper()
	items, _, err := f.store.ListContent(context.Background(), store.ContentQuery{IncludeDeleted: true, Limit: 1000})
	require.NoError(t, err)
	return items
}

func (f *fixture) gauge(name string) float64 {
	mfs, err := f.reg.Gather()
	if err != nil {
		panic(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return -1
}

func (f *fixture) count(provider, result string) float64 {
	c, err := f.reg.Gather()
	if err != nil {
		panic(err)
	}
	for _, mf := range c {
		if mf.GetName() != "blackwell_webhook_deliveries_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["provider"] == provider && labels["result"] == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}

// shopifyProduct returns a signed products/update delivery of a product.
func shopifyProduct(secret, eventID string, id int, updated time.Time) (http.Header, []byte) {
	body := []byte(fmt.Sprintf(`{"id":%d,"title":"T-Shirt","updated_at":%q}`, id, updated.Format(time.RFC3339)))
	d := shopify.Delivery{Topic: "products/update", ShopDomain: "acme.myshopify.com", APIVersion: "2025-07",
		WebhookID: "wh-" + eventID, EventID: eventID, TriggeredAt: time.Now()}
	return d.Header(secret, body), body
}

func TestAccepted(t *testing.T) {
	t.Parallel()
	f := setup(t)
	now := time.Now().UTC().Truncate(time.Second)

	// Shopify, client-wide: every stack of the client gets a pass.
	h, body := shopifyProduct("shop-new-secret", "evt-1", 42, now.Add(-time.Minute))
	status, ans, _ := f.post(t, "/v1/webhooks/shopify/acme", h, body)
	require.Equal(t, http.StatusOK, status, ans)
	require.Equal(t, map[string]any{"event_id": "shopify:acme:evt-1", "duplicate": false,
		"triggered": []any{"acme/blog", "acme/legacy", "acme/shop"}}, ans)
	require.Equal(t, []string{"acme/blog", "acme/legacy", "acme/shop"}, f.triggers.take())

	evs := f.events(t)
	require.Len(t, evs, 1)
	ev := evs[0]
	require.Equal(t, "shopify:acme:evt-1", ev.EventID)
	require.Equal(t, "", ev.StackID)
	require.Equal(t, "content.updated", ev.EventType)
	require.Equal(t, "gid://shopify/Product/42", ev.ContentID)
	require.Equal(t, "product", ev.ContentType)
	require.Equal(t, now.Add(-time.Minute), ev.Timestamp)
	require.Equal(t, "prod", ev.Environment, "the stacks binding shopify are all prod")
	require.Equal(t, string(body), string(ev.Payload), "the raw payload is kept")
	require.InDelta(t, ev.ReceivedAt.Add(30*24*time.Hour).Unix(), ev.TTLTimestamp, 1, "30 days of retention")
	require.False(t, ev.DriftChecked)

	// The redelivery: same 200, nothing written, nothing triggered.
	status, ans, _ = f.post(t, "/v1/webhooks/shopify/acme", h, body)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, map[string]any{"event_id": "shopify:acme:evt-1", "duplicate": true}, ans)
	require.Len(t, f.events(t), 1)
	require.Empty(t, f.triggers.take())

	// Rotation: the old secret verifies too.
	h, body = shopifyProduct("shop-old-secret", "evt-2", 43, now)
	status, _, _ = f.post(t, "/v1/webhooks/shopify/acme", h, body)
	require.Equal(t, http.StatusOK, status)
	f.triggers.take()

	// Sanity, for one stack: only it gets a pass.
	doc := []byte(`{"_id":"post-1","_type":"post","title":"Hello"}`)
	sd := sanity.Delivery{Operation: "create", DocumentID: "post-1", ProjectID: "p1", Dataset: "production",
		TransactionID: "tx1", TransactionTime: now, IdempotencyKey: "idem-1", SentAt: time.Now()}
	status, ans, _ = f.post(t, "/v1/webhooks/sanity/acme/shop", sd.Header("sanity-secret", doc), doc)
	require.Equal(t, http.StatusOK, status, ans)
	require.Equal(t, []any{"acme/shop"}, ans["triggered"])
	require.Equal(t, []string{"acme/shop"}, f.triggers.take())

	// Contentful: the signature covers this path.
	cfBody := []byte(`{"sys":{"id":"e1","type":"Entry","version":3,"publishedCounter":1,"updatedAt":"` + now.Format(time.RFC3339) + `",` +
		`"contentType":{"sys":{"id":"post"}},"space":{"sys":{"id":"sp"}},"environment":{"sys":{"id":"master"}}}}`)
	cd := contentful.Delivery{Topic: "ContentManagement.Entry.publish", IdempotencyKey: "cf-1", SentAt: time.Now()}
	status, ans, _ = f.post(t, "/v1/webhooks/contentful/acme/blog", cd.Header(testEnv["CF_SECRET"], "/v1/webhooks/contentful/acme/blog", cfBody), cfBody)
	require.Equal(t, http.StatusOK, status, ans)

	// Generic: Standard Webhooks and a ContentChangeEvent.
	gBody := []byte(`{"event_type":"content.deleted","content_id":"page-9","content_type":"page"}`)
	gh, err := stdwebhook.Header(testEnv["WHSEC"], "msg_1", time.Now(), gBody)
	require.NoError(t, err)
	status, ans, _ = f.post(t, "/v1/webhooks/generic/acme/legacy", gh, gBody)
	require.Equal(t, http.StatusOK, status, ans)

	byID := map[string]store.Event{}
	for _, e := range f.events(t) {
		byID[e.EventID] = e
	}
	require.Len(t, byID, 5)
	require.Equal(t, "content.created", byID["sanity:acme:idem-1"].EventType)
	require.Equal(t, "shop", byID["sanity:acme:idem-1"].StackID)
	require.Equal(t, "content.created", byID["contentful:acme:cf-1"].EventType)
	require.Equal(t, "staging", byID["contentful:acme:cf-1"].Environment)
	require.Equal(t, "content.deleted", byID["generic:acme:msg_1"].EventType)

	items := map[string]store.ContentItem{}
	for _, c := range f.content(t) {
		items[c.ProviderName+" "+c.ContentID] = c
	}
	require.Len(t, items, 5)
	require.Equal(t, "acme.myshopify.com", items["shopify gid://shopify/Product/42"].Source)
	require.Equal(t, "p1/production", items["sanity post-1"].Source)
	require.Equal(t, int64(3), items["contentful e1"].Version)
	require.True(t, items["generic page-9"].Deleted)

	require.Equal(t, 2.0, f.count("shopify", "accepted"))
	require.Equal(t, 1.0, f.count("shopify", "duplicate"))
	require.Equal(t, 1.0, f.count("sanity", "accepted"))
	require.Equal(t, 1.0, f.count("contentful", "accepted"))
	require.Equal(t, 1.0, f.count("generic", "accepted"))
}

// TestOutOfOrder: a late delivery of an older state of a product does not
// regress the content cache; a deletion is a tombstone.
func TestOutOfOrder(t *testing.T) {
	t.Parallel()
	f := setup(t)
	t0 := time.Now().UTC().Truncate(time.Second).Add(-time.Hour)
	newer, newerBody := shopifyProduct("shop-new-secret", "e-new", 7, t0.Add(10*time.Minute))
	older, olderBody := shopifyProduct("shop-new-secret", "e-old", 7, t0)
	for _, d := range []struct {
		h    http.Header
		body []byte
	}{{newer, newerBody}, {older, olderBody}} {
		status, ans, _ := f.post(t, "/v1/webhooks/shopify/acme", d.h, d.body)
		require.Equal(t, http.StatusOK, status, ans)
	}
	items := f.content(t)
	require.Len(t, items, 1)
	require.Equal(t, t0.Add(10*time.Minute), items[0].UpdatedAt)
	require.Equal(t, "shopify:acme:e-new", items[0].EventID)
	require.Len(t, f.events(t), 2, "both events are in the mirror")

	del := []byte(`{"id":7}`)
	dd := shopify.Delivery{Topic: "products/delete", ShopDomain: "acme.myshopify.com", WebhookID: "w", EventID: "e-del", TriggeredAt: t0.Add(20 * time.Minute)}
	status, _, _ := f.post(t, "/v1/webhooks/shopify/acme", dd.Header("shop-new-secret", del), del)
	require.Equal(t, http.StatusOK, status)
	late, lateBody := shopifyProduct("shop-new-secret", "e-late", 7, t0.Add(15*time.Minute))
	status, _, _ = f.post(t, "/v1/webhooks/shopify/acme", late, lateBody)
	require.Equal(t, http.StatusOK, status)
	items = f.content(t)
	require.Len(t, items, 1)
	require.True(t, items[0].Deleted, "a late update does not resurrect a deleted product")
	require.Equal(t, "shopify:acme:e-del", items[0].EventID)
}

// TestRejected: every rejection answers its status and writes nothing.
func TestRejected(t *testing.T) {
	t.Parallel()
	f := setup(t, func(o *ingest.Options) { o.MaxBodyBytes = 4 << 10 })
	h, body := shopifyProduct("shop-new-secret", "evt-r", 1, time.Now())
	staleDoc := []byte(`{"_id":"p","_type":"post"}`)
	staleSanity := sanity.Delivery{Operation: "update", IdempotencyKey: "k", SentAt: time.Now().Add(-10 * time.Minute)}.Header("sanity-secret", staleDoc)
	big := []byte(`{"id":1,"pad":"` + strings.Repeat("x", 5<<10) + `"}`)

	with := func(h http.Header, k, v string) http.Header {
		h = h.Clone()
		if v == "" {
			h.Del(k)
		} else {
			h.Set(k, v)
		}
		return h
	}
	for _, c := range []struct {
		name   string
		path   string
		header http.Header
		body   []byte
		status int
		result string
		label  string
	}{
		// Whatever stops a delivery before its signature verifies is
		// answered alike (TestStrangersLearnNothing); the metric and the log
		// keep the reason.
		{"wrong secret", "/v1/webhooks/shopify/acme", shopifyHeader("nope", body), body, http.StatusUnauthorized, "bad_signature", "shopify"},
		{"tampered body", "/v1/webhooks/shopify/acme", h, []byte(strings.Replace(string(body), "T-Shirt", "T-Shirt!", 1)), http.StatusUnauthorized, "bad_signature", "shopify"},
		{"missing signature", "/v1/webhooks/shopify/acme", with(h, shopify.HeaderHmac, ""), body, http.StatusUnauthorized, "missing_signature", "shopify"},
		{"secret not set on this server", "/v1/webhooks/shopify/globex", h, body, http.StatusUnauthorized, "bad_signature", "shopify"},
		{"malformed signature", "/v1/webhooks/shopify/acme", with(h, shopify.HeaderHmac, "!!"), body, http.StatusUnauthorized, "malformed", "shopify"},
		{"stale timestamp", "/v1/webhooks/sanity/acme", staleSanity, staleDoc, http.StatusUnauthorized, "stale", "sanity"},
		{"unknown client", "/v1/webhooks/shopify/initech", h, body, http.StatusUnauthorized, "not_found", "shopify"},
		{"no stack binds the provider", "/v1/webhooks/contentful/globex", h, body, http.StatusUnauthorized, "not_found", "contentful"},
		{"the stack does not bind it", "/v1/webhooks/shopify/acme/blog", h, body, http.StatusUnauthorized, "not_found", "shopify"},
		{"unknown stack", "/v1/webhooks/shopify/acme/nope", h, body, http.StatusUnauthorized, "not_found", "shopify"},
		// A verified delivery whose content makes no sense says why.
		{"malformed topic", "/v1/webhooks/shopify/acme", shopifyHeaderTopic("shop-new-secret", "nonsense", body), body, http.StatusBadRequest, "malformed", "shopify"},
		{"another shop", "/v1/webhooks/shopify/acme", with(h, shopify.HeaderShopDomain, "evil.myshopify.com"), body, http.StatusUnauthorized, "bad_signature", "shopify"},
		{"an update replayed as a delete", "/v1/webhooks/shopify/acme", with(h, shopify.HeaderTopic, "products/delete"), body, http.StatusUnauthorized, "bad_signature", "shopify"},
		{"unknown provider", "/v1/webhooks/wordpress/acme", h, body, http.StatusNotFound, "unknown_provider", "unknown"},
		{"too large", "/v1/webhooks/shopify/acme", shopifyHeader("shop-new-secret", big), big, http.StatusRequestEntityTooLarge, "too_large", "shopify"},
		{"not json", "/v1/webhooks/shopify/acme", with(h, "Content-Type", "text/plain"), body, http.StatusUnsupportedMediaType, "unsupported_media_type", "shopify"},
		{"no content type", "/v1/webhooks/shopify/acme", with(h, "Content-Type", ""), body, http.StatusUnsupportedMediaType, "unsupported_media_type", "shopify"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := f.count(c.label, c.result)
			status, ans, _ := f.post(t, c.path, c.header, c.body)
			require.Equal(t, c.status, status, ans)
			require.Contains(t, ans, "error")
			require.Equal(t, before+1, f.count(c.label, c.result), "counted as %s", c.result)
		})
	}
	require.Empty(t, f.events(t), "no rejection writes an event")
	require.Empty(t, f.content(t), "no rejection writes content")
	require.Empty(t, f.triggers.take())

	logs := f.logs.String()
	require.Contains(t, logs, "webhook rejected")
	for _, secret := range testEnv {
		require.NotContains(t, logs, secret, "secrets never reach the logs")
	}
	require.NotContains(t, logs, "T-Shirt", "bodies never reach the logs")
	require.NotContains(t, logs, h.Get(shopify.HeaderHmac), "signatures never reach the logs")
}

func shopifyHeader(secret string, body []byte) http.Header {
	return shopifyHeaderTopic(secret, "products/update", body)
}

func shopifyHeaderTopic(secret, topic string, body []byte) http.Header {
	d := shopify.Delivery{Topic: topic, ShopDomain: "acme.myshopify.com", WebhookID: "w1", EventID: "e1"}
	return d.Header(secret, body)
}

// blockingStore holds every IngestEvents call until release is closed.
type blockingStore struct {
	store.Store
	entered chan struct{}
	release chan struct{}
}

func (s blockingStore) IngestEvents(ctx context.Context, in []store.IngestEvent) ([]bool, error) {
	s.entered <- struct{}{}
	<-s.release
	return s.Store.IngestEvents(ctx, in)
}

// TestOverloaded: beyond MaxInFlight deliveries at once, 429 with
// Retry-After, and nothing written.
func TestOverloaded(t *testing.T) {
	t.Parallel()
	held := blockingStore{entered: make(chan struct{}, 1), release: make(chan struct{})}
	f := setup(t, func(o *ingest.Options) {
		o.MaxInFlight = 1
		held.Store = o.Store
		o.Store = held
	})
	h, body := shopifyProduct("shop-new-secret", "slow", 1, time.Now())

	// A delivery whose commit is slow holds the one slot.
	done := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, f.url+"/v1/webhooks/shopify/acme", bytes.NewReader(body))
		req.Header = h.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	<-held.entered

	h2, body2 := shopifyProduct("shop-new-secret", "fast", 2, time.Now())
	status, _, hdr := f.post(t, "/v1/webhooks/shopify/acme", h2, body2)
	require.Equal(t, http.StatusTooManyRequests, status)
	require.Equal(t, "1", hdr.Get("Retry-After"))
	require.Equal(t, 1.0, f.count("shopify", "overloaded"))

	close(held.release)
	require.Equal(t, http.StatusOK, <-done)
	evs := f.events(t)
	require.Len(t, evs, 1, "only the delivery that got a slot is stored")
	require.Equal(t, "shopify:acme:slow", evs[0].EventID)

	go func() { <-held.entered }()
	status, _, _ = f.post(t, "/v1/webhooks/shopify/acme", h2, body2)
	require.Equal(t, http.StatusOK, status, "with the slot free again, accepted")
}

// TestSlowSendersDoNotHoldSlots: senders whose bodies trickle in (or
// never come) take no delivery slot while the body is read, so a normal
// delivery is still accepted; a body that does not arrive within
// BodyTimeout is refused.
func TestSlowSendersDoNotHoldSlots(t *testing.T) {
	t.Parallel()
	const slots, slow = 2, 6
	f := setup(t, func(o *ingest.Options) {
		o.MaxInFlight = slots
		o.BodyTimeout = 30 * time.Second
	})
	h, body := shopifyProduct("shop-new-secret", "slow", 1, time.Now())
	answers := make(chan int, slow)
	for range slow {
		pr, pw := io.Pipe()
		t.Cleanup(func() { pw.CloseWithError(io.ErrUnexpectedEOF) })
		req, err := http.NewRequest(http.MethodPost, f.url+"/v1/webhooks/shopify/acme", pr)
		require.NoError(t, err)
		req.Header = h.Clone()
		req.ContentLength = int64(len(body))
		go func() {
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				answers <- 0
				return
			}
			resp.Body.Close()
			answers <- resp.StatusCode
		}()
		_, err = pw.Write(body[:5])
		require.NoError(t, err)
	}
	// Every slow sender is in: holding a slot (as before the fix, when
	// the slot was taken before the body was read), or reading its body.
	require.Eventually(t, func() bool {
		return f.gauge("blackwell_webhook_in_flight") == slots || f.gauge("blackwell_webhook_receiving") == slow
	}, 10*time.Second, 5*time.Millisecond)

	h2, body2 := shopifyProduct("shop-new-secret", "fast", 2, time.Now())
	status, ans, _ := f.post(t, "/v1/webhooks/shopify/acme", h2, body2)
	require.Equal(t, http.StatusOK, status, "a normal delivery is accepted while slow senders trickle: %v", ans)
	require.Zero(t, f.count("shopify", "overloaded"))
}

// TestSlowBodyTimesOut: a body that does not arrive within BodyTimeout is
// refused and frees everything it held.
func TestSlowBodyTimesOut(t *testing.T) {
	t.Parallel()
	f := setup(t, func(o *ingest.Options) { o.BodyTimeout = 200 * time.Millisecond })
	h, body := shopifyProduct("shop-new-secret", "stalled", 1, time.Now())
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.CloseWithError(io.ErrUnexpectedEOF) })
	req, err := http.NewRequest(http.MethodPost, f.url+"/v1/webhooks/shopify/acme", pr)
	require.NoError(t, err)
	req.Header = h.Clone()
	req.ContentLength = int64(len(body))
	go func() {
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	_, err = pw.Write(body[:5])
	require.NoError(t, err)
	// The sender stalls; the server gives up on it after BodyTimeout.
	require.Eventually(t, func() bool { return f.count("shopify", "malformed") == 1 }, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, 0.0, f.gauge("blackwell_webhook_receiving"))
	require.Empty(t, f.events(t))
	require.Contains(t, f.logs.String(), "the body did not arrive within 200ms")
}

// TestStrangersLearnNothing: a delivery to an unknown client, an unknown
// stack or a provider no stack binds is answered exactly like one with a
// bad signature to a client that exists, so a stranger cannot list
// clients; the detail is in the server's log.
func TestStrangersLearnNothing(t *testing.T) {
	t.Parallel()
	f := setup(t)
	h, body := shopifyProduct("not-the-secret", "probe", 1, time.Now())
	type answer struct {
		status int
		body   map[string]any
	}
	send := func(path string, h http.Header) answer {
		status, ans, _ := f.post(t, path, h, body)
		return answer{status, ans}
	}
	reference := send("/v1/webhooks/shopify/acme", h) // acme exists, the signature is wrong
	require.Equal(t, http.StatusUnauthorized, reference.status)
	for _, path := range []string{
		"/v1/webhooks/shopify/initech",   // no such client
		"/v1/webhooks/shopify/acme/nope", // no such stack
		"/v1/webhooks/shopify/acme/blog", // the stack does not bind shopify
		"/v1/webhooks/contentful/globex", // no stack of globex binds contentful
		"/v1/webhooks/shopify/globex",    // its secret is not set here
		"/v1/webhooks/shopify/acme/shop", // the right stack, a wrong signature
	} {
		require.Equal(t, reference, send(path, h), path)
	}
	// Without a signature, or with a stale or malformed one: the same.
	for _, hh := range []http.Header{
		func() http.Header { c := h.Clone(); c.Del(shopify.HeaderHmac); return c }(),
		func() http.Header { c := h.Clone(); c.Set(shopify.HeaderHmac, "!!"); return c }(),
	} {
		require.Equal(t, reference, send("/v1/webhooks/shopify/acme", hh))
		require.Equal(t, reference, send("/v1/webhooks/shopify/initech", hh))
	}
	msg := reference.body["error"].(map[string]any)["message"].(string)
	require.NotContains(t, msg, "acme")
	require.NotContains(t, msg, "signature")
	require.Contains(t, f.logs.String(), "unknown client", "the detail is logged")
}

// TestBindingsFollowDesiredState: a new secret or a new stack applied is
// used by the next delivery (the state service's OnChange drops the
// cached bindings); a removed secret stops verifying.
func TestBindingsFollowDesiredState(t *testing.T) {
	t.Parallel()
	f := setup(t)
	h, body := shopifyProduct("shop-new-secret", "a1", 1, time.Now())
	status, _, _ := f.post(t, "/v1/webhooks/shopify/acme", h, body)
	require.Equal(t, http.StatusOK, status)

	// The rotation completes: only the new secret is listed.
	f.apply(t, strings.Replace(testConfig, `["${SHOP_OLD}", "${SHOP_NEW}"]`, `"${SHOP_NEW}"`, 1))
	h, body = shopifyProduct("shop-old-secret", "a2", 1, time.Now())
	status, _, _ = f.post(t, "/v1/webhooks/shopify/acme", h, body)
	require.Equal(t, http.StatusUnauthorized, status, "the retired secret no longer verifies")

	// A new client is found at once.
	status, _, _ = f.post(t, "/v1/webhooks/sanity/initech", http.Header{"Content-Type": {"application/json"}}, []byte(`{}`))
	require.Equal(t, http.StatusUnauthorized, status)
	f.apply(t, `apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: initech, stack_id: www}
spec:
  providers:
    cms: {name: sanity, webhook_secret: "${SANITY_SECRET}"}
`)
	doc := []byte(`{"_id":"x","_type":"post"}`)
	sd := sanity.Delivery{Operation: "update", IdempotencyKey: "i1", SentAt: time.Now()}
	status, ans, _ := f.post(t, "/v1/webhooks/sanity/initech", sd.Header("sanity-secret", doc), doc)
	require.Equal(t, http.StatusOK, status, ans)
}

// TestBindingsOfAClientWithManyStacks: the bindings of a client are read
// from all its stacks, not from the first page of them (100): the
// deliveries of a stack that sorts after the first hundred were refused.
func TestBindingsOfAClientWithManyStacks(t *testing.T) {
	t.Parallel()
	f := setup(t)
	var docs []string
	for i := range store.DefaultLimit + 1 {
		docs = append(docs, fmt.Sprintf("apiVersion: blackwell.io/v1\nkind: Stack\nmetadata: {client_id: bulk, stack_id: s%03d}\nspec: {}\n", i))
	}
	docs[store.DefaultLimit] = fmt.Sprintf(`apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: bulk, stack_id: s%03d}
spec:
  providers:
    cms: {name: sanity, webhook_secret: "${SANITY_SECRET}"}
`, store.DefaultLimit)
	f.apply(t, strings.Join(docs, "---\n"))
	doc := []byte(`{"_id":"x","_type":"post"}`)
	sd := sanity.Delivery{Operation: "update", IdempotencyKey: "bulk-1", SentAt: time.Now()}
	status, ans, _ := f.post(t, "/v1/webhooks/sanity/bulk", sd.Header("sanity-secret", doc), doc)
	require.Equal(t, http.StatusOK, status, ans)
}

// TestConcurrentDeliveries: many senders at once, each delivery twice:
// every event stored once, every answer a 200.
func TestConcurrentDeliveries(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const senders, each = 16, 20
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for s := range senders {
		wg.Go(func() {
			for i := range each {
				id := strconv.Itoa(s*each + i)
				h, body := shopifyProduct("shop-new-secret", "c-"+id, 100+i%5, time.Now().Add(time.Duration(i)*time.Second))
				for range 2 {
					req, _ := http.NewRequest(http.MethodPost, f.url+"/v1/webhooks/shopify/acme", bytes.NewReader(body))
					req.Header = h.Clone()
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						errs <- err
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						errs <- fmt.Errorf("delivery %s: status %d", id, resp.StatusCode)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Len(t, f.events(t), senders*each)
	require.Equal(t, float64(senders*each), f.count("shopify", "accepted"))
	require.Equal(t, float64(senders*each), f.count("shopify", "duplicate"))
}

// TestShopifyReplayAsAnotherTopic: Shopify signs the body only. A captured
// products/create delivery sent again as products/delete (a fresh event id,
// the same signature) is refused and deletes nothing; a delivery from
// another shop is refused; Shopify's own retry (same body, same ids) is
// still acknowledged once as a duplicate.
func TestShopifyReplayAsAnotherTopic(t *testing.T) {
	t.Parallel()
	f := setup(t)
	t0 := time.Now().UTC().Truncate(time.Second)
	body := []byte(fmt.Sprintf(`{"id":77,"title":"T-Shirt","created_at":%q,"updated_at":%q}`, t0.Format(time.RFC3339), t0.Format(time.RFC3339)))
	create := shopify.Delivery{Topic: "products/create", ShopDomain: "acme.myshopify.com", APIVersion: "2025-07",
		WebhookID: "wh-1", EventID: "ev-1", TriggeredAt: t0}
	h := create.Header("shop-new-secret", body)
	status, ans, _ := f.post(t, "/v1/webhooks/shopify/acme", h, body)
	require.Equal(t, http.StatusOK, status, ans)
	require.Equal(t, false, ans["duplicate"])

	status, ans, _ = f.post(t, "/v1/webhooks/shopify/acme", h.Clone(), body)
	require.Equal(t, http.StatusOK, status, "Shopify's retry is acknowledged")
	require.Equal(t, true, ans["duplicate"])

	replay := h.Clone()
	replay.Set(shopify.HeaderTopic, "products/delete")
	replay.Set(shopify.HeaderEventID, "ev-forged")
	replay.Set(shopify.HeaderWebhookID, "wh-forged")
	status, ans, _ = f.post(t, "/v1/webhooks/shopify/acme", replay, body)
	require.Equal(t, http.StatusUnauthorized, status, ans)
	require.Equal(t, "the delivery could not be verified", ans["error"].(map[string]any)["message"], "answered like a bad signature, without details")

	foreign := h.Clone()
	foreign.Set(shopify.HeaderShopDomain, "globex.myshopify.com")
	foreign.Set(shopify.HeaderEventID, "ev-2")
	status, ans, _ = f.post(t, "/v1/webhooks/shopify/acme", foreign, body)
	require.Equal(t, http.StatusUnauthorized, status, ans)
	require.Equal(t, "the delivery could not be verified", ans["error"].(map[string]any)["message"], "a foreign shop is answered like a bad signature")

	require.Len(t, f.events(t), 1, "only the genuine delivery is stored")
	items := f.content(t)
	require.Len(t, items, 1)
	require.False(t, items[0].Deleted, "the replay deleted nothing")
}
