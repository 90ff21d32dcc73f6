package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
)

// TestBrowserCSRFIsRefused: a hostile page in a browser on the server's
// machine posts a config the way a form or fetch() without preflight
// does (text/plain, its own Origin; or its own DNS name rebound to
// 127.0.0.1 as Host). Nothing is applied. Before the fix the loopback
// peer alone opened the API and the post was applied.
func TestBrowserCSRFIsRefused(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/blackwell.yaml")
	require.NoError(t, err)
	for _, c := range []struct {
		name   string
		header []string
		host   string
	}{
		{"form post from another site", []string{"Origin", "http://evil.example"}, "127.0.0.1:8080"},
		{"rebound DNS name", []string{"Origin", "http://evil.example:8080"}, "evil.example:8080"},
		{"rebound DNS name, no origin", nil, "evil.example:8080"},
		{"another local port", []string{"Origin", "http://127.0.0.1:3000"}, "127.0.0.1:8080"},
		{"sandboxed page", []string{"Origin", "null"}, "127.0.0.1:8080"},
		{"same origin, but text/plain", []string{"Origin", "http://127.0.0.1:8080"}, "127.0.0.1:8080"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t)
			for _, withToken := range []bool{false, true} {
				req := httptest.NewRequest(http.MethodPost, "/v1/config", strings.NewReader(string(data)))
				req.RemoteAddr = "127.0.0.1:51000" // the browser is on this machine
				req.Host = c.host
				req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
				for i := 0; i+1 < len(c.header); i += 2 {
					req.Header.Set(c.header[i], c.header[i+1])
				}
				if withToken { // even a page that somehow held the token
					req.Header.Set("Authorization", "Bearer "+testBootstrap)
				}
				w := httptest.NewRecorder()
				f.srv.ServeHTTP(w, req)
				require.Contains(t, []int{http.StatusForbidden, http.StatusUnsupportedMediaType}, w.Code, w.Body.String())
				var e errorBody
				require.NoError(t, json.Unmarshal(w.Body.Bytes(), &e), "a JSON error")
				require.NotEmpty(t, e.Error.Code)
			}
			recs, _, err := f.store.ListStates(context.Background(), "", "", 10)
			require.NoError(t, err)
			require.Empty(t, recs, "nothing applied")
		})
	}
}

