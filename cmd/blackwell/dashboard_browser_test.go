package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/poll"
	"github.com/blackwellio/blackwell/internal/sim"
	"github.com/blackwellio/blackwell/internal/store"
)

// The dashboard in a real browser (headless Chromium through chromedp),
// against a server on the sim world: the overview, a drift appearing live
// from the event stream, the stack page's composition graph, an approval
// through its button, and the token prompt once the server has tokens.

// dashboardPolicy heals nothing on its own but holds a CMS provider change
// for approval, so that an injected fault stays visible.
const dashboardPolicy = `---
apiVersion: blackwell.io/v1
kind: ReconciliationPolicy
metadata: {client_id: acme}
spec:
  schedule: {interval: 1s}
  confirmation: {observations: 1}
  auto_heal:
    enabled: true
    max_attempts: 3
    backoff_strategy: linear
    backoff_base: 200ms
    allowed_drift_types: [provider_changed]
    require_approval: [cms_provider_change]
`

// browser is a headless Chromium tab and the JavaScript errors it reported.
type browser struct {
	ctx    context.Context
	mu     sync.Mutex
	errors []string
}

// chromiumPath finds a Chromium; without one the browser tests skip, and
// fail under CI=true (.ci/run installs it).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no Chromium found (/usr/bin/chromium), and under CI=true the browser tests must run: apt-get install chromium")
	}
	t.Skip("no Chromium found (apt-get install -y --no-install-recommends chromium); under CI=true this fails instead")
	return ""
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("no-proxy-server", true),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	b := &browser{ctx: ctx}
	// The first Do starts the browser; its context has no timeout, which
	// would end the browser with it.
	start := time.Now()
	require.NoError(t, chromedp.Do(ctx))
	t.Logf("browser started in %s", time.Since(start).Round(time.Millisecond))

	// Uncaught exceptions and console.error calls of the page fail the
	// test (network errors, such as the 401s before a token, do not).
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleException || m.Type == chromedp.ConsoleError && len(m.Args) > 0 {
				b.mu.Lock()
				b.errors = append(b.errors, string(m.Type)+": "+m.Text)
				b.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		<-done
		b.mu.Lock()
		defer b.mu.Unlock()
		require.Empty(t, b.errors, "the page reported JavaScript errors")
	})
	return b
}

// do runs actions with a timeout.
func (b *browser) do(t *testing.T, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	require.NoError(t, chromedp.Do(ctx, actions...))
}

// eval evaluates a JavaScript expression.
func eval[T any](t *testing.T, b *browser, js string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	require.NoError(t, err, js)
	return v
}

// waitJS polls a JavaScript condition until it is true. An evaluation that
// fails while the page navigates or reloads ("Inspected target navigated
// or closed") is "not yet".
func (b *browser) waitJS(t *testing.T, within time.Duration, what, js string) time.Duration {
	t.Helper()
	start := time.Now()
	poll.Until(t, within, what, func() bool {
		ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
		defer cancel()
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("Boolean("+js+")"))
		return err == nil && ok
	})
	return time.Since(start)
}

// click finds and clicks the element of a CSS selector in one evaluation:
// the page re-renders its live lists, so a node that chromedp found may be
// replaced before its click lands.
func (b *browser) click(t *testing.T, selector string) {
	t.Helper()
	sel, err := json.Marshal(selector)
	require.NoError(t, err)
	b.waitJS(t, 10*time.Second, "clicked "+selector,
		`(() => { const e = document.querySelector(`+string(sel)+`); if (!e) return false; e.click(); return true })()`)
}

