package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/audit"
	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

func TestEveryRouteHasAccess(t *testing.T) {
	t.Parallel()
	f := setup(t)
	table := routeAccess()
	for _, rt := range f.srv.routes() {
		pattern := rt.method + " " + rt.path
		_, ok := table[pattern]
		require.True(t, ok, "route %s has no entry in routeAccess (auth.go): say which role and client scope it needs", pattern)
	}
	for pattern, a := range table {
		if a.role == "" {
			require.Regexp(t, `^(GET /(healthz|readyz|metrics|\{\$\}|ui/)|POST /v1/webhooks/)`, pattern, "only health, metrics, webhooks and the dashboard are public")
		}
		if strings.HasPrefix(pattern, "GET ") && a.role != "" && pattern != "GET /v1/tokens" {
			require.Equal(t, store.RoleViewer, a.role, "%s: reads need viewer, except tokens", pattern)
		}
	}
}

func TestAccessOfUnlistedRoutes(t *testing.T) {
	t.Parallel()
	require.Equal(t, access{role: store.RoleViewer, scope: scopeGlobal}, accessOf(nil, "GET /v1/new"))
	require.Equal(t, access{role: store.RoleAdmin, scope: scopeGlobal}, accessOf(nil, "POST /v1/new"))
	require.Equal(t, access{role: store.RoleAdmin, scope: scopeGlobal}, accessOf(nil, "DELETE /v1/new/{id}"))
}

func TestRoleAllows(t *testing.T) {
	t.Parallel()
	cases := []struct {
		have, need store.Role
		ok         bool
	}{
		{store.RoleViewer, store.RoleViewer, true},
		{store.RoleViewer, store.RoleOperator, false},
		{store.RoleViewer, store.RoleAdmin, false},
		{store.RoleOperator, store.RoleViewer, true},
		{store.RoleOperator, store.RoleOperator, true},
		{store.RoleOperator, store.RoleAdmin, false},
		{store.RoleAdmin, store.RoleViewer, true},
		{store.RoleAdmin, store.RoleOperator, true},
		{store.RoleAdmin, store.RoleAdmin, true},
		{"root", store.RoleViewer, false},
		{"", store.RoleViewer, false},
		{store.RoleAdmin, "root", false},
	}
	for _, c := range cases {
		require.Equal(t, c.ok, c.have.Allows(c.need), "%q allows %q", c.have, c.need)
	}
}

