package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/sim"
)

// The built-in dashboards (Reconciliation, Client health, System
// overview) in a real browser, on the sim world with auto-heal: a failing
// site drifts and is healed by a rebuild; each view is loaded at desktop
// and phone widths, shows what happened, is saved as a screenshot under
// the test's temp dir, and has no serious or critical axe-core finding.

// axeSource is the vendored axe-core (internal/web/testdata/axe).
func axeSource(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "internal", "web", "testdata", "axe", "axe.min.js"))
	require.NoError(t, err)
	return string(b)
}

// axeFinding is one violation axe-core reports.
type axeFinding struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// checkAccessibility runs axe-core on the page and fails on serious or
// critical violations.
func (b *browser) checkAccessibility(t *testing.T, axe, what string) {
	t.Helper()
	if !eval[bool](t, b, `typeof window.axe === "object"`) {
		_ = eval[bool](t, b, axe+"\n;true")
	}
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](`axe.run(document, {resultTypes: ["violations"]}).then((r) => JSON.stringify(
		r.violations.map((v) => ({id: v.id, impact: v.impact || "", help: v.help, nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" "))}))))`,
		chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	var found []axeFinding
	require.NoError(t, json.Unmarshal([]byte(out), &found))
	var bad []axeFinding
	for _, f := range found {
		if f.Impact == "serious" || f.Impact == "critical" {
			bad = append(bad, f)
		} else {
			t.Logf("axe (%s) %s: %s %s on %v", what, f.Impact, f.ID, f.Help, f.Nodes)
		}
	}
	require.Empty(t, bad, "serious or critical accessibility violations on %s", what)
}

// screenshot saves the whole page as dir/name.png.
func (b *browser) screenshot(t *testing.T, dir, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100 is PNG; below, JPEG
	require.NoError(t, err)
	path := filepath.Join(dir, name+".png")
	require.NoError(t, os.WriteFile(path, png, 0o644))
	t.Logf("screenshot %s (%d bytes)", path, len(png))
}

// dashboardOrganization gives the client's stack one rule it breaks (it
// notifies nobody) and one it keeps, for the client page's compliance
// panel.
const dashboardOrganization = `---
apiVersion: blackwell.io/v1
kind: OrganizationPolicy
metadata: {name: dashboard-suite}
spec:
  rules:
    - {name: notifies-someone, mode: audit, expression: "size(policy.notifications.channels) > 0", message: nobody is notified}
    - {name: has-resources, mode: audit, expression: "size(stack.resources) > 0"}
  exceptions:
    - {rule: has-resources, client_id: acme, stack_id: web, owner: ops, reason: the suite's exception, expires: "2099-01-01T00:00:00Z"}
`