// TestHostAndOriginOfWrites is the table of the Host and Origin rules
// (guard.go), with the bootstrap token on every request.
func TestHostAndOriginOfWrites(t *testing.T) {
	t.Parallel()
	f := setup(t, func(o *Options) { o.AllowedHosts = []string{"https://bw.example.com", "ops.internal:9000"} })
	f.seed(t)
	const reconcile = "/v1/clients/acme-corp/reconcile"
	for _, c := range []struct {
		method, target, host, origin, ctype string
		status                              int
	}{
		{"POST", reconcile, "127.0.0.1:8080", "", "", http.StatusAccepted},
		{"POST", reconcile, "localhost:8080", "", "", http.StatusAccepted},
		{"POST", reconcile, "[::1]:8080", "", "", http.StatusAccepted},
		{"POST", reconcile, "bw.example.com", "", "", http.StatusAccepted},
		{"POST", reconcile, "OPS.internal:1234", "", "", http.StatusAccepted},
		{"POST", reconcile, "evil.example", "", "", http.StatusForbidden},
		{"POST", reconcile, "", "", "", http.StatusForbidden},
		{"POST", reconcile, "127.0.0.1:8080", "http://127.0.0.1:8080", "", http.StatusAccepted},
		{"POST", reconcile, "localhost", "http://localhost:80", "", http.StatusAccepted},
		{"POST", reconcile, "127.0.0.1:8080", "https://bw.example.com", "", http.StatusAccepted}, // through a TLS proxy
		{"POST", reconcile, "127.0.0.1:8080", "http://localhost:8080", "", http.StatusForbidden},
		{"POST", reconcile, "127.0.0.1:8080", "http://evil.example", "", http.StatusForbidden},
		{"POST", reconcile, "127.0.0.1:8080", "file://", "", http.StatusForbidden},
		{"POST", reconcile, "127.0.0.1:8080", "", "application/json", http.StatusAccepted},
		{"POST", reconcile, "127.0.0.1:8080", "", "text/plain", http.StatusUnsupportedMediaType},
		{"POST", reconcile, "127.0.0.1:8080", "", "application/x-www-form-urlencoded", http.StatusUnsupportedMediaType},
		{"POST", reconcile, "127.0.0.1:8080", "", "multipart/form-data; boundary=x", http.StatusUnsupportedMediaType},
		{"PUT", "/v1/clients/acme-corp/policy", "evil.example", "", "application/json", http.StatusForbidden},
		{"PATCH", "/v1/stacks/acme-corp/status-page", "127.0.0.1", "http://evil.example", "application/json", http.StatusForbidden},
		// Reads are not checked: they change nothing, and a page cannot
		// read a cross-origin answer.
		{"GET", "/v1/stacks", "evil.example", "http://evil.example", "", http.StatusOK},
		// Provider deliveries: Host and Origin too (providers send the
		// public URL's host); this server has no gateway (503).
		{"POST", "/v1/webhooks/shopify/acme-corp", "bw.example.com", "", "application/json", http.StatusServiceUnavailable},
		{"POST", "/v1/webhooks/shopify/acme-corp", "evil.example", "", "application/json", http.StatusForbidden},
	} {
		req := httptest.NewRequest(c.method, c.target, nil)
		req.Host = c.host
		req.Header.Set("Authorization", "Bearer "+testBootstrap)
		if c.origin != "" {
			req.Header.Set("Origin", c.origin)
		}
		if c.ctype != "" {
			req.Header.Set("Content-Type", c.ctype)
		}
		w := httptest.NewRecorder()
		f.srv.ServeHTTP(w, req)
		require.Equal(t, c.status, w.Code, "%s %s Host %q Origin %q Content-Type %q: %s", c.method, c.target, c.host, c.origin, c.ctype, w.Body.String())
	}
}

// TestRefusedWritesAreAudited: writes refused before a token was found
// are audited, at most once a minute per source and route, with a count.
func TestRefusedWritesAreAudited(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.bootstrap = ""
	refuse := func(addr, target string) {
		req := httptest.NewRequest(http.MethodPost, target, nil)
		req.Host, req.RemoteAddr = "127.0.0.1:8080", addr
		w := httptest.NewRecorder()
		f.srv.ServeHTTP(w, req)
		require.Equal(t, http.StatusUnauthorized, w.Code)
	}
	refused := func() []store.AuditEntry {
		all, _, err := f.store.ListAudit(context.Background(), store.AuditQuery{Action: "write_refused", Limit: 100})
		require.NoError(t, err)
		return all
	}
	for range 5 {
		refuse("192.0.2.7:1000", "/v1/clients/acme-corp/reconcile")
	}
	refuse("192.0.2.8:1000", "/v1/clients/acme-corp/reconcile")
	refuse("192.0.2.7:1000", "/v1/config")
	got := refused()
	require.Len(t, got, 3, "one entry per source and route per minute")
	var first map[string]any
	require.NoError(t, json.Unmarshal(got[0].ChangesMade, &first))
	require.Equal(t, "192.0.2.7", first["source"])
	require.Equal(t, 1.0, first["count"])
	require.Equal(t, 401.0, first["status"])
	require.Equal(t, "acme-corp", got[0].ClientID)
	require.False(t, got[0].Success)

	f.now = f.now.Add(refusalEvery)
	refuse("192.0.2.7:1000", "/v1/clients/acme-corp/reconcile")
	got = refused()
	require.Len(t, got, 4)
	var next map[string]any
	require.NoError(t, json.Unmarshal(got[3].ChangesMade, &next))
	require.Equal(t, 5.0, next["count"], "this refusal and the four left out before it")
}