// TestPermit is the table of role and client-scope rules.
func TestPermit(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tok := func(role store.Role, client string) principal {
		return principal{token: &store.Token{ID: "tok_x", Name: "x", Role: role, ClientID: client}}
	}
	cases := []struct {
		name      string
		p         principal
		pattern   string
		target    string
		status    int    // 0: allowed
		wantQuery string // the query the handler sees, when allowed
	}{
		{"the bootstrap token may do anything", principal{bootstrap: true}, "POST /v1/config", "/v1/config", 0, ""},
		{"viewer reads a stack", tok(store.RoleViewer, ""), "GET /v1/stacks/{client_id}/{stack_id}", "/v1/stacks/acme/web", 0, ""},
		{"viewer may not reconcile", tok(store.RoleViewer, ""), "POST /v1/stacks/{client_id}/{stack_id}/reconcile", "/v1/stacks/acme/web/reconcile", 403, ""},
		{"operator reconciles", tok(store.RoleOperator, ""), "POST /v1/stacks/{client_id}/{stack_id}/reconcile", "/v1/stacks/acme/web/reconcile", 0, ""},
		{"operator acknowledges", tok(store.RoleOperator, ""), "POST /v1/clients/{client_id}/drift/{drift_id}/ack", "/v1/clients/acme/drift/d1/ack", 0, ""},
		{"operator rolls back", tok(store.RoleOperator, ""), "POST /v1/stacks/{client_id}/{stack_id}/rollback", "/v1/stacks/acme/web/rollback", 0, ""},
		{"operator approves", tok(store.RoleOperator, ""), "POST /v1/approvals/{id}/approve", "/v1/approvals/a1/approve", 0, ""},
		{"operator may not set policy", tok(store.RoleOperator, ""), "PUT /v1/clients/{client_id}/policy", "/v1/clients/acme/policy", 403, ""},
		{"operator may not apply config", tok(store.RoleOperator, ""), "POST /v1/config", "/v1/config", 403, ""},
		{"operator may not patch a stack", tok(store.RoleOperator, ""), "PATCH /v1/stacks/{client_id}/{stack_id}", "/v1/stacks/acme/web", 403, ""},
		{"operator may not list tokens", tok(store.RoleOperator, ""), "GET /v1/tokens", "/v1/tokens", 403, ""},
		{"admin applies config", tok(store.RoleAdmin, ""), "POST /v1/config", "/v1/config", 0, ""},
		{"admin manages tokens", tok(store.RoleAdmin, ""), "POST /v1/tokens", "/v1/tokens", 0, ""},

		{"scoped: own client in the path", tok(store.RoleViewer, "acme"), "GET /v1/clients/{client_id}/drift", "/v1/clients/acme/drift", 0, ""},
		{"scoped: other client in the path", tok(store.RoleAdmin, "acme"), "GET /v1/clients/{client_id}/drift", "/v1/clients/globex/drift", 403, ""},
		{"scoped: other client's stack", tok(store.RoleAdmin, "acme"), "PATCH /v1/stacks/{client_id}/{stack_id}", "/v1/stacks/globex/web", 403, ""},
		{"scoped: own policy as admin", tok(store.RoleAdmin, "acme"), "PUT /v1/clients/{client_id}/policy", "/v1/clients/acme/policy", 0, ""},
		{"scoped: list filtered to the client", tok(store.RoleViewer, "acme"), "GET /v1/stacks", "/v1/stacks?limit=5", 0, "client_id=acme&limit=5"},
		{"scoped: list asking for the client", tok(store.RoleViewer, "acme"), "GET /v1/audit", "/v1/audit?client_id=acme", 0, "client_id=acme"},
		{"scoped: list asking for another client", tok(store.RoleViewer, "acme"), "GET /v1/events", "/v1/events?client_id=globex", 403, ""},
		{"scoped: config is for every client", tok(store.RoleAdmin, "acme"), "POST /v1/config", "/v1/config", 403, ""},
		{"scoped: alerts are for every client", tok(store.RoleOperator, "acme"), "POST /v1/alerts", "/v1/alerts", 403, ""},
		{"scoped: approvals by id", tok(store.RoleOperator, "acme"), "POST /v1/approvals/{id}/approve", "/v1/approvals/a1/approve", 403, ""},
		{"scoped: tokens", tok(store.RoleAdmin, "acme"), "GET /v1/tokens", "/v1/tokens", 403, ""},
		{"scoped: the OpenAPI document", tok(store.RoleViewer, "acme"), "GET /v1/openapi.json", "/v1/openapi.json", 0, ""},
	}
	table := routeAccess()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, ok := table[c.pattern]
			require.True(t, ok, "no route %s", c.pattern)
			req := httptest.NewRequest(strings.Fields(c.pattern)[0], c.target, nil)
			// Path values as the mux sets them.
			pat := strings.Split(strings.Fields(c.pattern)[1], "/")
			got := strings.Split(req.URL.Path, "/")
			for i, seg := range pat {
				if strings.HasPrefix(seg, "{") && i < len(got) {
					req.SetPathValue(strings.Trim(seg, "{}"), got[i])
				}
			}
			out, d := f.srv.permit(req, c.p, table[c.pattern], c.pattern)
			if c.status == 0 {
				require.Nil(t, d)
				if c.wantQuery != "" {
					require.Equal(t, c.wantQuery, out.URL.RawQuery)
				}
				return
			}
			require.NotNil(t, d)
			require.Equal(t, c.status, d.status)
		})
	}
}

// authFixture is a server whose store holds one token of each role, and one
// viewer and one operator scoped to acme-corp.
type authFixture struct {
	*fixture
	secrets map[string]string // by name: admin, operator, viewer, acme-viewer, acme-operator
	ids     map[string]string
}

