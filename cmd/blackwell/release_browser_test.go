package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/poll"
	"github.com/blackwellio/blackwell/internal/sim"
)

// The stack page's release panel in a real browser, on the sim world with
// two applications beside the world's stack: shop (dev and staging, no
// soak) is promoted dev -> staging from the dashboard after its plan is
// shown, then staging is rolled back with a hold and unpinned; news (dev
// soaks an hour) is refused with the remaining time. A viewer token is
// offered no controls, and a confirmation sent with one is refused with
// the API's reason. Every result is checked through the API, and axe-core
// finds nothing serious or critical.

// releaseStacks are the applications the test promotes: shop's dev adds a
// resource that staging lacks (the plan's diff); both probe the world's
// site, so both verify healthy.
func releaseStacks(site string) string {
	stack := func(id, env, resources string) string {
		return fmt.Sprintf("---\napiVersion: blackwell.io/v1\nkind: Stack\nmetadata: {client_id: acme, stack_id: %s, environment: %s}\nspec:\n  resources:\n%s", id, env, resources)
	}
	one := fmt.Sprintf("    site: {probe: http, url: %q, expect_status: 200, timeout: 2s}\n", site)
	two := one + fmt.Sprintf("    status: {probe: http, url: %q, expect_status: 200, timeout: 2s}\n", site)
	return stack("shop-dev", "dev", two) + stack("shop-staging", "staging", one) + stack("shop-prod", "prod", one) +
		stack("news-dev", "dev", two) + stack("news-staging", "staging", one) + `---
apiVersion: blackwell.io/v1
kind: Pipeline
metadata: {client_id: acme, app: news}
spec:
  stages:
    - {environment: dev, soak: 1h}
    - {environment: staging}
`
}

// releaseStack is what the test reads of a stack through the API.
type releaseStack struct {
	Status       string     `json:"status"`
	StateVersion string     `json:"state_version"`
	LastVerified *time.Time `json:"last_verified"`
	Desired      struct {
		Resources map[string]json.RawMessage `json:"resources"`
	} `json:"desired"`
	Hold *struct {
		Version  string    `json:"version"`
		Restored string    `json:"restored"`
		Until    time.Time `json:"until"`
		By       string    `json:"by"`
	} `json:"hold"`
}

