package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/api"
	"github.com/blackwellio/blackwell/internal/poll"
	"github.com/blackwellio/blackwell/internal/sim"
	"github.com/blackwellio/blackwell/internal/store"
)

// The cross-tenant suite (issue 13, "Tests"): one `blackwell serve` (the
// real CLI, run as a process) with two clients, acme and globex, each a
// stack bound to its own fakes on 127.0.0.2 with distinctive secrets set as
// BLACKWELL_{CLIENT}__* in the server's environment, and tokens of every
// role scoped to each client plus an unscoped admin. Every route of the
// API's access table (api.RouteRules) is called with each scoped token of
// the other client; tenancyRequests must describe every route, so a new
// route fails the suite until it is covered. No answer to a scoped token
// may hold the other client's secrets, stacks, events, content, drift,
// heals, approvals, audit entries or stream events, nor any secret at all.

// tenantRoles are the roles every client gets a scoped token of.
var tenantRoles = []store.Role{store.RoleViewer, store.RoleOperator, store.RoleAdmin}

// tenant is one client of the suite: its fakes, secrets and tokens.
type tenant struct {
	client, stack string
	shop          *sim.Shopify
	sanity        *sim.Sanity
	hook          *sim.BuildHook
	site          *sim.Site
	// env are the client's secrets, by variable name.
	env map[string]string
	// shopIDs are the seeded Shopify webhooks by topic.
	shopIDs map[string]int64
	// productMarker is in the body of the product delivery the client
	// receives (its events and content).
	productMarker string
	productID     int
	// tokens are the client's scoped tokens by role, ids by role.
	tokens, tokenIDs map[store.Role]string
	// driftID, approvalID: an open drift and a pending approval, found once
	// the world is busy.
	driftID, approvalID string
}

// newTenant starts a client's fakes on 127.0.0.2 (which the server's
// --egress-allow lists, so 127.0.0.1 stays an internal address).
func newTenant(t *testing.T, client, stack string, productID int) *tenant {
	t.Helper()
	up := strings.ToUpper(client)
	tn := &tenant{client: client, stack: stack, productID: productID, productMarker: client + "-product-title-6e0b",
		tokens: map[store.Role]string{}, tokenIDs: map[store.Role]string{}}
	var err error
	tn.shop, err = sim.NewShopify(sim.ShopifyOptions{Addr: "127.0.0.2:0", Shop: client + ".myshopify.com",
		Token: "shpat_" + client + "_secret_4c7d1f", ClientSecret: client + "-shopify-client-secret-90ab"})
	require.NoError(t, err)
	t.Cleanup(tn.shop.Close)
	tn.sanity, err = sim.NewSanity(sim.SanityOptions{Addr: "127.0.0.2:0", ProjectID: client + "proj", Dataset: "production",
		Token: "sk_" + client + "_sanity_secret_2b88"})
	require.NoError(t, err)
	t.Cleanup(tn.sanity.Close)
	tn.hook, err = sim.NewBuildHook(sim.BuildHookOptions{Addr: "127.0.0.2:0"})
	require.NoError(t, err)
	t.Cleanup(tn.hook.Close)
	tn.site, err = sim.NewSite(sim.SiteOptions{Addr: "127.0.0.2:0"})
	require.NoError(t, err)
	t.Cleanup(tn.site.Close)
	tn.env = map[string]string{
		"BLACKWELL_" + up + "__SHOPIFY_TOKEN":          tn.shop.Token(),
		"BLACKWELL_" + up + "__SHOPIFY_WEBHOOK_SECRET": tn.shop.ClientSecret(),
		"BLACKWELL_" + up + "__SANITY_TOKEN":           tn.sanity.Token(),
		"BLACKWELL_" + up + "__SANITY_WEBHOOK_SECRET":  client + "-sanity-webhook-secret-77e3",
		"BLACKWELL_" + up + "__BUILD_HOOK":             tn.hook.URL(),
		// Set but not used by the config: the client's own variable, naming
		// a hook elsewhere.
		"BLACKWELL_" + up + "__SPARE_HOOK": "https://hooks.example.net/build/" + client + "-spare-9f1",
	}
	return tn
}

// ref is ${BLACKWELL_CLIENT__NAME}.
func (tn *tenant) ref(name string) string {
	return "${BLACKWELL_" + strings.ToUpper(tn.client) + "__" + name + "}"
}