func setupAuth(t *testing.T) *authFixture {
	t.Helper()
	f := &authFixture{fixture: setup(t), secrets: map[string]string{}, ids: map[string]string{}}
	f.bootstrap = "" // tokens exist: every call names its own
	f.seed(t)
	for _, n := range []struct {
		name   string
		role   store.Role
		client string
	}{
		{"admin", store.RoleAdmin, ""}, {"operator", store.RoleOperator, ""}, {"viewer", store.RoleViewer, ""},
		{"acme-viewer", store.RoleViewer, "acme-corp"}, {"acme-operator", store.RoleOperator, "acme-corp"},
		{"globex-admin", store.RoleAdmin, "globex"},
	} {
		tok, secret, err := f.state.CreateToken(context.Background(), state.NewToken{Name: n.name, Role: n.role, ClientID: n.client}, "test")
		require.NoError(t, err)
		f.secrets[n.name], f.ids[n.name] = secret, tok.ID
	}
	return f
}

func (f *authFixture) as(t *testing.T, who, method, target, body string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	return f.do(t, method, target, body, append([]string{"Authorization", "Bearer " + f.secrets[who]}, header...)...)
}

func TestAuthAnswers(t *testing.T) {
	t.Parallel()
	f := setupAuth(t)
	stack := "/v1/stacks/acme-corp/cms-ecom-prod"

	// 401 without a token, with a malformed, unknown or revoked one.
	w := f.do(t, http.MethodGet, "/v1/stacks", "")
	e := requireError(t, w, http.StatusUnauthorized, codeUnauthorized)
	require.Contains(t, e.Error.Message, "API token is required")
	require.Equal(t, `Bearer realm="blackwell"`, w.Header().Get("WWW-Authenticate"))
	requireError(t, f.do(t, http.MethodGet, "/v1/stacks", "", "Authorization", "Basic dXNlcjpwYXNz"), http.StatusUnauthorized, codeUnauthorized)
	requireError(t, f.do(t, http.MethodGet, "/v1/stacks", "", "Authorization", "Bearer"), http.StatusUnauthorized, codeUnauthorized)
	e = requireError(t, f.do(t, http.MethodGet, "/v1/stacks", "", "Authorization", "Bearer bw_notatoken"), http.StatusUnauthorized, codeUnauthorized)
	require.Equal(t, "unknown API token", e.Error.Message)
	// The scheme is case-insensitive.
	require.Equal(t, http.StatusOK, f.do(t, http.MethodGet, "/v1/stacks", "", "Authorization", "bearer "+f.secrets["viewer"]).Code)

	// Public routes need nothing.
	require.Equal(t, http.StatusOK, f.do(t, http.MethodGet, "/healthz", "").Code)
	require.Equal(t, http.StatusOK, f.do(t, http.MethodGet, "/readyz", "").Code)
	require.NotEqual(t, http.StatusUnauthorized, f.do(t, http.MethodPost, "/v1/webhooks/shopify/acme-corp", "{}").Code)

	// 200 / 403 per role.
	type call struct{ method, target, body string }
	read := call{http.MethodGet, stack, ""}
	reconcile := call{http.MethodPost, stack + "/reconcile", ""}
	policy := call{http.MethodPut, "/v1/clients/acme-corp/policy", `{"auto_heal": {"enabled": false}}`}
	want := map[string]map[call]int{
		"viewer":   {read: 200, reconcile: 403, policy: 403},
		"operator": {read: 200, reconcile: 202, policy: 403},
		"admin":    {read: 200, reconcile: 202, policy: 200},
	}
	for who, calls := range want {
		for c, status := range calls {
			w := f.as(t, who, c.method, c.target, c.body)
			require.Equal(t, status, w.Code, "%s %s %s: %s", who, c.method, c.target, w.Body.String())
			if status == 403 {
				requireError(t, w, http.StatusForbidden, codeForbidden)
			}
		}
	}

	// A scoped token sees its client only.
	acme := decodeAs[list[store.StateRecord]](t, f.as(t, "acme-viewer", http.MethodGet, "/v1/stacks", ""), http.StatusOK)
	require.Len(t, acme.Items, 2)
	for _, r := range acme.Items {
		require.Equal(t, "acme-corp", r.ClientID)
	}
	globex := decodeAs[list[store.StateRecord]](t, f.as(t, "globex-admin", http.MethodGet, "/v1/stacks", ""), http.StatusOK)
	require.Len(t, globex.Items, 1)
	for _, r := range globex.Items {
		require.Equal(t, "globex", r.ClientID)
	}
	requireError(t, f.as(t, "globex-admin", http.MethodGet, stack, ""), http.StatusForbidden, codeForbidden)
	requireError(t, f.as(t, "acme-viewer", http.MethodGet, "/v1/stacks?client_id=globex", ""), http.StatusForbidden, codeForbidden)
	requireError(t, f.as(t, "acme-operator", http.MethodPost, "/v1/config", "x: 1", "Content-Type", "application/yaml"), http.StatusForbidden, codeForbidden)
	require.Equal(t, http.StatusAccepted, f.as(t, "acme-operator", http.MethodPost, "/v1/clients/acme-corp/reconcile", "").Code)

	// Revocation takes effect on the next request.
	require.Equal(t, http.StatusOK, f.as(t, "admin", http.MethodPost, "/v1/tokens/"+f.ids["viewer"]+"/revoke", "").Code)
	e = requireError(t, f.as(t, "viewer", http.MethodGet, stack, ""), http.StatusUnauthorized, codeUnauthorized)
	require.Contains(t, e.Error.Message, "revoked")

	// No secret in the logs.
	for _, secret := range f.secrets {
		require.NotContains(t, f.logs.String(), secret)
	}
}

