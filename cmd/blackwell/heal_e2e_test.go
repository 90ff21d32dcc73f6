package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/poll"
	"github.com/blackwellio/blackwell/internal/sim"
	"github.com/blackwellio/blackwell/internal/store"
)

// The end-to-end healing tests: a server on the sim world of one stack
// with auto-heal enabled, a fault injected at a fake, and the heal read
// back through GET /v1/heals, GET /v1/approvals and the fakes themselves.

// healPolicy enables auto-heal of every drift code with short backoff;
// extra is more YAML under auto_heal.
func healPolicy(extra string) string {
	return `---
apiVersion: blackwell.io/v1
kind: ReconciliationPolicy
metadata: {client_id: acme}
spec:
  schedule: {interval: 1s}
  confirmation: {observations: 1}
  content: {max_staleness: 1s}
  auto_heal:
    enabled: true
    max_attempts: 3
    backoff_strategy: linear
    backoff_base: 200ms
    allowed_drift_types: [provider_missing, provider_changed, webhook_broken, integration_mismatch, resource_unhealthy, resource_missing, content_stale, config_pending]
    require_approval: [cms_provider_change, data_deletion, resource_replacement]
` + extra
}

// fastHeals polls for heal attempts often.
func fastHeals(o *serverOptions) { o.heal.Poll = 20 * time.Millisecond }

type healList struct {
	Items []struct {
		ID         string `json:"id"`
		Code       string `json:"code"`
		Component  string `json:"component"`
		Provider   string `json:"provider"`
		Action     string `json:"heal_action"`
		Attempt    int    `json:"attempt"`
		Status     string `json:"status"`
		ApprovalID string `json:"approval_id"`
		Error      string `json:"error_message"`
	} `json:"items"`
	Breakers map[string]string `json:"breakers"`
}

func (w *worldE2E) heals(t *testing.T) healList {
	t.Helper()
	var hl healList
	require.Equal(t, http.StatusOK, w.getJSON(t, "/v1/heals?client_id=acme", &hl))
	return hl
}

// waitHeal waits for an attempt of code in status and returns the list.
func (w *worldE2E) waitHeal(t *testing.T, code, status string) healList {
	t.Helper()
	var hl healList
	poll.Until(t, time.Minute, "a "+status+" heal of "+code, func() bool {
		hl = w.heals(t)
		for _, a := range hl.Items {
			if a.Code == code && a.Status == status {
				return true
			}
		}
		return false
	})
	return hl
}