// config is the client's stack and policy: auto-heal of what heals alone,
// approval for the rest (a missing site is a resource_replacement in prod).
func (tn *tenant) config() string {
	return fmt.Sprintf(`apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: %[1]s, stack_id: %[2]s, environment: prod}
spec:
  providers:
    cms:
      name: sanity
      settings: {api_base: %[3]q, project_id: %[4]s, dataset: production}
      credentials: {token: "%[5]s"}
      webhook_secret: "%[6]s"
    ecommerce:
      name: shopify
      settings: {api_base: %[7]q, shop: %[1]s.myshopify.com, api_version: %[8]q}
      credentials: {token: "%[9]s"}
      webhook_secret: "%[10]s"
    ssg:
      name: nextjs
      build: {driver: hook, url: "%[11]s"}
  integrations:
    shop-products: {provider: ecommerce, topics: [%[12]s]}
    cms-content: {provider: cms, filter: '%[13]s'}
  resources:
    site: {probe: http, url: %[14]q, expect_status: 200, timeout: 2s}
  content_types: [post, page, product]
---
apiVersion: blackwell.io/v1
kind: ReconciliationPolicy
metadata: {client_id: %[1]s}
spec:
  schedule: {interval: 1s}
  confirmation: {observations: 1}
  auto_heal:
    enabled: true
    max_attempts: 3
    backoff_strategy: linear
    backoff_base: 200ms
    allowed_drift_types: [webhook_broken, integration_mismatch, resource_unhealthy, resource_missing]
    require_approval: [resource_replacement]
`, tn.client, tn.stack, tn.sanity.URL(), tn.sanity.ProjectID(), tn.ref("SANITY_TOKEN"), tn.ref("SANITY_WEBHOOK_SECRET"),
		tn.shop.URL(), sim.DefaultShopifyAPIVersion, tn.ref("SHOPIFY_TOKEN"), tn.ref("SHOPIFY_WEBHOOK_SECRET"),
		tn.ref("BUILD_HOOK"), strings.Join(sim.ShopTopics, ", "), sim.SanityFilter, tn.site.URL()+"/")
}

// tenancyOrganization gives every stack a compliance rule, so that
// GET /v1/compliance holds each client's stacks, and each stack an
// exception of it, so that each client's exceptions name its stack.
func tenancyOrganization(tenants ...*tenant) string {
	out := `apiVersion: blackwell.io/v1
kind: OrganizationPolicy
metadata: {name: tenancy-suite}
spec:
  rules:
    - {name: has-resources, mode: audit, expression: "size(stack.resources) > 0"}
  exceptions:
`
	for _, tn := range tenants {
		out += fmt.Sprintf("    - {rule: has-resources, client_id: %s, stack_id: %s, owner: %s-admin, reason: tenancy suite, expires: \"2099-01-01T00:00:00Z\"}\n",
			tn.client, tn.stack, tn.client)
	}
	return out
}

// seed subscribes the fakes to the server's receivers, as a working stack.
func (tn *tenant) seed(receivers string) {
	tn.shopIDs = map[string]int64{}
	for _, topic := range sim.ShopTopics {
		tn.shopIDs[topic] = tn.shop.AddWebhook(topic, receivers+"/shopify/"+tn.client)
	}
	tn.sanity.AddHook(sim.SanityHook{Name: "site content", URL: receivers + "/sanity/" + tn.client,
		Dataset: tn.sanity.Dataset(), Rule: sim.SanityRule{Filter: sim.SanityFilter}, Secret: tn.env["BLACKWELL_"+strings.ToUpper(tn.client)+"__SANITY_WEBHOOK_SECRET"]})
}

// markers are strings only the client's own data holds: its secret values,
// its fakes' addresses, its stack id, its product and its token names. No
// answer to another client's token may contain one.
func (tn *tenant) markers() []string {
	out := []string{tn.stack, tn.productMarker, fmt.Sprintf("Product/%d", tn.productID), tn.shop.URL(), tn.sanity.URL(), tn.site.URL(),
		strings.TrimPrefix(tn.hook.URL(), "http://"), tn.client + "-viewer", tn.client + "-operator", tn.client + "-admin"}
	for _, v := range tn.env {
		out = append(out, v)
	}
	return out
}

// named reports whether an audit entry's triggered_by names one of the
// client's tokens.
func (tn *tenant) named(by any) bool {
	for role, id := range tn.tokenIDs {
		if by == fmt.Sprintf("token:%s (%s-%s)", id, tn.client, role) {
			return true
		}
	}
	return false
}

// secrets are the client's secret values.
func (tn *tenant) secrets() []string {
	var out []string
	for _, v := range tn.env {
		out = append(out, v, strings.TrimPrefix(v, "http://"))
	}
	return out
}

// tenancyRequest says how the suite calls one route against a client: the
// path values and body. Paths are built from the pattern: {client_id},
// {stack_id}, {provider}, {drift_id}, {id} (an approval), {token_id},
// {file}, {app} (the stack's application), {promotion_id}.
type tenancyRequest struct {
	body  func(target *tenant) string
	ctype string
	// numbersOnly: the answer is an aggregate that names nothing of the
	// client (no marker to find), so it has no positive control.
	numbersOnly bool
	// query is added to the path of every call of the route.
	query string
}

// addQuery appends a query to a path that may have one.
func addQuery(path, query string) string {
	switch {
	case query == "":
		return path
	case strings.Contains(path, "?"):
		return path + "&" + query
	default:
		return path + "?" + query
	}
}