// TestBootstrapTokenUntilATokenExists: before the first token, only the
// bootstrap token opens the API, from wherever the request comes (a proxy
// or a browser on this machine earns nothing); the first token ends it,
// even once revoked.
func TestBootstrapTokenUntilATokenExists(t *testing.T) {
	t.Parallel()
	f := setup(t)
	call := func(addr string, header ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/v1/stacks", nil)
		req.RemoteAddr = addr
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		w := httptest.NewRecorder()
		f.srv.ServeHTTP(w, req)
		return w
	}
	boot := []string{"Authorization", "Bearer " + testBootstrap}
	// Without it, nobody: not loopback, not a loopback proxy.
	e := requireError(t, call("127.0.0.1:4000"), http.StatusUnauthorized, codeUnauthorized)
	require.Contains(t, e.Error.Message, "bootstrap token")
	requireError(t, call("[::1]:4000"), http.StatusUnauthorized, codeUnauthorized)
	requireError(t, call("127.0.0.1:4000", "Authorization", "Bearer bwb_wrong"), http.StatusUnauthorized, codeUnauthorized)
	// With it, anyone who holds it.
	require.Equal(t, http.StatusOK, call("127.0.0.1:4000", boot...).Code)
	require.Equal(t, http.StatusOK, call("192.0.2.7:4000", boot...).Code)

	// A server given no bootstrap token answers nobody before a token.
	closed := setup(t, func(o *Options) { o.BootstrapToken = "" })
	w := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/v1/stacks", nil)
	req.RemoteAddr = "127.0.0.1:4000"
	req.Header.Set("Authorization", "Bearer ")
	closed.srv.ServeHTTP(w, req)
	requireError(t, w, http.StatusUnauthorized, codeUnauthorized)

	// The first token ends the bootstrap token, also once revoked.
	tok, secret, err := f.state.CreateToken(context.Background(), state.NewToken{Name: "first", Role: store.RoleAdmin}, "test")
	require.NoError(t, err)
	e = requireError(t, call("127.0.0.1:4000", boot...), http.StatusUnauthorized, codeUnauthorized)
	require.Contains(t, e.Error.Message, "stopped working")
	require.Equal(t, http.StatusOK, call("127.0.0.1:4000", "Authorization", "Bearer "+secret).Code)
	_, err = f.state.RevokeToken(context.Background(), tok.ID, "test")
	require.NoError(t, err)
	requireError(t, call("127.0.0.1:4000", boot...), http.StatusUnauthorized, codeUnauthorized)
}