func TestDashboardInABrowser(t *testing.T) {
	t.Parallel()
	w := startWorldWith(t, sim.CMSSanity, dashboardPolicy, fastHeals)
	b := newBrowser(t)

	// The overview shows the stack, and the stream is live: the page
	// takes the bootstrap token from the URL the server prints, and drops
	// it from the address.
	b.do(t, chromedp.Navigate(w.srv.dashboardURL()))
	b.waitJS(t, 20*time.Second, "the stack on the overview",
		`document.querySelector('tr[data-stack="acme/web"]')?.dataset.status === "healthy"`)
	require.NotContains(t, eval[string](t, b, `location.href`), "token=", "the token left the address bar")
	b.waitJS(t, 10*time.Second, "the stream live", `document.querySelector("#stream-status").dataset.state === "live"`)
	title := eval[string](t, b, `document.title`)
	require.Equal(t, "Stacks · Blackwell", title)

	// A fault at the site: the drift appears on the overview without a
	// reload (the page polls only while the stream is down).
	require.NoError(t, w.world.Site.SetMode(sim.ModeDown))
	took := b.waitJS(t, 20*time.Second, "the drift on the overview",
		`Number(document.querySelector('tr[data-stack="acme/web"]')?.dataset.drifts) >= 1`)
	t.Logf("drift shown %s after the fault", took.Round(time.Millisecond))
	b.waitJS(t, 5*time.Second, "the drift in the live events", `document.querySelector("#events")?.textContent.includes("resource_unhealthy")`)

	// The stack page: the drift in its table and on its graph node.
	b.click(t, `a[href="#/stacks/acme/web"]`)
	b.waitJS(t, 10*time.Second, "the site node marked", `document.querySelector('#graph g.node[data-node="resource:site"]')?.dataset.severity === "high"`)
	b.waitJS(t, 5*time.Second, "the drift row", `document.querySelector('#drifts tr[data-code="resource_unhealthy"][data-component="site"]')`)
	b.waitJS(t, 5*time.Second, "the drift's evidence",
		`document.querySelector('#drifts tr[data-code="resource_unhealthy"] td.evidence [data-confidence="confirmed"]')?.textContent.includes("observation")`)
	b.waitJS(t, 5*time.Second, "what was last known of the site", `document.querySelector('#last-known tr[data-observed="resource:site"]')`)
	b.waitJS(t, 5*time.Second, "the forecasts section", `document.querySelector("#forecasts-empty") || document.querySelector("#forecasts tr[data-forecast]")`)
	nodes := eval[map[string]string](t, b, `Object.fromEntries([...document.querySelectorAll("#graph g.node")].map((g) => [g.dataset.node, g.dataset.severity]))`)
	require.Equal(t, map[string]string{
		"provider:cms": "none", "provider:ecommerce": "none", "provider:ssg": "none",
		"integration:cms-content": "none", "integration:shop-products": "none",
		"resource:site": "high", "content": "none",
	}, nodes)
	edges := eval[int](t, b, `document.querySelectorAll("#graph path.edge:not(.cause)").length`)
	require.Equal(t, 6, edges, "cms and shop feed their webhooks, which feed the build, which feeds the site and its content")

	// Content from another CMS: a provider change, held for approval; the
	// open stack page marks the cms node live.
	w.insertEvent(t, store.Event{ProviderName: "contentful", EventType: "content.updated", ContentID: "e1", ContentType: "post"})
	b.waitJS(t, 20*time.Second, "the cms node marked", `document.querySelector('#graph g.node[data-node="provider:cms"]')?.dataset.severity === "critical"`)
	var pending struct {
		Items []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"items"`
	}
	poll.Until(t, time.Minute, "an approval request", func() bool {
		w.getJSON(t, "/v1/approvals?status=pending", &pending)
		return len(pending.Items) == 1
	})
	id := pending.Items[0].ID
	b.waitJS(t, 10*time.Second, "the drift awaiting approval", `document.querySelector('#drifts tr[data-code="provider_changed"]')?.textContent.includes("awaiting approval")`)

	// Approve it through the button.
	b.do(t, chromedp.Click(chromedp.CSS(`a[data-nav="approvals"]`)))
	b.waitJS(t, 10*time.Second, "the approve button", `document.querySelector('button[data-approve="`+id+`"]')`)
	b.click(t, `button[data-approve="`+id+`"]`)
	poll.Until(t, time.Minute, "the approval decided", func() bool {
		var a struct {
			Items []struct {
				ID        string `json:"id"`
				Status    string `json:"status"`
				DecidedBy string `json:"decided_by"`
			} `json:"items"`
		}
		w.getJSON(t, "/v1/approvals?status=approved,executed", &a)
		return len(a.Items) == 1 && a.Items[0].ID == id && a.Items[0].DecidedBy == "dashboard"
	})
	b.waitJS(t, 10*time.Second, "the request among the decided", `!document.querySelector('button[data-approve="`+id+`"]') && document.querySelector('#decided tr[data-approval="`+id+`"]')`)

	// Once the server has a token, the page asks for one, and works with it.
	resp, err := bearerClient(w.token).Post(w.base+"/v1/tokens", "application/json", strings.NewReader(`{"name":"dashboard","role":"operator"}`))
	require.NoError(t, err)
	var created struct {
		Secret string `json:"secret"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&created))
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	b.do(t, chromedp.Navigate(w.base+"/"))
	b.waitJS(t, 10*time.Second, "the token prompt", `!document.querySelector("#login").hidden && document.querySelector("#main").hidden`)
	b.do(t,
		chromedp.SendKeys(chromedp.CSS("#token-input"), created.Secret),
		chromedp.Click(chromedp.CSS(`#login-form button[type="submit"]`)))
	b.waitJS(t, 10*time.Second, "the stacks with the token", `document.querySelector('tr[data-stack="acme/web"]')`)
	b.waitJS(t, 10*time.Second, "the stream live with the token", `document.querySelector("#stream-status").dataset.state === "live"`)
	type location struct {
		URL    string `json:"url"`
		Stored bool   `json:"stored"`
	}
	where := eval[location](t, b, `({url: location.href, stored: sessionStorage.getItem("blackwell.token") === `+strconv.Quote(created.Secret)+`})`)
	require.True(t, where.Stored, "the token is kept in sessionStorage")
	require.NotContains(t, where.URL, created.Secret, "the token is never in a URL")
}