// tenancyRequests covers every route of api.RouteRules; a route missing
// here fails TestTenantIsolation.
func tenancyRequests() map[string]tenancyRequest {
	get := tenancyRequest{}
	jsonBody := func(s string) tenancyRequest {
		return tenancyRequest{body: func(*tenant) string { return s }, ctype: "application/json"}
	}
	return map[string]tenancyRequest{
		"GET /healthz":         get,
		"GET /readyz":          get,
		"GET /metrics":         get,
		"GET /{$}":             get,
		"GET /ui/{file}":       get,
		"GET /v1/openapi.json": get,
		// Signed by nobody: answered like any unverified delivery.
		"POST /v1/webhooks/{provider}/{client_id}":            jsonBody(`{"id": 1, "title": "x", "updated_at": "2025-01-01T00:00:00Z"}`),
		"POST /v1/webhooks/{provider}/{client_id}/{stack_id}": jsonBody(`{"id": 1, "title": "x", "updated_at": "2025-01-01T00:00:00Z"}`),

		"GET /v1/stacks":                                 get,
		"GET /v1/stacks/{client_id}/{stack_id}":          get,
		"GET /v1/stacks/{client_id}/{stack_id}/versions": get,
		// Another tenant's snapshots and rollbacks, by path.
		"GET /v1/stacks/{client_id}/{stack_id}/snapshots": get,
		"GET /v1/stacks/{client_id}/{stack_id}/rollbacks": get,
		"DELETE /v1/stacks/{client_id}/{stack_id}":        get,
		"PATCH /v1/stacks/{client_id}/{stack_id}": {ctype: "application/json", body: func(target *tenant) string {
			return `{"spec": {"resources": {"site": {"probe": "http", "url": "` + target.site.URL() + `/"}}}}`
		}},
		"POST /v1/stacks/{client_id}/{stack_id}/rollback":  jsonBody(`{"version": "v1.0.0", "reason": "tenancy suite"}`),
		"POST /v1/stacks/{client_id}/{stack_id}/unpin":     jsonBody(`{}`),
		"POST /v1/stacks/{client_id}/{stack_id}/reconcile": jsonBody(`{}`),
		"POST /v1/config": {ctype: "application/yaml", body: func(target *tenant) string {
			return target.config()
		}},
		"POST /v1/clients/{client_id}/reconcile":            jsonBody(`{}`),
		"GET /v1/clients/{client_id}/reconciliations":       get,
		"GET /v1/clients/{client_id}/drift":                 get,
		"POST /v1/clients/{client_id}/drift/{drift_id}/ack": jsonBody(`{"by": "tenancy suite", "reason": "accepted"}`),
		"GET /v1/clients/{client_id}/policy":                get,
		"PUT /v1/clients/{client_id}/policy":                jsonBody(`{"spec": {"schedule": {"interval": "5m"}}}`),
		"GET /v1/clients/{client_id}/content":               get,
		// Cleared ones too: the forecasts seeded before serve started
		// (seedForecasts) are cleared by the first pass, no indicator
		// holding them.
		"GET /v1/clients/{client_id}/forecasts": {query: "include_cleared=true"},
		// The promotions seeded before serve started (seedPromotions).
		"POST /v1/clients/{client_id}/apps/{app}/promotions":               jsonBody(`{"from": "staging", "to": "prod", "dry_run": true}`),
		"GET /v1/clients/{client_id}/apps/{app}/promotions":                get,
		"GET /v1/clients/{client_id}/apps/{app}/promotions/{promotion_id}": get,
		// Everything of the other client, were it allowed.
		"POST /v1/clients/{client_id}/erase":           jsonBody(`{"all": true}`),
		"POST /v1/alerts":                              jsonBody(`{"client_id": "x", "reason": "tenancy suite"}`),
		"GET /v1/events":                               get,
		"GET /v1/audit":                                get,
		"GET /v1/audit/checkpoint":                     get,
		"GET /v1/audit/heads":                          get,
		"GET /v1/approvals":                            get,
		"POST /v1/approvals/{id}/approve":              jsonBody(`{"reason": "tenancy suite"}`),
		"POST /v1/approvals/{id}/reject":               jsonBody(`{"reason": "tenancy suite"}`),
		"GET /v1/heals":                                get,
		"GET /v1/dashboard/reconciliation":             {numbersOnly: true},
		"GET /v1/reports":                              {numbersOnly: true}, // names clients, not stacks: an aggregate
		"GET /v1/dashboard/clients/{client_id}/health": get,
		"GET /v1/dashboard/system":                     get,
		"GET /v1/stream":                               get,
		"GET /v1/tokens":                               get,
		"POST /v1/tokens":                              jsonBody(`{"name": "smuggled", "role": "admin"}`),
		"POST /v1/tokens/{token_id}/revoke":            jsonBody(`{}`),
		"GET /v1/whoami":                               get, // the caller's own token, no client's data

		// The policy hierarchy and compliance.
		"GET /v1/stacks/{client_id}/{stack_id}/policy/effective": get,
		"GET /v1/compliance": get,
		// Exceptions: the declared ones name the stack (tenancyOrganization).
		"GET /v1/clients/{client_id}/compliance/exceptions":    get,
		"POST /v1/clients/{client_id}/compliance/exceptions":   jsonBody(`{"rule": "has-resources", "owner": "smuggled", "reason": "tenancy suite", "expires": "2099-01-01T00:00:00Z"}`),
		"DELETE /v1/clients/{client_id}/compliance/exceptions": {query: "rule=has-resources"},
	}
}

// tenancyPath fills a pattern's path with the target client's values.
func tenancyPath(pattern string, target *tenant) string {
	path := strings.Fields(pattern)[1]
	r := strings.NewReplacer("{client_id}", target.client, "{stack_id}", target.stack, "{provider}", "shopify",
		"{drift_id}", target.driftID, "{id}", target.approvalID, "{token_id}", target.tokenIDs[store.RoleAdmin],
		"{file}", "app.js", "{$}", "", "{app}", target.stack, "{promotion_id}", tenancyPromotionID(target))
	return r.Replace(path)
}