// TestBootstrapTokenCreatesTheFirstToken: the bootstrap token can create
// the first real token through the API; the audit entry names it.
func TestBootstrapTokenCreatesTheFirstToken(t *testing.T) {
	t.Parallel()
	f := setup(t)
	w := f.do(t, http.MethodPost, "/v1/tokens", `{"name":"ops","role":"admin"}`)
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	requireError(t, f.do(t, http.MethodGet, "/v1/stacks", ""), http.StatusUnauthorized, codeUnauthorized)
	all, _, err := f.store.ListAudit(context.Background(), store.AuditQuery{Action: "token_created", Limit: 10})
	require.NoError(t, err)
	require.Len(t, all, 1)
	require.Equal(t, "bootstrap", all[0].TriggeredBy)
}

func TestWritesAreAuditedWithTheToken(t *testing.T) {
	t.Parallel()
	f := setupAuth(t)
	ctx := context.Background()
	before, _, err := f.store.ListAudit(ctx, store.AuditQuery{Limit: 1000})
	require.NoError(t, err)

	require.Equal(t, http.StatusAccepted, f.as(t, "operator", http.MethodPost, "/v1/stacks/acme-corp/cms-ecom-prod/reconcile", "").Code)
	require.Equal(t, http.StatusForbidden, f.as(t, "viewer", http.MethodPost, "/v1/stacks/acme-corp/cms-ecom-prod/reconcile", "").Code)
	require.Equal(t, http.StatusOK, f.as(t, "admin", http.MethodPut, "/v1/clients/acme-corp/policy", `{"auto_heal": {"enabled": false}}`).Code)
	// Reads are not audited.
	require.Equal(t, http.StatusOK, f.as(t, "viewer", http.MethodGet, "/v1/audit", "").Code)

	all, _, err := f.store.ListAudit(ctx, store.AuditQuery{Limit: 1000})
	require.NoError(t, err)
	require.NoError(t, audit.Verify(all))
	got := all[len(before):]
	type row struct{ action, by, client, stack string }
	var rows []row
	for _, e := range got {
		rows = append(rows, row{e.Action, e.TriggeredBy, e.ClientID, e.StackID})
		for _, s := range f.secrets {
			require.NotContains(t, string(e.ChangesMade), s)
			require.NotContains(t, e.TriggeredBy, s)
		}
	}
	op := "token:" + f.ids["operator"] + " (operator)"
	vw := "token:" + f.ids["viewer"] + " (viewer)"
	ad := "token:" + f.ids["admin"] + " (admin)"
	require.Equal(t, []row{
		{"reconcile_requested", op, "acme-corp", "cms-ecom-prod"},
		{"token_used", op, "acme-corp", "cms-ecom-prod"},
		{"token_used", vw, "acme-corp", "cms-ecom-prod"},
		{"policy_changed", ad, "acme-corp", ""},
		{"token_used", ad, "acme-corp", ""},
	}, rows)
	require.True(t, got[1].Success)
	require.False(t, got[2].Success, "a refused write is audited as a failure")
	var changes map[string]any
	require.NoError(t, json.Unmarshal(got[2].ChangesMade, &changes))
	require.Equal(t, float64(403), changes["status"])
	require.Equal(t, "POST /v1/stacks/{client_id}/{stack_id}/reconcile", changes["route"])

	// The token's last use is recorded.
	tok, err := f.store.GetToken(ctx, f.ids["operator"])
	require.NoError(t, err)
	require.NotNil(t, tok.LastUsedAt)
}