func TestDashboardsInABrowser(t *testing.T) {
	t.Parallel()
	w := startWorldWith(t, sim.CMSSanity, healPolicy(dashboardOrganization), fastHeals)
	b := newBrowser(t)
	axe := axeSource(t)
	// Screenshots go to the test's temp dir, or to BLACKWELL_SCREENSHOTS
	// when set (to keep them, as CI artifacts or to look at).
	shots := t.TempDir()
	if dir := os.Getenv("BLACKWELL_SCREENSHOTS"); dir != "" {
		require.NoError(t, os.MkdirAll(dir, 0o755))
		shots = dir
	}

	// Client health before any fault: the stack, no drift yet; the
	// charts without data say so.
	b.do(t, chromedp.Navigate(w.srv.dashboardURL()))
	b.waitJS(t, 20*time.Second, "the stream live", `document.querySelector("#stream-status").dataset.state === "live"`)
	b.do(t, chromedp.Navigate(w.base+"/#/clients/acme"))
	b.waitJS(t, 20*time.Second, "the client's stack", `document.querySelector('#client-stacks tr[data-stack="web"]')`)
	b.waitJS(t, 10*time.Second, "no drift yet", `document.querySelector("#recent-drifts-none") && document.querySelector("#client-detections [data-nodata]")`)
	require.Equal(t, "Health of acme · Blackwell", eval[string](t, b, `document.title`))
	b.waitJS(t, 10*time.Second, "the stream live", `document.querySelector("#stream-status").dataset.state === "live"`)

	// The site fails: the drift and then its heal appear on the open page,
	// live from the stream (no reload).
	require.NoError(t, w.world.Site.SetMode(sim.ModeFailing))
	took := b.waitJS(t, 30*time.Second, "the drift among the recent drift events",
		`document.querySelector('#recent-drifts tr[data-code="resource_unhealthy"]')`)
	t.Logf("drift shown %s after the fault", took.Round(time.Millisecond))
	w.waitHeal(t, "resource_unhealthy", "succeeded")
	w.waitStatus(t, "healthy")
	b.waitJS(t, 30*time.Second, "the heal in the heal history",
		`document.querySelector('#heal-history tr[data-status="succeeded"]')`)
	b.waitJS(t, 10*time.Second, "the detection on the chart",
		`document.querySelector('#client-detections rect[data-series="resource"]')`)
	b.waitJS(t, 10*time.Second, "the consistency chart drawn", `document.querySelector("#client-consistency svg.chart polyline, #client-consistency svg.chart circle")`)

	type view struct {
		name, hash, ready string
		checks            map[string]string // what -> JavaScript condition
	}
	views := []view{
		{"reconciliation", "#/dashboards/reconciliation", `document.querySelector('[data-tile="passes"]')`, map[string]string{
			"passes counted":            `Number(document.querySelector('[data-tile="passes"] dd').textContent) > 0`,
			"the detection by type":     `document.querySelector('#rec-detections rect[data-series="resource"]')`,
			"the heal success rate":     `document.querySelector('[data-tile="heal-rate"] dd').textContent.startsWith("100%")`,
			"a heal rate point":         `document.querySelector("#rec-heals svg.chart .mark")`,
			"pass durations":            `document.querySelector('#rec-durations g[data-series="p99"] .mark')`,
			"the chart legend in words": `document.querySelector("#rec-passes .chart-legend").textContent.includes("failed")`,
			"a text alternative":        `document.querySelector("#rec-passes svg desc").textContent.includes("passes: last")`,
			"the nav marks its view":    `document.querySelector('a[data-nav="reconciliation"]').getAttribute("aria-current") === "page"`,
		}},
		{"client-health", "#/clients/acme", `document.querySelector('#client-stacks tr[data-stack="web"]')`, map[string]string{
			"the drift event":            `document.querySelector('#recent-drifts tr[data-code="resource_unhealthy"]')`,
			"the heal":                   `document.querySelector('#heal-history tr[data-status="succeeded"]').textContent.includes("rebuild")`,
			"the stack healthy":          `document.querySelector('#client-stacks tr[data-stack="web"]').dataset.status === "healthy"`,
			"its resources":              `document.querySelector('#client-stacks tr[data-stack="web"]').textContent.includes("site")`,
			"no open drift":              `document.querySelector("#open-drifts-none")`,
			"the forecasts":              `document.querySelector("#forecasts-none") || document.querySelector("#forecasts tbody tr[data-forecast]")`,
			"the broken rule":            `document.querySelector('#noncompliant tr[data-rule="notifies-someone"][data-stack="web"]').textContent.includes("nobody is notified")`,
			"only the broken rule":       `document.querySelectorAll("#noncompliant tbody tr").length === 1 && !document.querySelector('#noncompliant tr[data-rule="has-resources"]')`,
			"a compliance score":         `/^\d+%$/.test(document.querySelector('[data-tile="compliance-score"] dd').textContent)`,
			"the score counts rule time": `document.querySelector('[data-tile="compliance-score"] dt').textContent.includes("rule time")`,
			"the KPI counts drift time":  `document.querySelector('#kpis tr[data-kpi="configuration_compliance"]').textContent.includes("drift-free time")`,
			"one compliant now":          `document.querySelector('[data-tile="compliant"] dd').textContent === "1"`,
			"the report link": `new URL(document.querySelector("#report-link").href).searchParams.get("format") === "html" &&
				new URL(document.querySelector("#report-link").href).searchParams.get("client_id") === "acme"`,
			"the exception":     `document.querySelector('#exceptions tr[data-rule="has-resources"][data-stack="web"][data-expired="false"]').textContent.includes("the suite's exception")`,
			"the report's KPIs": `document.querySelector('#kpis tr[data-kpi="auto_heal_success_rate"]')`,
		}},
		{"system", "#/dashboards/system", `document.querySelector("#health-score")`, map[string]string{
			"a health score":            `document.querySelector("#health-score").dataset.score !== ""`,
			"its parts":                 `document.querySelectorAll("#health-components tbody tr").length === 5`,
			"the alerts":                `document.querySelectorAll("#alerts tr[data-alert]").length === 7`,
			"the store answered":        `document.querySelector('[data-tile="store"] dd').textContent.startsWith("ping ")`,
			"goroutines":                `Number(document.querySelector('[data-tile="goroutines"] dd').textContent) > 0`,
			"queue depth from metrics":  `document.querySelector('[data-tile="queue"] dd').textContent !== "no data"`,
			"passes of the last 30 min": `document.querySelector("#sys-passes svg.chart")`,
		}},
	}
	sizes := []struct {
		name          string
		width, height int64
		mobile        bool
	}{{"desktop", 1280, 900, false}, {"phone", 390, 844, true}}
	for _, size := range sizes {
		opts := []chromedp.EmulateViewportOption{}
		if size.mobile {
			opts = append(opts, chromedp.EmulateMobile)
		}
		b.do(t, chromedp.EmulateViewport(size.width, size.height, opts...))
		for _, v := range views {
			b.do(t, chromedp.Navigate(w.base+"/"+v.hash))
			b.waitJS(t, 20*time.Second, v.name+" at "+size.name, v.ready)
			for what, js := range v.checks {
				b.waitJS(t, 10*time.Second, v.name+": "+what+" ("+size.name+")", js)
			}
			// Nothing wider than the window: the page reflows on a phone.
			overflow := eval[int](t, b, `document.documentElement.scrollWidth - document.documentElement.clientWidth`)
			require.LessOrEqual(t, overflow, 0, "%s scrolls sideways at %s: %s", v.name, size.name, eval[string](t, b, `[...document.querySelectorAll("body *")]
				.filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1).slice(0, 8)
				.map((e) => e.tagName + "#" + e.id + "." + e.className + " " + Math.round(e.getBoundingClientRect().right)).join(", ")`))
			b.screenshot(t, shots, v.name+"-"+size.name)
			b.checkAccessibility(t, axe, v.name+" at "+size.name)
		}
	}

	// The report link fetches the HTML report with the page's token.
	b.do(t, chromedp.Navigate(w.base+"/#/clients/acme"))
	b.waitJS(t, 20*time.Second, "the report link", `document.querySelector("#report-link")`)
	_ = eval[bool](t, b, `document.querySelector("#report-link").click(), true`)
	b.waitJS(t, 20*time.Second, "the report fetched", `document.querySelector("#report-status").textContent === "Report saved."`)
	// The stack (in prod) is application web, never promoted.
	b.do(t, chromedp.Navigate(w.base+"/#/stacks/acme/web"))
	b.waitJS(t, 20*time.Second, "the promotions panel", `document.querySelector("#promotions-empty").textContent === "No promotion of application web yet."`)

	// The page's weight: every byte the client-health view loads, from a
	// fresh load of the page (reload empties the resource timings). The
	// event stream stays open, so it is not among the finished entries.
	b.do(t, chromedp.Navigate(w.base+"/#/clients/acme"))
	_ = eval[bool](t, b, `location.reload(), true`)
	b.waitJS(t, 20*time.Second, "client health reloaded", `document.querySelector('#client-stacks tr[data-stack="web"]') && performance.getEntriesByType("resource").some((e) => e.name.includes("/v1/dashboard/clients/"))`)
	weight := eval[int](t, b, `performance.getEntriesByType("navigation").concat(performance.getEntriesByType("resource"))
		.reduce((n, e) => n + (e.transferSize || e.encodedBodySize || 0), 0)`)
	t.Logf("client-health page weight: %d bytes", weight)
	require.Less(t, weight, 300*1024)
	require.False(t, strings.Contains(eval[string](t, b, `location.href`), "token="))
}