// Rejecting asks for a reason in a dialog and records it.
func TestDashboardRejectsWithAReason(t *testing.T) {
	t.Parallel()
	w := startWorldWith(t, sim.CMSSanity, dashboardPolicy, fastHeals)
	w.insertEvent(t, store.Event{ProviderName: "contentful", EventType: "content.updated", ContentID: "e1", ContentType: "post"})
	var pending struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	poll.Until(t, time.Minute, "an approval request", func() bool {
		w.getJSON(t, "/v1/approvals?status=pending", &pending)
		return len(pending.Items) == 1
	})
	id := pending.Items[0].ID
	b := newBrowser(t)
	// The bootstrap token comes in the URL's fragment and is kept for the
	// session; then the approvals view.
	b.do(t, chromedp.Navigate(w.srv.dashboardURL()))
	b.waitJS(t, 10*time.Second, "the stacks", `document.querySelector('tr[data-stack="acme/web"]')`)
	b.do(t, chromedp.Navigate(w.base+"/#/approvals"))
	b.waitJS(t, 10*time.Second, "the reject button", `document.querySelector('button[data-reject="`+id+`"]')`)
	b.click(t, `button[data-reject="`+id+`"]`)
	b.waitJS(t, 5*time.Second, "the dialog", `document.querySelector("#reject-dialog").open && document.activeElement.id === "reject-reason"`)

	// Without a reason nothing is sent.
	b.do(t, chromedp.Click(chromedp.CSS("#reject-confirm")))
	require.True(t, eval[bool](t, b, `document.querySelector("#reject-dialog").open`))
	w.getJSON(t, "/v1/approvals?status=pending", &pending)
	require.Len(t, pending.Items, 1)

	b.do(t,
		chromedp.SendKeys(chromedp.CSS("#reject-reason"), "not during the sale"),
		chromedp.Click(chromedp.CSS("#reject-confirm")))
	b.waitJS(t, 10*time.Second, "the dialog closed and the request decided",
		`!document.querySelector("#reject-dialog").open && document.querySelector('#decided tr[data-approval="`+id+`"]')?.textContent.includes("not during the sale")`)
	var rejected struct {
		Items []struct {
			ID        string `json:"id"`
			Reason    string `json:"reason"`
			DecidedBy string `json:"decided_by"`
		} `json:"items"`
	}
	w.getJSON(t, "/v1/approvals?status=rejected", &rejected)
	require.Len(t, rejected.Items, 1)
	require.Equal(t, id, rejected.Items[0].ID)
	require.Equal(t, "not during the sale", rejected.Items[0].Reason)
	require.Equal(t, "dashboard", rejected.Items[0].DecidedBy)
}