func TestTokenRoutes(t *testing.T) {
	t.Parallel()
	f := setupAuth(t)
	w := f.as(t, "admin", http.MethodPost, "/v1/tokens", `{"name": "deploy", "role": "operator", "client_id": "acme-corp"}`)
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	require.Equal(t, "no-store", w.Header().Get("Cache-Control"))
	var created createdToken
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &created))
	require.True(t, strings.HasPrefix(created.Secret, state.TokenPrefix))
	require.Equal(t, store.RoleOperator, created.Token.Role)
	require.NotContains(t, w.Body.String(), state.HashTokenSecret(created.Secret), "the hash is not shown")

	// The new token works at once, within its scope.
	require.Equal(t, http.StatusAccepted, f.do(t, http.MethodPost, "/v1/clients/acme-corp/reconcile", "", "Authorization", "Bearer "+created.Secret).Code)

	tokens := decodeAs[list[store.Token]](t, f.as(t, "admin", http.MethodGet, "/v1/tokens", ""), http.StatusOK)
	require.Len(t, tokens.Items, 7)
	raw := f.as(t, "admin", http.MethodGet, "/v1/tokens", "").Body.String()
	require.NotContains(t, raw, "secret")
	require.NotContains(t, raw, created.Secret)

	requireError(t, f.as(t, "admin", http.MethodPost, "/v1/tokens", `{"name": "x", "role": "root"}`), http.StatusUnprocessableEntity, codeInvalid)
	requireError(t, f.as(t, "admin", http.MethodPost, "/v1/tokens/tok_missing/revoke", ""), http.StatusNotFound, codeNotFound)
	requireError(t, f.as(t, "globex-admin", http.MethodPost, "/v1/tokens", `{"name": "x", "role": "admin"}`), http.StatusForbidden, codeForbidden)
	require.NotContains(t, f.logs.String(), created.Secret)

	entries, _, err := f.store.ListAudit(context.Background(), store.AuditQuery{Action: "token_created", Limit: 1000})
	require.NoError(t, err)
	last := entries[len(entries)-1]
	require.Equal(t, "token:"+f.ids["admin"]+" (admin)", last.TriggeredBy)
	require.Equal(t, "acme-corp", last.ClientID)
}

func TestAuditFiltersAndCheckpoint(t *testing.T) {
	t.Parallel()
	f := setup(t)
	key, err := audit.GenerateKey()
	require.NoError(t, err)
	ans := decodeAs[checkpointAnswer](t, f.do(t, http.MethodGet, "/v1/audit/checkpoint", ""), http.StatusOK)
	require.Nil(t, ans.Checkpoint)
	require.Empty(t, ans.PublicKey)

	f = setup(t, func(o *Options) { o.AuditPublicKey = key.Public() })
	ctx := context.Background()
	for i := range 4 {
		require.NoError(t, f.store.AppendAudit(ctx, []store.AuditEntry{{Timestamp: f.now.Add(time.Duration(i) * time.Hour), Action: "x", ClientID: "acme-corp"}}))
	}
	page := decodeAs[list[store.AuditEntry]](t, f.do(t, http.MethodGet, "/v1/audit?since=2025-10-10T05:00:00Z&until=2025-10-10T07:00:00Z", ""), http.StatusOK)
	require.Len(t, page.Items, 2)
	require.Equal(t, int64(2), page.Items[0].Seq)
	requireError(t, f.do(t, http.MethodGet, "/v1/audit?since=yesterday", ""), http.StatusBadRequest, codeBadRequest)
	requireError(t, f.do(t, http.MethodGet, "/v1/audit?since=2025-10-10T05:00:00Z&until=2025-10-10T05:00:00Z", ""), http.StatusBadRequest, codeBadRequest)

	p := &audit.Pruner{Store: f.store, Key: key, Now: func() time.Time { return f.now }}
	n, err := p.Prune(ctx, f.now.Add(2*time.Hour), 100)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	ans = decodeAs[checkpointAnswer](t, f.do(t, http.MethodGet, "/v1/audit/checkpoint", ""), http.StatusOK)
	require.NotNil(t, ans.Checkpoint)
	require.Equal(t, int64(2), ans.Checkpoint.Seq)
	pub, err := audit.ParsePublicKey([]byte(ans.PublicKey))
	require.NoError(t, err)
	require.NoError(t, audit.VerifyCheckpoint(pub, *ans.Checkpoint))
	require.Equal(t, key.ID(), ans.KeyID)
}

// BenchmarkAuth measures what authentication adds to a request: the same
// read with the bootstrap token (one HasTokens query) and with a token (a
// lookup by the secret's hash).
func BenchmarkAuth(b *testing.B) {
	for _, withToken := range []bool{false, true} {
		name := "bootstrap"
		if withToken {
			name = "token"
		}
		b.Run(name, func(b *testing.B) {
			st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "b.db"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = st.Close() })
			svc := state.New(st, state.Options{})
			srv := New(Options{Store: st, State: svc, BootstrapToken: testBootstrap})
			header := []string{"Authorization", "Bearer " + testBootstrap}
			if withToken {
				_, secret, err := svc.CreateToken(context.Background(), state.NewToken{Name: "bench", Role: store.RoleViewer}, "bench")
				if err != nil {
					b.Fatal(err)
				}
				header = []string{"Authorization", "Bearer " + secret}
			}
			b.ResetTimer()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, "/v1/audit/checkpoint", nil)
				for i := 0; i+1 < len(header); i += 2 {
					req.Header.Set(header[i], header[i+1])
				}
				w := httptest.NewRecorder()
				srv.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body.String())
				}
			}
		})
	}
}