func (w *worldE2E) metrics(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(w.base + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

func (w *worldE2E) post(t *testing.T, path, body string) (int, string) {
	t.Helper()
	resp, err := bearerClient(w.token).Post(w.base+path, "application/json", bytes.NewBufferString(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestE2EHealRecreatesADeletedShopifyWebhook(t *testing.T) {
	t.Parallel()
	w := startWorldWith(t, sim.CMSSanity, healPolicy(""), fastHeals)
	require.True(t, w.world.Shop.DeleteWebhook(w.shopIDs["products/update"]))

	hl := w.waitHeal(t, "webhook_broken", "succeeded")
	for _, a := range hl.Items {
		require.Equal(t, "recreate_subscription", a.Action)
		require.Equal(t, "shopify", a.Provider)
	}
	w.waitStatus(t, "healthy")
	topics := map[string]int{}
	for _, h := range w.world.Shop.Webhooks() {
		topics[h.Topic]++
	}
	require.Equal(t, 1, topics["products/update"], "the deleted webhook is back, once")
	require.Contains(t, w.metrics(t), `blackwell_auto_heal_success_total{code="webhook_broken",provider="shopify",type="integration"} 1`)
}

func TestE2EHealRebuildsAFailingSite(t *testing.T) {
	t.Parallel()
	w := startWorldWith(t, sim.CMSSanity, healPolicy(""), fastHeals)
	require.NoError(t, w.world.Site.SetMode(sim.ModeFailing))

	w.waitHeal(t, "resource_unhealthy", "succeeded")
	w.waitStatus(t, "healthy")
	require.NotEmpty(t, w.world.Build.Builds(), "the heal ran a build")
	require.Equal(t, sim.ModeHealthy, w.world.Site.Mode())
}

func TestE2EHealOfAProviderChangeWaitsForApproval(t *testing.T) {
	t.Parallel()
	w := startWorldWith(t, sim.CMSSanity, healPolicy(""), fastHeals)
	// The stack binds sanity; content starts arriving from contentful.
	w.insertEvent(t, store.Event{ProviderName: "contentful", EventType: "content.updated", ContentID: "e1", ContentType: "post"})
	w.waitDrift(t, "provider_changed", "cms")

	type approvals struct {
		Items []struct {
			ID, Status, Class string
			HealID            string `json:"heal_id"`
		} `json:"items"`
	}
	var pending approvals
	poll.Until(t, time.Minute, "an approval request", func() bool {
		w.getJSON(t, "/v1/approvals?status=pending", &pending)
		return len(pending.Items) == 1
	})
	require.Empty(t, w.heals(t).Items, "nothing heals before a person approves")
	// Passes go on; still exactly one request, still no heal.
	w.waitPasses(t, "acme", "web", time.Now(), 2)
	w.getJSON(t, "/v1/approvals?status=pending", &pending)
	require.Len(t, pending.Items, 1)
	require.Empty(t, w.heals(t).Items)

	id := pending.Items[0].ID
	code, body := w.post(t, "/v1/approvals/"+id+"/approve", `{"by":"alice","reason":"moving to contentful is planned"}`)
	require.Equal(t, http.StatusOK, code, body)
	poll.Until(t, time.Minute, "the approved heal", func() bool {
		for _, a := range w.heals(t).Items {
			if a.ApprovalID == id && a.Status != "pending" && a.Status != "running" {
				return true
			}
		}
		return false
	})
	// Approving executes once: one attempt carries the approval, which is
	// now executed, and a second approval is refused.
	n := 0
	for _, a := range w.heals(t).Items {
		if a.ApprovalID == id {
			n++
		}
	}
	require.Equal(t, 1, n)
	var all approvals
	w.getJSON(t, "/v1/approvals?status=all", &all)
	w.getJSON(t, "/v1/approvals", &all)
	found := false
	for _, a := range all.Items {
		if a.ID == id {
			found = true
			require.Equal(t, "executed", a.Status)
			require.NotEmpty(t, a.HealID)
		}
	}
	require.True(t, found)
	code, _ = w.post(t, "/v1/approvals/"+id+"/approve", `{}`)
	require.Equal(t, http.StatusConflict, code)
}

func TestE2EProviderOutageOpensTheHealBreaker(t *testing.T) {
	t.Parallel()
	unlimited := strings.Replace(healPolicy(""), "max_attempts: 3", "max_attempts: 0", 1)
	w := startWorldWith(t, sim.CMSSanity, unlimited, func(o *serverOptions) {
		fastHeals(o)
		o.heal.BreakerMinRequests = 2
		o.heal.BreakerOpenFor = time.Hour
	})
	// max_attempts 0 is unlimited: only the breaker stops the heals. The
	// build service is down, so every rebuild of the failing site fails.
	// (A provider whose API is down cannot be the example: what Blackwell
	// cannot observe is not drift, and a revoked token is
	// provider_unauthorized, which is never healed.)
	w.world.Build.FailServer(-1)
	require.NoError(t, w.world.Site.SetMode(sim.ModeDown))
	poll.Until(t, time.Minute, "the nextjs heal breaker opens", func() bool {
		return w.heals(t).Breakers["nextjs"] == "open"
	})
	before := len(w.heals(t).Items)
	require.Contains(t, w.metrics(t), `blackwell_auto_heal_breaker_open{scope="nextjs"} 1`)
	w.waitPasses(t, "acme", "web", time.Now(), 2) // passes go on
	after := w.heals(t)
	require.LessOrEqual(t, len(after.Items), before+1, "no heal storm while the breaker is open")
	for _, a := range after.Items {
		require.NotEqual(t, "succeeded", a.Status)
	}
}

func TestE2EDryRunChangesNothingAtTheProvider(t *testing.T) {
	t.Parallel()
	w := startWorldWith(t, sim.CMSSanity, healPolicy("    mode: dry_run\n"), fastHeals)
	require.True(t, w.world.Shop.DeleteWebhook(w.shopIDs["products/update"]))
	w.waitHeal(t, "webhook_broken", "dry_run")
	w.waitPasses(t, "acme", "web", time.Now(), 2) // more passes
	hl := w.heals(t)
	require.Len(t, hl.Items, 1, "a dry run is recorded once per drift")
	for _, h := range w.world.Shop.Webhooks() {
		require.NotEqual(t, "products/update", h.Topic, "nothing was created at the provider")
	}
	var ds driftStatus
	w.getJSON(t, "/v1/clients/acme/drift", &ds)
	require.True(t, ds.HasDrift)
	require.True(t, strings.Contains(fmt.Sprint(ds.DriftDetails), "webhook_broken"))
}

func TestE2EHealUpdatesAChangedSubscription(t *testing.T) {
	t.Parallel()
	t.Run("contentful: topics", func(t *testing.T) {
		t.Parallel()
		w := startWorldWith(t, sim.CMSContentful, healPolicy(""), fastHeals)
		hooks := w.world.Contentful.Webhooks()
		require.Len(t, hooks, 1)
		w.world.Contentful.SetWebhookTopics(hooks[0].ID, "Entry.delete", "Entry.publish", "Entry.unpublish", "Asset.publish")
		w.waitHeal(t, "integration_mismatch", "succeeded")
		w.waitStatus(t, "healthy")
		hooks = w.world.Contentful.Webhooks()
		require.Len(t, hooks, 1, "updated in place, not duplicated")
		require.ElementsMatch(t, sim.ContentfulTopics, hooks[0].Topics)
	})
	t.Run("sanity: filter", func(t *testing.T) {
		t.Parallel()
		w := startWorldWith(t, sim.CMSSanity, healPolicy(""), fastHeals)
		hooks := w.world.Sanity.Hooks()
		require.Len(t, hooks, 1)
		w.world.Sanity.SetHookFilter(hooks[0].ID, `_type == "post"`)
		w.waitHeal(t, "integration_mismatch", "succeeded")
		w.waitStatus(t, "healthy")
		hooks = w.world.Sanity.Hooks()
		require.Len(t, hooks, 1)
		require.Equal(t, sim.SanityFilter, hooks[0].Rule.Filter)
	})
}
