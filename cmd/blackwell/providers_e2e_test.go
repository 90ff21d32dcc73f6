package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/poll"
	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/sim"
	"github.com/blackwellio/blackwell/internal/store"
)

// The end-to-end drift tests: a server on the sim world of one stack, a
// fault injected at a fake, and the drift (code and severity) read through
// GET /v1/clients/{client}/drift.

const worldPolicy = `---
apiVersion: blackwell.io/v1
kind: ReconciliationPolicy
metadata: {client_id: acme}
spec:
  schedule: {interval: 1s}
  confirmation: {observations: 1}
  content: {max_staleness: 1s}
`

type worldE2E struct {
	*e2e
	world *sim.StackWorld
	env   map[string]string
	// shopIDs are the seeded Shopify webhooks by topic.
	shopIDs map[string]int64
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// startWorld starts the fakes of stack acme/web (with cms), seeds the
// subscriptions a working stack has, starts the server on them and waits
// for the stack to be healthy.
func startWorld(t *testing.T, cms string) *worldE2E {
	t.Helper()
	return startWorldWith(t, cms, worldPolicy, nil)
}

// startWorldWith is startWorld with a policy document of its own and a
// chance to change the server's options.
func startWorldWith(t *testing.T, cms, policy string, tune func(*serverOptions)) *worldE2E {
	t.Helper()
	w := startWorldAt(t, worldStart{cms: cms, policy: policy, tune: tune})
	w.waitStatus(t, "healthy")
	return w
}

// worldStart says how startWorldAt starts a world and its server.
type worldStart struct {
	cms, policy string
	tune        func(*serverOptions)
	// before runs after the fakes are seeded, before the server starts
	// (to break something at start-up).
	before func(*sim.StackWorld)
	// config rewrites the config text the server reads.
	config func(string) string
}

// startWorldAt starts the fakes and the server, and returns at once.
func startWorldAt(t *testing.T, o worldStart) *worldE2E {
	t.Helper()
	cms, policy, tune := o.cms, o.policy, o.tune
	world, err := sim.NewStackWorld(sim.WorldStack{ClientID: "acme", StackID: "web", CMS: cms})
	require.NoError(t, err)
	t.Cleanup(world.Close)
	addr := freeAddr(t)
	ids := world.Seed("http://" + addr + "/v1/webhooks")
	if o.before != nil {
		o.before(world)
	}

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "blackwell.yaml")
	text := world.StackConfig() + policy
	if o.config != nil {
		text = o.config(text)
	}
	require.NoError(t, os.WriteFile(cfgPath, []byte(text), 0o600))
	env := world.Env()
	opts := serverOptions{
		configPath: cfgPath, configRequired: true, listen: addr,
		storeURL: "sqlite://" + filepath.Join(dir, "blackwell.db"), logOut: io.Discard,
		getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
	}
	if tune != nil {
		tune(&opts)
	}
	srv, err := startServer(context.Background(), opts)
	require.NoError(t, err)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	return &worldE2E{e2e: &e2e{srv: srv, base: "http://" + srv.Addr(), cfgPath: cfgPath, token: srv.bootstrapToken}, world: world, env: env, shopIDs: ids}
}

// waitStatus waits until a pass left the stack in status want (a stack
// that no pass has seen yet does not count, whatever its status).
func (w *worldE2E) waitStatus(t *testing.T, want string) {
	t.Helper()
	poll.Until(t, time.Minute, "stack acme/web "+want, func() bool {
		var rec struct {
			Status       string     `json:"status"`
			LastVerified *time.Time `json:"last_verified"`
		}
		w.getJSON(t, "/v1/stacks/acme/web", &rec)
		return rec.Status == want && rec.LastVerified != nil
	})
}

// waitDrift waits for a drift of code on component and returns its
// severity.
func (w *worldE2E) waitDrift(t *testing.T, code, component string) string {
	t.Helper()
	severity := ""
	poll.Until(t, time.Minute, code+" on "+component, func() bool {
		var ds driftStatus
		w.getJSON(t, "/v1/clients/acme/drift", &ds)
		for _, d := range ds.DriftDetails {
			if d.Code == code && d.Component == component {
				severity = d.Severity
				return true
			}
		}
		return false
	})
	return severity
}

func (w *worldE2E) insertEvent(t *testing.T, ev store.Event) {
	t.Helper()
	now := time.Now()
	ev.EventID, ev.ClientID, ev.StackID = uuid.NewString(), "acme", "web"
	if ev.Timestamp.IsZero() {
		ev.Timestamp = now
	}
	ev.ReceivedAt, ev.TTLTimestamp, ev.Payload = now, now.Add(time.Hour).Unix(), json.RawMessage(`{}`)
	_, err := w.srv.store.InsertEvents(context.Background(), []store.Event{ev})
	require.NoError(t, err)
}

func TestE2EDeletedShopifyWebhookIsWebhookBroken(t *testing.T) {
	t.Parallel()
	w := startWorld(t, sim.CMSSanity)
	require.True(t, w.world.Shop.DeleteWebhook(w.shopIDs["products/update"]))
	require.Equal(t, "high", w.waitDrift(t, "webhook_broken", "shop-products"))

	// The fake re-creating it clears the drift.
	w.world.Shop.AddWebhook("products/update", w.world.Receiver("http://"+w.srv.Addr()+"/v1/webhooks", "shopify"))
	w.waitStatus(t, "healthy")
}