// TestCrossClientAttemptIsTheCallersEntry: a scoped token's refused write
// on another client is audited under the token's own client, so the other
// client's viewers never see another tenant's id or token names (found by
// TestTenantIsolation in cmd/blackwell). Before the fix the entry was filed
// under the path's client.
func TestCrossClientAttemptIsTheCallersEntry(t *testing.T) {
	t.Parallel()
	f := setupAuth(t)
	ctx := context.Background()
	require.Equal(t, http.StatusForbidden, f.as(t, "globex-admin", http.MethodPost, "/v1/stacks/acme-corp/cms-ecom-prod/reconcile", "").Code)
	all, _, err := f.store.ListAudit(ctx, store.AuditQuery{Action: "token_used", Limit: 10})
	require.NoError(t, err)
	require.Len(t, all, 1)
	require.Equal(t, "globex", all[0].ClientID)
	require.Empty(t, all[0].StackID)
	require.False(t, all[0].Success)
	require.Contains(t, string(all[0].ChangesMade), `"path":"/v1/stacks/acme-corp/cms-ecom-prod/reconcile"`)

	// acme-corp's viewer does not see it; globex's admin does.
	w := f.as(t, "acme-viewer", http.MethodGet, "/v1/audit?action=token_used", "")
	require.Equal(t, http.StatusOK, w.Code)
	require.NotContains(t, w.Body.String(), "globex")
	w = f.as(t, "globex-admin", http.MethodGet, "/v1/audit?action=token_used", "")
	require.Contains(t, w.Body.String(), f.ids["globex-admin"])
}

// TestRouteRules: the exported table is routeAccess, every served route in
// it, with the scope names the cross-tenant suite expects.
func TestRouteRules(t *testing.T) {
	t.Parallel()
	f := setup(t)
	rules := RouteRules()
	byPattern := map[string]RouteRule{}
	for _, r := range rules {
		byPattern[r.Pattern] = r
		require.Contains(t, []string{"", "global", "path", "query", "none"}, r.Scope, r.Pattern)
		require.Equal(t, r.Role == "", r.Scope == "", "%s: public routes, and only they, have no scope", r.Pattern)
	}
	require.Len(t, byPattern, len(routeAccess()))
	for _, rt := range f.srv.routes() {
		_, ok := byPattern[rt.method+" "+rt.path]
		require.True(t, ok, rt.method+" "+rt.path)
	}
	require.Equal(t, RouteRule{Pattern: "GET /v1/events", Role: store.RoleViewer, Scope: "query"}, byPattern["GET /v1/events"])
}

// TestWhoami: any token learns its own role and client scope, never its
// secret; the bootstrap token is an unscoped admin; no token is 401.
func TestWhoami(t *testing.T) {
	t.Parallel()
	f := setupAuth(t)
	for _, c := range []struct {
		who    string
		role   store.Role
		client string
	}{
		{"viewer", store.RoleViewer, ""}, {"acme-operator", store.RoleOperator, "acme-corp"}, {"globex-admin", store.RoleAdmin, "globex"},
	} {
		w := f.as(t, c.who, http.MethodGet, "/v1/whoami", "")
		got := decodeAs[caller](t, w, http.StatusOK)
		require.Equal(t, caller{TokenID: f.ids[c.who], Name: c.who, Role: c.role, ClientID: c.client}, got)
		require.NotContains(t, w.Body.String(), f.secrets[c.who])
	}
	requireError(t, f.do(t, http.MethodGet, "/v1/whoami", ""), http.StatusUnauthorized, codeUnauthorized)

	boot := setup(t)
	got := decodeAs[caller](t, boot.do(t, http.MethodGet, "/v1/whoami", ""), http.StatusOK)
	require.Equal(t, caller{Name: actorBootstrap, Role: store.RoleAdmin, Bootstrap: true}, got)
}