// tenancySuite is the running server and its clients.
type tenancySuite struct {
	bin, base, storeURL string
	admin               string // the unscoped admin token
	acme, globex        *tenant
	logs                *lockedBuffer
}

// answer is one response.
type answer struct {
	status int
	body   []byte
}

// errorCode is the JSON error code of an answer.
func (a answer) errorCode() string {
	var e struct {
		Error struct{ Code, Message string }
	}
	_ = json.Unmarshal(a.body, &e)
	return e.Error.Code
}

// call sends one request; header holds name, value pairs.
func (s *tenancySuite) call(t *testing.T, token, method, path, ctype, body string, header ...string) answer {
	t.Helper()
	req, err := http.NewRequest(method, s.base+path, strings.NewReader(body))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return answer{resp.StatusCode, b}
}

// requireNoLeak fails when an answer to a token of own holds a marker of
// other or a secret of either.
func requireNoLeak(t *testing.T, what string, body []byte, own, other *tenant) {
	t.Helper()
	text := string(body)
	for _, m := range other.markers() {
		if i := strings.Index(text, m); i >= 0 {
			t.Fatalf("%s: the answer to a token of %s holds %s's %q: ...%s...", what, own.client, other.client, m, text[max(0, i-200):min(len(text), i+len(m)+100)])
		}
	}
	for _, sec := range append(own.secrets(), other.secrets()...) {
		require.NotContains(t, text, sec, "%s: an answer holds a secret value", what)
	}
}

// sseEvent is one event of /v1/stream.
type sseEvent struct {
	id, kind, client string
	seq              uint64
}

// readStream reads /v1/stream (query included) until done says so, the
// stream ends or within passes; it returns the events read.
func (s *tenancySuite) readStream(t *testing.T, token, query string, within time.Duration, done func(sseEvent) bool) (int, []sseEvent) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/v1/stream"+query, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil
	}
	var out []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "id: "):
			cur.id = strings.TrimPrefix(line, "id: ")
			cur.seq, _ = strconv.ParseUint(cur.id, 10, 64) // the event's number in the stream log
		case strings.HasPrefix(line, "event: "):
			cur.kind = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			var d struct {
				ClientID string `json:"client_id"`
			}
			require.NoError(t, json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &d), line)
			cur.client = d.ClientID
		case line == "" && cur.id != "":
			out = append(out, cur)
			if done(cur) {
				return http.StatusOK, out
			}
			cur = sseEvent{}
		}
	}
	t.Fatalf("stream %s ended or timed out after %d events before the suite saw what it waited for", query, len(out))
	return 0, nil
}