// TestChannelsAndAlertsAreAudited: the notification channels set by POST
// /v1/config and every POST /v1/alerts have entries of their own.
func TestChannelsAndAlertsAreAudited(t *testing.T) {
	t.Parallel()
	f := setup(t, func(o *Options) { o.OnConfig = func(context.Context, *config.Config) error { return nil } })
	cfg := `apiVersion: blackwell.io/v1
kind: NotificationChannel
metadata: {name: ops-hook}
spec: {type: webhook, url: "https://hooks.example.com/x", secret: "${SANITY_WEBHOOK_SECRET}"}
`
	w := f.do(t, http.MethodPost, "/v1/config", cfg, "Content-Type", "application/yaml")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	f.seed(t)
	w = f.do(t, http.MethodPost, "/v1/alerts", `{"client_id": "acme-corp", "reason": "SiteDown"}`)
	require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())

	ctx := context.Background()
	ch, _, err := f.store.ListAudit(ctx, store.AuditQuery{Action: "channels_applied", Limit: 10})
	require.NoError(t, err)
	require.Len(t, ch, 1)
	require.JSONEq(t, `{"channels":[{"name":"ops-hook","type":"webhook"}]}`, string(ch[0].ChangesMade))
	require.Equal(t, "bootstrap", ch[0].TriggeredBy)
	require.NotContains(t, string(ch[0].ChangesMade), "hooks.example.com", "no channel address or secret")

	al, _, err := f.store.ListAudit(ctx, store.AuditQuery{Action: "alert_received", Limit: 10})
	require.NoError(t, err)
	require.Len(t, al, 1)
	require.Equal(t, "acme-corp", al[0].ClientID)
	require.Contains(t, string(al[0].ChangesMade), `"acme-corp/cms-ecom-prod"`)
	require.Contains(t, string(al[0].ChangesMade), `"SiteDown"`)
}

// TestReadyzHidesTheStoreError: the answer is generic; the log has it.
func TestReadyzHidesTheStoreError(t *testing.T) {
	t.Parallel()
	f := setup(t, func(o *Options) {
		o.Ready = func(context.Context) error {
			return errors.New(`ping store: dial tcp 10.1.2.3:5432: password authentication failed for user "bw_admin"`)
		}
	})
	w := f.do(t, http.MethodGet, "/readyz", "")
	e := requireError(t, w, http.StatusServiceUnavailable, codeNotReady)
	require.NotContains(t, e.Error.Message, "10.1.2.3")
	require.NotContains(t, e.Error.Message, "bw_admin")
	require.Contains(t, f.logs.String(), "10.1.2.3")
}

// breakerReconciler reports heal breakers.
type breakerReconciler struct {
	Reconciler
	states map[string]string
}

func (b breakerReconciler) BreakerStates() map[string]string { return b.states }

// TestHealBreakersOfOtherClientsAreHidden: a token scoped to a client sees
// the breakers that can stop its heals (the instance's, its providers'),
// not the others'.
func TestHealBreakersOfOtherClientsAreHidden(t *testing.T) {
	t.Parallel()
	all := map[string]string{"instance": "closed", "sanity": "open", "shopify": "half-open", "contentful": "open"}
	f := setup(t, func(o *Options) { o.Reconciler = breakerReconciler{Reconciler: o.Reconciler, states: all} })
	f.seed(t)
	_, scoped, err := f.state.CreateToken(context.Background(), state.NewToken{Name: "g", Role: store.RoleViewer, ClientID: "globex"}, "test")
	require.NoError(t, err)
	_, wide, err := f.state.CreateToken(context.Background(), state.NewToken{Name: "v", Role: store.RoleViewer}, "test")
	require.NoError(t, err)

	got := decodeAs[healList](t, f.do(t, http.MethodGet, "/v1/heals", "", "Authorization", "Bearer "+wide), http.StatusOK)
	require.Equal(t, all, got.Breakers)
	got = decodeAs[healList](t, f.do(t, http.MethodGet, "/v1/heals", "", "Authorization", "Bearer "+scoped), http.StatusOK)
	require.Equal(t, map[string]string{"instance": "closed"}, got.Breakers, "globex binds none of these providers")
}