func TestPromoteAndRollBackInABrowser(t *testing.T) {
	t.Parallel()
	// The world's stack probes its site; the applications probe it too.
	w := startWorldAt(t, worldStart{cms: sim.CMSSanity, policy: healPolicy(""), tune: fastHeals,
		config: func(text string) string {
			m := regexp.MustCompile(`site: \{probe: http, url: "([^"]+)"`).FindStringSubmatch(text)
			require.NotNil(t, m, "the world's site in its config")
			return text + releaseStacks(m[1])
		}})
	b := newBrowser(t)
	axe := axeSource(t)

	stack := func(id string) releaseStack {
		var r releaseStack
		require.Equal(t, http.StatusOK, w.getJSON(t, "/v1/stacks/acme/"+id, &r))
		return r
	}
	// The sources verify healthy (staging, lagging behind dev, has
	// environment_divergence until it is promoted).
	for _, id := range []string{"shop-dev", "news-dev"} {
		poll.Until(t, time.Minute, id+" verified healthy", func() bool {
			r := stack(id)
			return r.Status == "healthy" && r.LastVerified != nil
		})
	}

	// Tokens: an admin for the test's own reads (the bootstrap token stops
	// working with the first), an operator and a viewer for the page.
	newToken := func(name, role string) string {
		status, body := w.post(t, "/v1/tokens", `{"name": "`+name+`", "role": "`+role+`"}`)
		require.Equal(t, http.StatusCreated, status, body)
		var c struct {
			Secret string `json:"secret"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &c))
		return c.Secret
	}
	w.token = newToken("suite", "admin")
	operator, viewer := newToken("release-operator", "operator"), newToken("release-viewer", "viewer")
	login := func(secret string) {
		b.waitJS(t, 10*time.Second, "the token prompt", `!document.querySelector("#login").hidden`)
		b.do(t, chromedp.SendKeys(chromedp.CSS("#token-input"), secret), chromedp.Click(chromedp.CSS(`#login-form button[type="submit"]`)))
	}
	setToken := func(secret string) {
		_ = eval[bool](t, b, `sessionStorage.setItem("blackwell.token", `+strconv.Quote(secret)+`), true`)
	}
	// say waits until the panel's result says has.
	say := func(what, has string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			got := eval[string](t, b, `document.querySelector("#release-result")?.textContent || ""`)
			if strings.Contains(got, has) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the panel says %q, not %q", what, got, has)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// A viewer sees the panel's facts and no control.
	b.do(t, chromedp.Navigate(w.base+"/#/stacks/acme/shop-dev"))
	login(viewer)
	b.waitJS(t, 20*time.Second, "the panel, read only", `document.querySelector("#release-readonly")?.textContent.includes("viewer")`)
	require.True(t, eval[bool](t, b, `!document.querySelector("#promote-form, #rollback-form, #unpin, #release button")`), "a viewer is offered a control")
	require.Equal(t, "false", eval[string](t, b, `document.querySelector("#hold").dataset.pinned`))
	b.checkAccessibility(t, axe, "the release panel of a viewer")

	// An operator: the plan first, nothing written.
	b.click(t, "#forget-token")
	login(operator)
	b.waitJS(t, 20*time.Second, "the promote form", `document.querySelector('#release[data-stack="acme/shop-dev"] #promote-to')?.value === "staging"`)
	b.click(t, "#promote-plan")
	b.waitJS(t, 20*time.Second, "the plan's diff", `[...document.querySelectorAll("#promote-changes tbody tr")].some((r) => r.dataset.op === "+" && r.dataset.path.includes("status") && r.textContent.includes("added"))`)
	require.Equal(t, "false", eval[string](t, b, `document.querySelector("#promote-approval").dataset.needsApproval`))
	require.Equal(t, "promote-confirm", eval[string](t, b, `document.activeElement.id`), "the confirmation takes the focus")
	b.checkAccessibility(t, axe, "the promotion plan")
	var promos struct {
		Items []struct {
			ID, Status, From, To, NewVersion, RequestedBy string
		} `json:"items"`
	}
	w.getJSON(t, "/v1/clients/acme/apps/shop/promotions", &promos)
	require.Empty(t, promos.Items, "a plan records nothing")

	// Confirmed with a viewer's token (the page still offers the button):
	// the API refuses, and the page says why.
	setToken(viewer)
	b.click(t, "#promote-confirm")
	say("the refusal", "refused (403 forbidden)")
	require.True(t, eval[bool](t, b, `document.querySelector("#release-result").classList.contains("error")`))
	w.getJSON(t, "/v1/clients/acme/apps/shop/promotions", &promos)
	require.Empty(t, promos.Items, "a refused promotion records nothing")

	// Confirmed with the operator's: promoted, applied and verified.
	setToken(operator)
	before := stack("shop-staging").StateVersion
	b.click(t, "#promote-confirm")
	say("the promotion started", "started")
	poll.Until(t, 90*time.Second, "the promotion verified", func() bool {
		w.getJSON(t, "/v1/clients/acme/apps/shop/promotions", &promos)
		return len(promos.Items) == 1 && promos.Items[0].Status == "succeeded"
	})
	staging := stack("shop-staging")
	require.NotEqual(t, before, staging.StateVersion)
	require.Contains(t, staging.Desired.Resources, "status", "staging has dev's composition")
	b.waitJS(t, 20*time.Second, "the promotion listed", `document.querySelector('#promotions tr[data-status="succeeded"]')`)

	// staging to prod needs approval (prod's default): the promotion
	// waits, and the page says so with a link to the approvals page.
	b.do(t, chromedp.Navigate(w.base+"/#/stacks/acme/shop-staging"))
	b.waitJS(t, 20*time.Second, "staging's promote form", `document.querySelector('#release[data-stack="acme/shop-staging"] #promote-to')?.value === "prod"`)
	b.click(t, "#promote-plan")
	b.waitJS(t, 20*time.Second, "the plan to prod", `document.querySelector("#promote-approval")?.dataset.needsApproval === "true"`)
	b.click(t, "#promote-confirm")
	say("the promotion awaiting approval", "awaits approval")
	poll.Until(t, 30*time.Second, "the promotion to prod recorded", func() bool {
		w.getJSON(t, "/v1/clients/acme/apps/shop/promotions", &promos)
		return len(promos.Items) == 2 && promos.Items[0].To == "prod" && promos.Items[0].Status == "awaiting_approval"
	})
	b.waitJS(t, 20*time.Second, "the pending approval named", `!document.querySelector("#promotion-awaiting").hidden && document.querySelector('#promotion-awaiting a[href="#/approvals"]')`)

	// news has not soaked: the refusal says how long remains.
	b.do(t, chromedp.Navigate(w.base+"/#/stacks/acme/news-dev"))
	b.waitJS(t, 20*time.Second, "news's promote form", `document.querySelector('#release[data-stack="acme/news-dev"] #promote-to')?.value === "staging"`)
	b.click(t, "#promote-plan")
	say("the soak refusal", "409 soaking")
	require.Regexp(t, `remaining.*Try again in \d+ min`, eval[string](t, b, `document.querySelector("#release-result").textContent`))

	// staging rolled back to its first version, held for 2h.
	b.do(t, chromedp.Navigate(w.base+"/#/stacks/acme/shop-staging"))
	b.waitJS(t, 20*time.Second, "the rollback targets", `document.querySelector('#release[data-stack="acme/shop-staging"] #rollback-to option[value="version:`+before+`"]')`)
	// Chosen and typed in one evaluation: the live re-renders of the page
	// move the panel's nodes, which a chromedp node id does not survive.
	_ = eval[bool](t, b, `(() => {
		const s = document.querySelector("#rollback-to"); s.value = "version:`+before+`"; s.dispatchEvent(new Event("change"));
		const h = document.querySelector("#rollback-hold"); h.value = "2h"; h.dispatchEvent(new Event("input"));
		return true })()`)
	b.click(t, "#rollback-review")
	b.waitJS(t, 10*time.Second, "the rollback to confirm", `!document.querySelector("#rollback-confirm-box").hidden && document.querySelector("#rollback-what").textContent.includes("for 2h")`)
	b.click(t, "#rollback-confirm")
	say("the rollback done", "Rolled back")
	staging = stack("shop-staging")
	require.NotNil(t, staging.Hold, "the stack is pinned")
	require.Equal(t, before, staging.Hold.Restored)
	require.Equal(t, staging.StateVersion, staging.Hold.Version)
	require.WithinDuration(t, time.Now().Add(2*time.Hour), staging.Hold.Until, time.Minute)
	require.NotContains(t, staging.Desired.Resources, "status", "the first version's composition is back")
	b.waitJS(t, 20*time.Second, "the hold shown", `document.querySelector("#hold").dataset.pinned === "true" && document.querySelector("#unpin")`)
	b.checkAccessibility(t, axe, "a pinned stack's release panel")

	// Nothing wider than a phone's window.
	b.do(t, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	b.waitJS(t, 20*time.Second, "the panel at phone width", `document.querySelector("#unpin")`)
	overflow := eval[int](t, b, `document.documentElement.scrollWidth - document.documentElement.clientWidth`)
	require.LessOrEqual(t, overflow, 0, "the stack page scrolls sideways on a phone")
	b.checkAccessibility(t, axe, "the release panel at phone width")
	b.do(t, chromedp.EmulateViewport(1280, 900))

	// Unpinned from the page.
	b.click(t, "#unpin")
	say("unpinned", "Unpinned")
	require.Nil(t, stack("shop-staging").Hold)
	b.waitJS(t, 20*time.Second, "no hold shown", `document.querySelector("#hold").dataset.pinned === "false" && !document.querySelector("#unpin")`)
	require.False(t, strings.Contains(eval[string](t, b, `location.href`), "token="))
}