// startTenancySuite starts the fakes, the server (a process of the test
// binary running the CLI), the tokens, and a busy world: each client has
// events, content, open drift, a heal and a pending approval.
func startTenancySuite(t *testing.T) *tenancySuite {
	t.Helper()
	bin, err := exec.LookPath("blackwell") // the test binary as the CLI (TestMain)
	require.NoError(t, err)
	s := &tenancySuite{bin: bin, acme: newTenant(t, "acme", "acme-web", 7001), globex: newTenant(t, "globex", "globex-shop", 8002),
		logs: &lockedBuffer{}}
	addr := freeAddr(t)
	s.base = "http://" + addr
	for _, tn := range []*tenant{s.acme, s.globex} {
		tn.seed(s.base + "/v1/webhooks")
	}

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "blackwell.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(s.acme.config()+"---\n"+s.globex.config()+"---\n"+tenancyOrganization(s.acme, s.globex)), 0o600))
	s.storeURL = "sqlite://" + filepath.Join(dir, "blackwell.db")
	seedForecasts(t, filepath.Join(dir, "blackwell.db"), s.acme, s.globex)
	seedPromotions(t, filepath.Join(dir, "blackwell.db"), s.acme, s.globex)
	cmd := exec.Command(bin, "serve", "--config", cfgPath, "--listen", addr, "--store", s.storeURL,
		"--bootstrap-token-file", filepath.Join(dir, "bootstrap.token"), "--metrics-auth",
		// The fakes live on 127.0.0.2; 127.0.0.1 and every other internal
		// address stay refused to scoped tokens.
		"--egress-allow", "127.0.0.2")
	cmd.Env = os.Environ()
	for _, tn := range []*tenant{s.acme, s.globex} {
		for k, v := range tn.env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	served := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			fmt.Fprintln(s.logs, sc.Text())
			if strings.Contains(sc.Text(), `"msg":"blackwell serving"`) {
				once.Do(func() { close(served) })
			}
		}
	}()
	select {
	case <-served:
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not start:\n%s", s.logs)
	}

	// Tokens, created on the store with the CLI.
	type spec struct {
		tn   *tenant
		role store.Role
	}
	specs := []spec{{nil, store.RoleAdmin}}
	for _, tn := range []*tenant{s.acme, s.globex} {
		for _, role := range tenantRoles {
			specs = append(specs, spec{tn, role})
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	errs := make([]error, len(specs))
	for i, sp := range specs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name, client := "ops-admin", ""
			if sp.tn != nil {
				name, client = sp.tn.client+"-"+string(sp.role), sp.tn.client
			}
			file := filepath.Join(dir, name+".secret")
			out, err := exec.Command(bin, "token", "create", "--store", s.storeURL, "--name", name, "--role", string(sp.role),
				"--client", client, "--secret-file", file, "-o", "json").CombinedOutput()
			if err != nil {
				errs[i] = fmt.Errorf("token create %s: %w: %s", name, err, out)
				return
			}
			var created struct {
				Token store.Token `json:"token"`
			}
			if err := json.Unmarshal(out, &created); err != nil {
				errs[i] = fmt.Errorf("token create %s: %w: %s", name, err, out)
				return
			}
			secret, err := os.ReadFile(file)
			if err != nil {
				errs[i] = err
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if sp.tn == nil {
				s.admin = strings.TrimSpace(string(secret))
				return
			}
			sp.tn.tokens[sp.role] = strings.TrimSpace(string(secret))
			sp.tn.tokenIDs[sp.role] = created.Token.ID
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}

	// Each client's stack, verified, has a known-good snapshot; a rollback
	// to it leaves a record (GET .../rollbacks), while the world is
	// healthy, so that it verifies at once.
	for _, tn := range []*tenant{s.acme, s.globex} {
		var snaps struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
		}
		stackPath := "/v1/stacks/" + tn.client + "/" + tn.stack
		poll.Until(t, time.Minute, tn.client+" has a known-good snapshot", func() bool {
			s.getJSON(t, s.admin, stackPath+"/snapshots", &snaps)
			return len(snaps.Items) > 0
		})
		a := s.call(t, s.admin, http.MethodPost, stackPath+"/rollback", "application/json", `{"snapshot": "`+snaps.Items[0].ID+`"}`)
		require.Equal(t, http.StatusOK, a.status, "rollback of %s: %s", tn.client, a.body)
	}

	// Make each client's world busy: an event and content (a product),
	// drift healed (a deleted webhook) and drift waiting for approval (a
	// missing site).
	for _, tn := range []*tenant{s.acme, s.globex} {
		body := fmt.Sprintf(`{"id": %d, "title": %q, "created_at": "2025-01-01T00:00:00Z", "updated_at": %q}`,
			tn.productID, tn.productMarker, time.Now().UTC().Format(time.RFC3339))
		for _, res := range tn.shop.Deliver(context.Background(), "products/update", []byte(body)) {
			require.NoError(t, res.Err)
			require.Equal(t, http.StatusOK, res.Status, "the %s delivery is accepted", tn.client)
		}
		require.True(t, tn.shop.DeleteWebhook(tn.shopIDs["products/delete"]))
		require.NoError(t, tn.site.SetMode(sim.ModeMissing))
	}
	for _, tn := range []*tenant{s.acme, s.globex} {
		poll.Until(t, time.Minute, tn.client+" has a heal, an approval and open drift", func() bool {
			var heals, approvals struct {
				Items []struct {
					ID, Status, ClientID string
					Code                 string `json:"code"`
				} `json:"items"`
			}
			s.getJSON(t, s.admin, "/v1/heals?client_id="+tn.client, &heals)
			s.getJSON(t, s.admin, "/v1/approvals?client_id="+tn.client, &approvals)
			var ds struct {
				DriftDetails []struct {
					ID string `json:"id"`
				} `json:"drift_details"`
			}
			s.getJSON(t, s.admin, "/v1/clients/"+tn.client+"/drift", &ds)
			if len(heals.Items) == 0 || len(approvals.Items) == 0 || len(ds.DriftDetails) == 0 {
				return false
			}
			tn.approvalID = approvals.Items[0].ID
			tn.driftID = ds.DriftDetails[0].ID
			return true
		})
	}
	return s
}

func (s *tenancySuite) getJSON(t *testing.T, token, path string, v any) {
	t.Helper()
	a := s.call(t, token, http.MethodGet, path, "", "")
	require.Equal(t, http.StatusOK, a.status, "GET %s: %s", path, a.body)
	require.NoError(t, json.Unmarshal(a.body, v))
}