// The graph's pure construction, evaluated in the page: cause edges come
// from drift.cause; a drift on an undeclared component adds its node.
func TestDashboardGraphModel(t *testing.T) {
	t.Parallel()
	e := startE2E(t, e2eConfig("http://127.0.0.1:9", ""))
	b := newBrowser(t)
	b.do(t, chromedp.Navigate(e.base+"/"))
	b.waitJS(t, 10*time.Second, "the script loaded", `window.blackwellDashboard`)

	desired := `{"providers": {"cms": {"name": "sanity"}, "ecommerce": {"name": "shopify"}, "ssg": {"name": "nextjs"}},
		"integrations": {"shop-products": {"provider": "ecommerce"}, "cms-content": {"provider": "cms"}},
		"resources": {"site": {"probe": "http"}}, "content_types": ["product"]}`
	cases := []struct {
		name   string
		drifts string
		nodes  map[string]string // node -> severity ("" none)
		causes []string          // "from>to"
	}{
		{
			name:   "no drift",
			drifts: `[]`,
			nodes: map[string]string{"provider:cms": "", "provider:ecommerce": "", "provider:ssg": "",
				"integration:cms-content": "", "integration:shop-products": "", "resource:site": "", "content": ""},
		},
		{
			name: "a failed build explains a stale site and stale content",
			drifts: `[{"code": "resource_unhealthy", "type": "resource", "component": "site", "severity": "high", "cause": "ssg"},
				{"code": "content_stale", "type": "content", "component": "product", "severity": "medium", "cause": "ssg"}]`,
			nodes: map[string]string{"provider:cms": "", "provider:ecommerce": "", "provider:ssg": "",
				"integration:cms-content": "", "integration:shop-products": "", "resource:site": "high", "content": "medium"},
			causes: []string{"provider:ssg>resource:site", "provider:ssg>content"},
		},
		{
			name: "a broken shop webhook explains stale products; the worst severity wins",
			drifts: `[{"code": "webhook_broken", "type": "integration", "component": "shop-products", "severity": "high"},
				{"code": "integration_mismatch", "type": "integration", "component": "shop-products", "severity": "medium"},
				{"code": "content_stale", "type": "content", "component": "product", "severity": "medium", "cause": "shop-products"}]`,
			nodes: map[string]string{"provider:cms": "", "provider:ecommerce": "", "provider:ssg": "",
				"integration:cms-content": "", "integration:shop-products": "high", "resource:site": "", "content": "medium"},
			causes: []string{"integration:shop-products>content"},
		},
		{
			name:   "a drift on an undeclared resource adds its node; config drift has none",
			drifts: `[{"code": "resource_missing", "type": "resource", "component": "cdn", "severity": "high"}, {"code": "config_pending", "type": "configuration", "component": "desired_state", "severity": "low"}]`,
			nodes: map[string]string{"provider:cms": "", "provider:ecommerce": "", "provider:ssg": "",
				"integration:cms-content": "", "integration:shop-products": "", "resource:site": "", "content": "", "resource:cdn": "high"},
		},
		{
			name:   "a cause that names nothing drawn adds no edge",
			drifts: `[{"code": "resource_unhealthy", "type": "resource", "component": "site", "severity": "critical", "cause": "nowhere"}]`,
			nodes: map[string]string{"provider:cms": "", "provider:ecommerce": "", "provider:ssg": "",
				"integration:cms-content": "", "integration:shop-products": "", "resource:site": "critical", "content": ""},
		},
	}
	for _, c := range cases {
		type model struct {
			Nodes  map[string]string `json:"nodes"`
			Causes []string          `json:"causes"`
		}
		got := eval[model](t, b, `(() => {
			const g = window.blackwellDashboard.buildGraph(`+desired+`, `+c.drifts+`);
			return {nodes: Object.fromEntries(g.nodes.map((n) => [n.id, n.severity])), causes: g.causes.map((e) => e.from + ">" + e.to)};
		})()`)
		require.Equal(t, c.nodes, got.Nodes, c.name)
		if c.causes == nil {
			c.causes = []string{}
		}
		require.Equal(t, c.causes, got.Causes, c.name)
	}

	// Cause edges are drawn from the cause to the drifted node.
	drawn := eval[[]string](t, b, `(() => {
		const d = window.blackwellDashboard;
		const g = d.buildGraph(`+desired+`, `+cases[1].drifts+`);
		document.querySelector("#main").replaceChildren(d.renderGraph("test", g));
		return [...document.querySelectorAll("#graph path.edge.cause")].map((p) => p.dataset.from + ">" + p.dataset.to);
	})()`)
	require.Equal(t, cases[1].causes, drawn)

	// Server-sent events as the stream writes them.
	type sse struct {
		ID    string `json:"id"`
		Event string `json:"event"`
		Data  string `json:"data"`
		Retry int    `json:"retry"`
	}
	msg := eval[sse](t, b, `window.blackwellDashboard.parseSSE("id: 7\nevent: drift.detected\n: comment\ndata: {\"a\":1}\nretry: 2000")`)
	require.Equal(t, "7", msg.ID)
	require.Equal(t, "drift.detected", msg.Event)
	require.Equal(t, `{"a":1}`, msg.Data)
	require.Equal(t, 2000, msg.Retry)
}
