package ingest_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/api"
	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/ingest"
	"github.com/blackwellio/blackwell/internal/provider/contentful"
	"github.com/blackwellio/blackwell/internal/reconcile"
	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

// driftWorld is the server as serve wires it (store, state, reconcile
// loop, gateway, API) over a temp SQLite store, with clients client-000...
// each holding a blog whose CMS is Sanity and a news stack whose CMS is
// Contentful. A Contentful delivery to a client (no stack) is observed by
// both of its stacks: for the blog it is an event from an undeclared CMS,
// provider_changed.
type driftWorld struct {
	url    string
	store  store.Store
	loop   *reconcile.Reconciler
	passes chan store.ReconciliationResult
}

const cfSecret = "cfcfcfcfcfcfcfcfcfcfcfcfcfcfcfcfcfcfcfcfcfcfcfcfcfcfcfcfcfcfcfcf"

func newDriftWorld(tb testing.TB, clients int) *driftWorld {
	tb.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(tb.TempDir(), "blackwell.db"))
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = st.Close() })
	log := slog.New(slog.DiscardHandler)
	getenv := func(k string) (string, bool) {
		switch k {
		case "CF_SECRET":
			return cfSecret, true
		case "SANITY_SECRET":
			return "sanity-secret", true
		}
		return "", false
	}
	w := &driftWorld{store: st, passes: make(chan store.ReconciliationResult, 4096)}
	reg := prometheus.NewRegistry()
	var loop *reconcile.Reconciler
	gw := ingest.New(ingest.Options{
		Store: st, Getenv: getenv, Registerer: reg, Logger: log,
		Trigger: func(c, s string) { loop.Trigger(c, s, reconcile.TriggerEvent) },
	})
	svc := state.New(st, state.Options{Logger: log, OnChange: func(c, s string) { gw.Invalidate(c, s) }})
	loop = reconcile.New(reconcile.Options{
		Store: st, Policies: svc, Metrics: reconcile.NewMetrics(reg), Logger: log,
		OnPass: func(r store.ReconciliationResult) {
			select {
			case w.passes <- r:
			default:
			}
		},
	})
	w.loop = loop

	var b strings.Builder
	for i := range clients {
		fmt.Fprintf(&b, `apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: client-%03[1]d, stack_id: blog, environment: prod}
spec:
  providers:
    cms: {name: sanity, webhook_secret: "${SANITY_SECRET}"}
---
apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: client-%03[1]d, stack_id: news, environment: prod}
spec:
  providers:
    cms: {name: contentful, webhook_secret: "${CF_SECRET}"}
---
apiVersion: blackwell.io/v1
kind: ReconciliationPolicy
metadata: {client_id: client-%03[1]d}
spec:
  confirmation: {observations: 1}
---
`, i)
	}
	cfg, err := config.Parse("blackwell.yaml", []byte(b.String()), nil)
	require.NoError(tb, err)
	_, err = svc.Apply(ctx, cfg, "test")
	require.NoError(tb, err)
	require.NoError(tb, loop.Start(ctx))
	tb.Cleanup(func() { _ = loop.Stop(context.Background()) })
	// Let the start passes of every stack run.
	for range 2 * clients {
		select {
		case <-w.passes:
		case <-time.After(time.Minute):
			tb.Fatal("start passes did not finish")
		}
	}

	srv := httptest.NewServer(api.New(api.Options{Store: st, State: svc, Reconciler: loop, Logger: log, Webhooks: gw, Getenv: getenv, BootstrapToken: driftWorldToken}))
	tb.Cleanup(srv.Close)
	w.url = srv.URL
	return w
}

// publish delivers a signed Contentful Entry.publish to a client, as
// Contentful does.
func (w *driftWorld) publish(tb testing.TB, client *http.Client, clientID, key string) {
	tb.Helper()
	path := "/v1/webhooks/contentful/" + clientID
	body := []byte(`{"sys":{"id":"entry-` + key + `","type":"Entry","version":3,"updatedAt":"` + time.Now().UTC().Format(time.RFC3339Nano) + `",` +
		`"contentType":{"sys":{"id":"post"}},"space":{"sys":{"id":"sp"}},"environment":{"sys":{"id":"master"}}}}`)
	d := contentful.Delivery{Topic: "ContentManagement.Entry.publish", IdempotencyKey: key, SentAt: time.Now()}
	req, err := http.NewRequest(http.MethodPost, w.url+path, bytes.NewReader(body))
	require.NoError(tb, err)
	req.Header = d.Header(cfSecret, path, body)
	resp, err := client.Do(req)
	require.NoError(tb, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	require.Equal(tb, http.StatusOK, resp.StatusCode)
}

// untilDrift waits for the pass of clientID/blog that reports drift.
func (w *driftWorld) untilDrift(tb testing.TB, clientID string) {
	tb.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case r := <-w.passes:
			if r.ClientID == clientID && r.StackID == "blog" && r.DriftDetected {
				return
			}
		case <-deadline:
			tb.Fatalf("no drift reported for %s/blog", clientID)
		}
	}
}

// driftWorldToken is the bootstrap token of the drift world's API.
const driftWorldToken = "bwb_drift-world"

// TestUndeclaredProviderIsProviderChanged: a Contentful delivery to a
// client whose blog declares Sanity makes the blog's next pass report
// provider_changed, visible through the API within moments.
func TestUndeclaredProviderIsProviderChanged(t *testing.T) {
	t.Parallel()
	w := newDriftWorld(t, 1)
	start := time.Now()
	w.publish(t, http.DefaultClient, "client-000", "k1")

	require.Eventually(t, func() bool {
		ds, err := w.store.ListDrifts(context.Background(), store.DriftQuery{ClientID: "client-000", StackID: "blog"})
		return err == nil && len(ds) == 1 && ds[0].Code == drift.ProviderChanged && ds[0].Confirmed
	}, 10*time.Second, 5*time.Millisecond)
	elapsed := time.Since(start)

	req, err := http.NewRequest(http.MethodGet, w.url+"/v1/clients/client-000/drift", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+driftWorldToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(data), `"provider_changed"`)
	require.Contains(t, string(data), `"contentful"`, "the drift names the provider seen")
	require.Less(t, elapsed, 5*time.Second, "reported within seconds of the delivery (BenchmarkWebhookToDrift measures how fast)")

	ds, err := w.store.ListDrifts(context.Background(), store.DriftQuery{ClientID: "client-000", StackID: "news"})
	require.NoError(t, err)
	require.Empty(t, ds, "the stack that declares Contentful has no drift")
}

// BenchmarkWebhookToDrift measures the latency from sending a webhook to
// the committed pass that reports the drift it reveals: a signed
// Contentful delivery to a client whose blog declares Sanity, over HTTP on
// loopback, through verification, the durable commit, the paced trigger,
// the reconcile queue and a whole pass (observe, compare, confirm:
// provider_changed is an inference from events, so it is confirmed like any
// drift, here by a policy of one observation and no grace period; persist). One
// delivery at a time, each to a fresh client; p50 and p99 are reported.
//
//	go test -run '^$' -bench WebhookToDrift -benchtime 400x ./internal/ingest
func BenchmarkWebhookToDrift(b *testing.B) {
	w := newDriftWorld(b, b.N)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		clientID := fmt.Sprintf("client-%03d", i)
		start := time.Now()
		w.publish(b, client, clientID, fmt.Sprintf("k-%d", i))
		w.untilDrift(b, clientID)
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(q(1), "max-ms")
}