// TestTenantIsolation is the cross-tenant suite; see the top of the file.
func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	start := time.Now()
	s := startTenancySuite(t)
	t.Logf("world ready in %s", time.Since(start).Round(time.Millisecond))

	rules := api.RouteRules()
	reqs := tenancyRequests()
	for _, r := range rules {
		_, ok := reqs[r.Pattern]
		require.True(t, ok, "route %s is not covered by the cross-tenant suite: add it to tenancyRequests (tenancy_e2e_test.go)", r.Pattern)
	}
	require.Len(t, reqs, len(rules), "tenancyRequests names a route the API does not have")

	// The stream's positive control: the unscoped admin replays the log
	// from its start (after id 0) and sees both clients; seen is the
	// newest event it read.
	var seen uint64
	sawClient := map[string]bool{}
	_, evs := s.readStream(t, s.admin, "?last_event_id=0", 10*time.Second, func(e sseEvent) bool {
		sawClient[e.client] = true
		return sawClient["acme"] && sawClient["globex"]
	})
	seen = evs[len(evs)-1].seq

	pairs := []struct{ own, other *tenant }{{s.acme, s.globex}, {s.globex, s.acme}}
	calls := 0
	t.Run("routes", func(t *testing.T) {
		for _, r := range rules {
			req := reqs[r.Pattern]
			method := strings.Fields(r.Pattern)[0]
			// The admin's positive control: a read of the other client's
			// data answers it and holds its markers, so the leak check
			// below can fail.
			if method == http.MethodGet && (r.Scope == "path" || r.Scope == "query") && r.Pattern != "GET /v1/stream" {
				path := tenancyPath(r.Pattern, s.globex)
				if r.Scope == "query" {
					path += "?client_id=globex"
				}
				path = addQuery(path, req.query)
				a := s.call(t, s.admin, method, path, "", "")
				require.Equal(t, http.StatusOK, a.status, "admin %s: %s", path, a.body)
				if r.Pattern != "GET /v1/clients/{client_id}/policy" && !req.numbersOnly {
					found := false
					for _, m := range s.globex.markers() {
						found = found || strings.Contains(string(a.body), m)
					}
					require.True(t, found, "admin %s: the answer holds none of globex's markers, so the leak check proves nothing: %s", path, a.body)
				}
			}
			for _, p := range pairs {
				for _, role := range tenantRoles {
					t.Run(fmt.Sprintf("%s/%s-%s", r.Pattern, p.own.client, role), func(t *testing.T) {
						t.Parallel()
						tok := p.own.tokens[role]
						path := addQuery(tenancyPath(r.Pattern, p.other), req.query)
						body := ""
						if req.body != nil {
							body = req.body(p.other)
						}
						what := fmt.Sprintf("%s %s as %s-%s", method, path, p.own.client, role)
						switch {
						case r.Pattern == "GET /v1/stream":
							if role.Allows(r.Role) {
								status, _ := s.readStream(t, tok, "?client_id="+p.other.client, 5*time.Second, func(sseEvent) bool { return true })
								require.Equal(t, http.StatusForbidden, status, what)
								// The log replayed and the live stream, up to an
								// event of its own client newer than every event
								// the admin saw: none of the other client's.
								_, evs := s.readStream(t, tok, "?last_event_id=0", 10*time.Second, func(e sseEvent) bool {
									return e.client == p.own.client && e.seq > seen
								})
								for _, e := range evs {
									require.Equal(t, p.own.client, e.client, "%s: event %s (%s)", what, e.id, e.kind)
								}
								return
							}
							a := s.call(t, tok, method, path, "", "")
							require.Equal(t, http.StatusForbidden, a.status, "%s: %s", what, a.body)
						case r.Role == "":
							a := s.call(t, tok, method, path, req.ctype, body)
							requireNoLeak(t, what, a.body, p.own, p.other)
							switch {
							case strings.HasPrefix(r.Pattern, "POST /v1/webhooks/"):
								require.Equal(t, http.StatusUnauthorized, a.status, "%s: %s", what, a.body)
								require.Contains(t, string(a.body), "the delivery could not be verified")
							case r.Pattern == "GET /metrics":
								// serve --metrics-auth: metrics name every
								// client's stacks, so only unscoped tokens.
								require.Equal(t, http.StatusForbidden, a.status, "%s: %s", what, a.body)
							default:
								require.Equal(t, http.StatusOK, a.status, "%s: %s", what, a.body)
							}
						case !role.Allows(r.Role) || r.Scope == "path" || r.Scope == "global":
							a := s.call(t, tok, method, path, req.ctype, body)
							require.Equal(t, http.StatusForbidden, a.status, "%s: %s", what, a.body)
							require.Equal(t, "forbidden", a.errorCode(), what)
							requireNoLeak(t, what, a.body, p.own, p.other)
						case r.Scope == "none":
							a := s.call(t, tok, method, path, req.ctype, body)
							require.Equal(t, http.StatusOK, a.status, "%s: %s", what, a.body)
							requireNoLeak(t, what, a.body, p.own, p.other)
						case r.Scope == "query":
							a := s.call(t, tok, method, path+"?client_id="+p.other.client, "", "")
							require.Equal(t, http.StatusForbidden, a.status, "%s ?client_id=%s: %s", what, p.other.client, a.body)
							requireNoLeak(t, what, a.body, p.own, p.other)
							a = s.call(t, tok, method, path, "", "")
							require.Equal(t, http.StatusOK, a.status, "%s: %s", what, a.body)
							if req.numbersOnly {
								// An aggregate: the caller's own client's.
								var agg struct {
									ClientID string `json:"client_id"`
									// Clients: the KPI report's per-client figures.
									Clients []struct {
										ClientID string `json:"client_id"`
									} `json:"clients"`
								}
								require.NoError(t, json.Unmarshal(a.body, &agg), what)
								require.Equal(t, p.own.client, agg.ClientID, "%s: aggregated over its own client only", what)
								for _, c := range agg.Clients {
									require.Equal(t, p.own.client, c.ClientID, "%s: another client's figures", what)
								}
								requireNoLeak(t, what, a.body, p.own, p.other)
								return
							}
							var list struct {
								Items []map[string]any `json:"items"`
							}
							require.NoError(t, json.Unmarshal(a.body, &list), what)
							for _, it := range list.Items {
								if r.Pattern == "GET /v1/audit" && it["action"] == "token_used" && p.own.named(it["triggered_by"]) {
									// The client's own attempts on the other
									// client: the path is its own words.
									continue
								}
								b, err := json.Marshal(it)
								require.NoError(t, err)
								requireNoLeak(t, what, b, p.own, p.other)
							}
							require.NotEmpty(t, list.Items, "%s: its own client's items", what)
							for _, it := range list.Items {
								require.Equal(t, p.own.client, it["client_id"], "%s: %v", what, it)
							}
						default:
							t.Fatalf("%s: no expectation for scope %q", what, r.Scope)
						}
					})
					calls++
				}
			}
		}
	})
	t.Logf("%d routes × %d scoped tokens = %d cross-tenant calls", len(rules), 2*len(tenantRoles), calls)

	t.Run("indirect", func(t *testing.T) { s.indirect(t) })
	t.Run("export", func(t *testing.T) {
		for _, p := range pairs {
			out, err := exec.Command(s.bin, "export", "--output-file", "-", "--server", s.base, "--token", p.own.tokens[store.RoleViewer]).CombinedOutput()
			require.NoError(t, err, "%s", out)
			var sf struct {
				Stacks []struct {
					ClientID string `json:"client_id"`
				} `json:"stacks"`
			}
			require.NoError(t, json.Unmarshal(out, &sf), "%s", out)
			require.NotEmpty(t, sf.Stacks)
			for _, st := range sf.Stacks {
				require.Equal(t, p.own.client, st.ClientID)
			}
			requireNoLeak(t, "export as "+p.own.client, out, p.own, p.other)
			out, err = exec.Command(s.bin, "export", p.other.client, "--output-file", "-", "--server", s.base, "--token", p.own.tokens[store.RoleAdmin]).CombinedOutput()
			require.Error(t, err, "%s", out)
			require.Contains(t, string(out), "scoped to client "+p.own.client)
			requireNoLeak(t, "export --client "+p.other.client, out, p.own, p.other)
		}
	})
	t.Run("csrf", func(t *testing.T) { s.csrf(t) })
	// Nothing secret reached the server's log either.
	logs := s.logs.String()
	for _, tn := range []*tenant{s.acme, s.globex} {
		for _, sec := range tn.secrets() {
			require.NotContains(t, logs, sec, "the server's log holds a secret")
		}
	}
	t.Logf("done in %s", time.Since(start).Round(time.Millisecond))
}