func TestE2EChangedSubscriptionsAreIntegrationMismatch(t *testing.T) {
	t.Parallel()
	t.Run("shopify: an undeclared topic at our receiver", func(t *testing.T) {
		t.Parallel()
		w := startWorld(t, sim.CMSSanity)
		w.world.Shop.AddWebhook("orders/create", w.world.Receiver("http://"+w.srv.Addr()+"/v1/webhooks", "shopify"))
		require.Equal(t, "medium", w.waitDrift(t, "integration_mismatch", "shop-products"))
	})
	t.Run("contentful: topics changed", func(t *testing.T) {
		t.Parallel()
		w := startWorld(t, sim.CMSContentful)
		hooks := w.world.Contentful.Webhooks()
		require.Len(t, hooks, 1)
		w.world.Contentful.SetWebhookTopics(hooks[0].ID, "Entry.delete", "Entry.publish", "Entry.unpublish", "Asset.publish")
		require.Equal(t, "medium", w.waitDrift(t, "integration_mismatch", "cms-entries"))
	})
	t.Run("sanity: filter changed", func(t *testing.T) {
		t.Parallel()
		w := startWorld(t, sim.CMSSanity)
		hooks := w.world.Sanity.Hooks()
		require.Len(t, hooks, 1)
		w.world.Sanity.SetHookFilter(hooks[0].ID, `_type == "post"`)
		require.Equal(t, "medium", w.waitDrift(t, "integration_mismatch", "cms-content"))
	})
}

// TestE2ERevokedTokenIsProviderUnauthorized: rejected credentials are
// provider_unauthorized (high), never provider_missing.
func TestE2ERevokedTokenIsProviderUnauthorized(t *testing.T) {
	t.Parallel()
	w := startWorld(t, sim.CMSSanity)
	w.world.Shop.RevokeToken()
	require.Equal(t, "high", w.waitDrift(t, "provider_unauthorized", "ecommerce"))
	var ds driftStatus
	w.getJSON(t, "/v1/clients/acme/drift?all=true", &ds)
	for _, d := range ds.DriftDetails {
		require.NotEqual(t, "provider_missing", d.Code)
	}
	w.world.Shop.RestoreToken()
	w.waitStatus(t, "healthy")
}

func TestE2EEventsFromAnUndeclaredProviderAreProviderChanged(t *testing.T) {
	t.Parallel()
	w := startWorld(t, sim.CMSSanity)
	// The stack binds sanity; content starts arriving from contentful.
	w.insertEvent(t, store.Event{ProviderName: "contentful", EventType: "content.updated", ContentID: "e1", ContentType: "post"})
	require.Equal(t, "critical", w.waitDrift(t, "provider_changed", "cms"))
}

func TestE2ESiteFaultsAreResourceDrift(t *testing.T) {
	t.Parallel()
	w := startWorld(t, sim.CMSSanity)
	require.NoError(t, w.world.Site.SetMode(sim.ModeDown))
	require.Equal(t, "high", w.waitDrift(t, "resource_unhealthy", "site"))
	require.NoError(t, w.world.Site.SetMode(sim.ModeMissing))
	require.Equal(t, "high", w.waitDrift(t, "resource_missing", "site"))
	require.NoError(t, w.world.Site.SetMode(sim.ModeHealthy))
	w.waitStatus(t, "healthy")
}

func TestE2EContentPublishedWithoutARebuildIsContentStale(t *testing.T) {
	t.Parallel()
	w := startWorld(t, sim.CMSSanity)
	builder := newBuilder(w.srv.store, nil, nil, false, func(c, s string) {}, nil)
	ssg := provider.Binding{ClientID: "acme", StackID: "web", Role: config.RoleSSG, Name: "nextjs",
		Build: &config.Build{Driver: "hook", URL: config.NewSecret(w.world.Build.URL())}}
	res, err := builder.Trigger(context.Background(), ssg)
	require.NoError(t, err)
	require.Equal(t, "succeeded", string(res.Status))
	require.Len(t, w.world.Build.Builds(), 1)

	w.insertEvent(t, store.Event{ProviderName: "sanity", EventType: "content.updated", ContentID: "post-1", ContentType: "post"})
	require.Equal(t, "medium", w.waitDrift(t, "content_stale", "post"))

	// A rebuild after the change clears it.
	_, err = builder.Trigger(context.Background(), ssg)
	require.NoError(t, err)
	w.waitStatus(t, "healthy")
}

func TestE2EADesiredVersionThatDoesNotConvergeIsConfigPending(t *testing.T) {
	t.Parallel()
	w := startWorld(t, sim.CMSSanity)
	// The new version declares an integration that no fake holds.
	cfg := w.world.StackConfig("shop-orders: {provider: ecommerce, topics: [orders/create]}") + worldPolicy
	require.NoError(t, os.WriteFile(w.cfgPath, []byte(cfg), 0o600))
	require.NoError(t, w.srv.Reload(context.Background()))
	require.Equal(t, "high", w.waitDrift(t, "webhook_broken", "shop-orders"))
	require.Equal(t, "low", w.waitDrift(t, "config_pending", "desired_state"))
}