// TestMetricsAuth: /metrics is public unless MetricsAuth, then it needs an
// unscoped viewer token.
func TestMetricsAuth(t *testing.T) {
	t.Parallel()
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("blackwell_up 1\n")) })
	open := setup(t, func(o *Options) { o.Metrics = metrics })
	open.bootstrap = ""
	require.Equal(t, http.StatusOK, open.do(t, http.MethodGet, "/metrics", "").Code)

	f := setup(t, func(o *Options) { o.Metrics = metrics; o.MetricsAuth = true })
	_, viewer, err := f.state.CreateToken(context.Background(), state.NewToken{Name: "prom", Role: store.RoleViewer}, "test")
	require.NoError(t, err)
	f.bootstrap = ""
	requireError(t, f.do(t, http.MethodGet, "/metrics", ""), http.StatusUnauthorized, codeUnauthorized)
	w := f.do(t, http.MethodGet, "/metrics", "", "Authorization", "Bearer "+viewer)
	require.Equal(t, http.StatusOK, w.Code)
	require.Contains(t, w.Body.String(), "blackwell_up")
	require.Equal(t, http.StatusOK, f.do(t, http.MethodGet, "/healthz", "").Code)
	// The metrics name every client's stacks: a token scoped to one
	// client is refused (before, it read the others' stack ids).
	_, scoped, err := f.state.CreateToken(context.Background(), state.NewToken{Name: "tenant", Role: store.RoleAdmin, ClientID: "acme-corp"}, "test")
	require.NoError(t, err)
	requireError(t, f.do(t, http.MethodGet, "/metrics", "", "Authorization", "Bearer "+scoped), http.StatusForbidden, codeForbidden)
}

// TestConfigParsesAreBounded: beyond MaxConfigParses at once, a request
// waits briefly, then is answered 503 with Retry-After.
func TestConfigParsesAreBounded(t *testing.T) {
	t.Parallel()
	f := setup(t, func(o *Options) { o.MaxConfigParses = 1 })
	f.srv.parseWait = 10 * time.Millisecond
	f.srv.parses <- struct{}{} // a parse in progress
	w := f.do(t, http.MethodPost, "/v1/config", "kind: [", "Content-Type", "application/yaml")
	requireError(t, w, http.StatusServiceUnavailable, codeUnavailable)
	require.Equal(t, "1", w.Header().Get("Retry-After"))
	w = f.do(t, http.MethodPut, "/v1/clients/acme-corp/policy", `{}`)
	requireError(t, w, http.StatusServiceUnavailable, codeUnavailable)
	<-f.srv.parses
	w = f.do(t, http.MethodPost, "/v1/config", "kind: [", "Content-Type", "application/yaml")
	requireError(t, w, http.StatusUnprocessableEntity, codeInvalidConfig)
}

// TestConfigBombsCostLittle: deeply nested bodies to POST /v1/config,
// PATCH of a stack (which was re-encoded as indented YAML: 16 KB became
// 128 MB) and PUT of a policy are refused at a bounded cost.
func TestConfigBombsCostLittle(t *testing.T) {
	f := setup(t)
	f.seed(t)
	const depth = 4000
	deep := strings.Repeat("[", depth) + strings.Repeat("]", depth)
	for _, c := range []struct{ method, target, body, ctype string }{
		{http.MethodPost, "/v1/config", "apiVersion: blackwell.io/v1\nkind: Stack\nspec: " + deep + "\n", "application/yaml"},
		{http.MethodPatch, "/v1/stacks/acme-corp/status-page", `{"spec": {"content_types": ` + deep + `}}`, "application/json"},
		{http.MethodPut, "/v1/clients/acme-corp/policy", `{"auto_heal": ` + deep + `}`, "application/json"},
	} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		w := f.do(t, c.method, c.target, c.body, "Content-Type", c.ctype)
		runtime.ReadMemStats(&after)
		require.Equal(t, http.StatusUnprocessableEntity, w.Code, "%s %s: %s", c.method, c.target, w.Body.String())
		require.Contains(t, w.Body.String(), "nested deeper than 64 levels")
		got := after.TotalAlloc - before.TotalAlloc
		require.Less(t, got, uint64(16<<20), "%s %s allocated %d MB", c.method, c.target, got>>20)
	}
}