// indirect: what a scoped admin writes to its own stack cannot reach the
// host, another client's secrets, a new credential destination or an
// internal address.
func (s *tenancySuite) indirect(t *testing.T) {
	acme := s.acme
	admin := acme.tokens[store.RoleAdmin]
	stackPath := "/v1/stacks/acme/" + acme.stack
	var rec struct {
		StateVersion string          `json:"state_version"`
		Desired      json.RawMessage `json:"desired"`
	}
	s.getJSON(t, admin, stackPath, &rec)
	version := rec.StateVersion
	// spec returns the stored spec changed by fn.
	spec := func(fn func(map[string]any)) string {
		var m map[string]any
		require.NoError(t, json.Unmarshal(rec.Desired, &m))
		fn(m)
		b, err := json.Marshal(map[string]any{"spec": m})
		require.NoError(t, err)
		return string(b)
	}
	provider := func(m map[string]any, role string) map[string]any {
		return m["providers"].(map[string]any)[role].(map[string]any)
	}
	marker := filepath.Join(t.TempDir(), "pwned")
	cases := []struct {
		name, code, message string
		change              func(map[string]any)
	}{
		{"a command build", "invalid_config", "a command build cannot be set or changed through the API", func(m map[string]any) {
			provider(m, "ssg")["build"] = map[string]any{"driver": "command", "command": []string{"sh", "-c", "touch " + marker}}
		}},
		{"another client's secret", "invalid_config", "${BLACKWELL_GLOBEX__SHOPIFY_TOKEN} is not a variable of client acme", func(m map[string]any) {
			provider(m, "ecommerce")["credentials"] = map[string]any{"token": "${BLACKWELL_GLOBEX__SHOPIFY_TOKEN}"}
		}},
		{"an unprefixed server variable", "invalid_config", "${HOME} is not a variable of client acme", func(m map[string]any) {
			provider(m, "cms")["webhook_secret"] = "${HOME}"
		}},
		{"a literal secret", "invalid_config", "must be a ${VAR} reference", func(m map[string]any) {
			provider(m, "ecommerce")["credentials"] = map[string]any{"token": "shpat_literal"}
		}},
		{"a new api_base", "invalid_config", "cannot send this binding's credentials to a new destination", func(m map[string]any) {
			provider(m, "ecommerce")["settings"].(map[string]any)["api_base"] = "https://collector.example.com"
		}},
		{"another client's api_base", "invalid_config", "cannot send this binding's credentials to a new destination", func(m map[string]any) {
			provider(m, "ecommerce")["settings"].(map[string]any)["api_base"] = s.globex.shop.URL()
		}},
		{"a build hook elsewhere", "invalid_config", "cannot send this binding's credentials to a new destination", func(m map[string]any) {
			provider(m, "ssg")["build"] = map[string]any{"driver": "hook", "url": "${BLACKWELL_ACME__SPARE_HOOK}"}
		}},
		{"a probe of 127.0.0.1", "target_not_allowed", "spec.resources.admin.url: host 127.0.0.1 is a loopback address", func(m map[string]any) {
			m["resources"].(map[string]any)["admin"] = map[string]any{"probe": "http", "url": s.base + "/metrics"}
		}},
		{"a probe of the metadata service", "target_not_allowed", "spec.resources.meta.url: host 169.254.169.254 is a link-local address", func(m map[string]any) {
			m["resources"].(map[string]any)["meta"] = map[string]any{"probe": "http", "url": "http://169.254.169.254/latest/meta-data/"}
		}},
		{"a tcp probe of localhost", "target_not_allowed", "loopback", func(m map[string]any) {
			m["resources"].(map[string]any)["pg"] = map[string]any{"probe": "tcp", "address": "localhost:5432"}
		}},
	}
	for _, c := range cases {
		a := s.call(t, admin, http.MethodPatch, stackPath, "application/json", spec(c.change))
		require.Equal(t, http.StatusUnprocessableEntity, a.status, "%s: %s", c.name, a.body)
		require.Equal(t, c.code, a.errorCode(), "%s: %s", c.name, a.body)
		require.Contains(t, string(a.body), c.message, c.name)
		if c.name == "another client's api_base" {
			// The answer names the address the caller wrote: only check
			// that no secret came back.
			for _, sec := range append(acme.secrets(), s.globex.secrets()...) {
				require.NotContains(t, string(a.body), sec, c.name)
			}
			continue
		}
		requireNoLeak(t, c.name, a.body, acme, s.globex)
	}
	// A policy's inline channel may not target the metadata service either.
	a := s.call(t, admin, http.MethodPut, "/v1/clients/acme/policy", "application/json",
		`{"schedule": {"interval": "1s"}, "notifications": {"channels": [{"type": "webhook", "url": "http://169.254.169.254/hook", "secret": "${BLACKWELL_ACME__SPARE_HOOK}"}]}}`)
	require.Equal(t, http.StatusUnprocessableEntity, a.status, "%s", a.body)
	require.Equal(t, "target_not_allowed", a.errorCode(), "%s", a.body)
	// The whole config is the operator's.
	a = s.call(t, admin, http.MethodPost, "/v1/config", "application/yaml", acme.config())
	require.Equal(t, http.StatusForbidden, a.status, "%s", a.body)

	// Nothing changed, and a pass of the stack ran no command.
	s.getJSON(t, admin, stackPath, &rec)
	require.Equal(t, version, rec.StateVersion, "no refused write changed the stack")
	a = s.call(t, acme.tokens[store.RoleOperator], http.MethodPost, stackPath+"/reconcile?wait=10s", "application/json", "")
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	_, err := os.Stat(marker)
	require.ErrorIs(t, err, os.ErrNotExist, "the command never ran")

	// The positive control: the same admin may write its stack as it is
	// (its targets on 127.0.0.2, which --egress-allow lists).
	a = s.call(t, admin, http.MethodPatch, stackPath, "application/json", spec(func(m map[string]any) {
		m["content_types"] = []string{"post", "page", "product", "collection"}
	}))
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	requireNoLeak(t, "the accepted patch", a.body, acme, s.globex)
}

// csrf: a page in a browser on the server's machine posts to the API as a
// form or fetch() without preflight does: text/plain or a form encoding,
// its own Origin, or its own DNS name rebound to 127.0.0.1 as Host. Even
// holding the unscoped admin token (which a page should not), nothing is
// applied and nothing is reconciled.
func (s *tenancySuite) csrf(t *testing.T) {
	doc := strings.Replace(s.acme.config(), "stack_id: acme-web", "stack_id: csrf-stack", 1)
	host := strings.TrimPrefix(s.base, "http://")
	_, port, _ := strings.Cut(host, ":")
	for _, c := range []struct {
		name, path, ctype, body string
		header                  []string
		status                  int
	}{
		{"a form post from another site", "/v1/config", "text/plain;charset=UTF-8", doc, []string{"Origin", "http://evil.example"}, http.StatusForbidden},
		{"a urlencoded form from another site", "/v1/clients/acme/reconcile", "application/x-www-form-urlencoded", "a=b", []string{"Origin", "http://evil.example"}, http.StatusForbidden},
		{"a rebound DNS name", "/v1/config", "text/plain", doc, []string{"Host", "evil.example:" + port, "Origin", "http://evil.example:" + port}, http.StatusForbidden},
		{"a rebound DNS name, no Origin", "/v1/config", "application/yaml", doc, []string{"Host", "evil.example:" + port}, http.StatusForbidden},
		{"another local port", "/v1/config", "application/yaml", doc, []string{"Origin", "http://127.0.0.1:3000"}, http.StatusForbidden},
		{"a sandboxed page", "/v1/config", "application/yaml", doc, []string{"Origin", "null"}, http.StatusForbidden},
		{"same origin, but text/plain", "/v1/config", "text/plain", doc, []string{"Origin", s.base}, http.StatusUnsupportedMediaType},
		{"multipart", "/v1/clients/acme/reconcile", "multipart/form-data; boundary=x", "--x--", nil, http.StatusUnsupportedMediaType},
	} {
		for _, token := range []string{"", s.admin} {
			a := s.call(t, token, http.MethodPost, c.path, c.ctype, c.body, c.header...)
			require.Equal(t, c.status, a.status, "%s: %s", c.name, a.body)
			require.NotEmpty(t, a.errorCode(), "%s: a JSON error", c.name)
		}
	}
	a := s.call(t, s.admin, http.MethodGet, "/v1/stacks/acme/csrf-stack", "", "")
	require.Equal(t, http.StatusNotFound, a.status, "nothing was applied: %s", a.body)
	var audit struct {
		Items []struct {
			ChangesMade map[string]any `json:"changes_made"`
		} `json:"items"`
	}
	s.getJSON(t, s.admin, "/v1/audit?action=write_refused", &audit)
	require.NotEmpty(t, audit.Items, "refusals are audited")
}
