package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/build"
	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/provider/sanity"
	"github.com/blackwellio/blackwell/internal/provider/shopify"
	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
)

// tenantEnv is the server's environment in the tenant tests: testEnv, the
// variables of other clients and of acme-corp's own set.
func tenantEnv(name string) (string, bool) {
	if v, ok := testEnv(name); ok {
		return v, true
	}
	switch name {
	case "GLOBEX_SHOPIFY_TOKEN", "BLACKWELL_GLOBEX__TOKEN":
		return "globex-secret-value", true
	case "BLACKWELL_ACME_CORP__SANITY_TOKEN":
		return "acme-own-secret-value", true
	}
	return "", false
}

// setupTenant is setupAuth's server with the tenant rules wired as serve
// wires them, plus an admin token scoped to acme-corp and a stack of
// acme-corp whose operator-set command build came from the config file.
func setupTenant(t *testing.T) *authFixture {
	t.Helper()
	reg := provider.NewRegistry(provider.RegistryOptions{Drivers: map[string]provider.Driver{
		"sanity": sanity.New(sanity.Options{}), "shopify": shopify.New(shopify.Options{}),
	}})
	f := &authFixture{fixture: setup(t, func(o *Options) {
		o.Getenv = tenantEnv
		o.ClientSecretPrefix = config.DefaultClientSecretPrefix
		o.CredentialHosts = config.HostPatterns{"*.proxy.acme.example"}
		o.Destinations = func(clientID, stackID, role string, spec config.StackSpec) []string {
			return append(reg.Destinations(clientID, stackID, role, spec), build.Destinations(spec.Providers[role].Build)...)
		}
	}), secrets: map[string]string{}, ids: map[string]string{}}
	f.seed(t)
	// The operator's config file, with serve --allow-command-builds.
	cfg, err := config.ParseWith("blackwell.yaml", []byte(`apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme-corp, stack_id: docs}
spec:
  providers:
    ssg: {name: hugo, build: {driver: command, command: [hugo, --minify]}}
`), tenantEnv, config.Rules{CommandBuilds: true})
	require.NoError(t, err)
	_, err = f.state.Apply(context.Background(), cfg, "config:blackwell.yaml")
	require.NoError(t, err)
	for _, n := range []struct {
		name   string
		role   store.Role
		client string
	}{{"admin", store.RoleAdmin, ""}, {"acme-admin", store.RoleAdmin, "acme-corp"}, {"acme-viewer", store.RoleViewer, "acme-corp"}} {
		tok, secret, err := f.state.CreateToken(context.Background(), state.NewToken{Name: n.name, Role: n.role, ClientID: n.client}, "test")
		require.NoError(t, err)
		f.secrets[n.name], f.ids[n.name] = secret, tok.ID
	}
	return f
}

// cmsSpec is a PATCH body for acme-corp/cms-ecom-prod: its sanity binding
// with the given settings and token, and its hook build.
func cmsSpec(settings, token string) string {
	return `{"spec": {"providers": {
		"cms": {"name": "sanity", "settings": ` + settings + `, "credentials": {"token": "` + token + `"}, "webhook_secret": "${SANITY_WEBHOOK_SECRET}"},
		"ssg": {"name": "nextjs", "build": {"driver": "hook", "url": "${NETLIFY_BUILD_HOOK}"}}},
		"resources": {"site": {"probe": "http", "url": "https://www.acme.example/v2"}}}}`
}

const acmeSanity = `{"project_id": "abc123", "dataset": "production"}`

// requireRefused checks a 422 invalid_config whose problems name want (a
// field and what is wrong) and no secret value, and that nothing changed.
func requireRefused(t *testing.T, f *authFixture, w *httptest.ResponseRecorder, stack string, want ...string) {
	t.Helper()
	e := requireError(t, w, http.StatusUnprocessableEntity, codeInvalidConfig)
	var msgs []string
	for _, d := range e.Error.Details {
		msgs = append(msgs, d.Message)
	}
	all := strings.Join(msgs, "\n")
	for _, s := range want {
		require.Contains(t, all, s)
	}
	for _, v := range []string{"globex-secret-value", "acme-own-secret-value", "secret-sanity_token", "build_hooks/abc"} {
		require.NotContains(t, w.Body.String(), v, "a secret value in the answer")
	}
	rec, err := f.store.GetState(context.Background(), "acme-corp", stack)
	require.NoError(t, err)
	require.Equal(t, "v1.0.0", rec.StateVersion, "a refused document applies nothing")
}

// Attack 1: a command build through the API runs a program on the server.
func TestAPIRefusesCommandBuilds(t *testing.T) {
	t.Parallel()
	f := setupTenant(t)
	cmd := `{"spec": {"providers": {"ssg": {"name": "hugo", "build": {"driver": "command", "command": ["sh", "-c", "env"]}}}}}`
	for _, who := range []string{"acme-admin", "admin"} {
		requireRefused(t, f, f.as(t, who, "PATCH", "/v1/stacks/acme-corp/status-page", cmd), "status-page",
			"spec.providers.ssg.build.driver: a command build cannot be set or changed through the API")
		// Changing the operator's command is refused too.
		requireRefused(t, f, f.as(t, who, "PATCH", "/v1/stacks/acme-corp/docs", cmd), "docs",
			"a command build cannot be set or changed through the API")
	}
	yaml := "apiVersion: blackwell.io/v1\nkind: Stack\nmetadata: {client_id: acme-corp, stack_id: status-page}\nspec:\n  providers:\n    ssg: {name: hugo, build: {driver: command, command: [id]}}\n"
	w := f.as(t, "admin", "POST", "/v1/config", yaml, "Content-Type", "application/yaml")
	requireRefused(t, f, w, "status-page", "a command build cannot be set or changed through the API")

	// The operator's command build, kept byte for byte, passes: a tenant
	// may still change the stack's other fields.
	keep := `{"spec": {"providers": {"ssg": {"name": "hugo", "build": {"driver": "command", "command": ["hugo", "--minify"]}}},
		"resources": {"site": {"probe": "http", "url": "https://docs.acme.example/"}}}}`
	rec := decodeAs[store.StateRecord](t, f.as(t, "acme-admin", "PATCH", "/v1/stacks/acme-corp/docs", keep), http.StatusOK)
	require.Equal(t, "v1.1.0", rec.StateVersion)
}

// Attack 2a: a scoped admin refers to a variable that is not its client's.
func TestScopedAdminIsConfinedToItsClientsVariables(t *testing.T) {
	t.Parallel()
	f := setupTenant(t)
	requireRefused(t, f, f.as(t, "acme-admin", "PATCH", "/v1/stacks/acme-corp/cms-ecom-prod", cmsSpec(acmeSanity, "${GLOBEX_SHOPIFY_TOKEN}")), "cms-ecom-prod",
		"spec.providers.cms.credentials.token: ${GLOBEX_SHOPIFY_TOKEN} is not a variable of client acme-corp (its own are named BLACKWELL_ACME_CORP__*)")
	// A variable of the stored state, in another field, is not its either.
	requireRefused(t, f, f.as(t, "acme-admin", "PATCH", "/v1/stacks/acme-corp/cms-ecom-prod", cmsSpec(acmeSanity, "${SANITY_WEBHOOK_SECRET}")), "cms-ecom-prod",
		"spec.providers.cms.credentials.token: ${SANITY_WEBHOOK_SECRET} is not a variable of client acme-corp")

	// The reference the operator assigned in the config file stays usable,
	// and so is the client's own set.
	rec := decodeAs[store.StateRecord](t, f.as(t, "acme-admin", "PATCH", "/v1/stacks/acme-corp/cms-ecom-prod", cmsSpec(acmeSanity, "${SANITY_TOKEN}")), http.StatusOK)
	require.Equal(t, "v1.1.0", rec.StateVersion)
	rec = decodeAs[store.StateRecord](t, f.as(t, "acme-admin", "PATCH", "/v1/stacks/acme-corp/cms-ecom-prod", cmsSpec(acmeSanity, "${BLACKWELL_ACME_CORP__SANITY_TOKEN}")), http.StatusOK)
	require.Equal(t, "v1.2.0", rec.StateVersion)

	// An unscoped admin is the operator: any variable.
	rec = decodeAs[store.StateRecord](t, f.as(t, "admin", "PATCH", "/v1/stacks/acme-corp/cms-ecom-prod", cmsSpec(acmeSanity, "${GLOBEX_SHOPIFY_TOKEN}")), http.StatusOK)
	require.Equal(t, "v1.3.0", rec.StateVersion)
}

// Attack 2b: a scoped admin points its binding's API at its own host.
func TestScopedAdminCannotRedirectCredentials(t *testing.T) {
	t.Parallel()
	f := setupTenant(t)
	for _, settings := range []string{
		`{"project_id": "abc123", "api_base": "https://evil.example"}`,
		`{"project_id": "evil"}`, // https://evil.api.sanity.io
	} {
		requireRefused(t, f, f.as(t, "acme-admin", "PATCH", "/v1/stacks/acme-corp/cms-ecom-prod", cmsSpec(settings, "${SANITY_TOKEN}")), "cms-ecom-prod",
			"spec.providers.cms: a token scoped to a client cannot send this binding's credentials to a new destination",
			"the stored desired state sends them to https://abc123.api.sanity.io")
	}
	// Another provider on the role sends elsewhere too.
	body := `{"spec": {"providers": {"cms": {"name": "shopify", "settings": {"shop": "evil.example"}, "credentials": {"token": "${SANITY_TOKEN}"}}}}}`
	requireRefused(t, f, f.as(t, "acme-admin", "PATCH", "/v1/stacks/acme-corp/cms-ecom-prod", body), "cms-ecom-prod",
		"new destination (https://evil.example;")
	// A build hook elsewhere.
	body = `{"spec": {"providers": {"ssg": {"name": "nextjs", "build": {"driver": "hook", "url": "https://evil.example/${BLACKWELL_ACME_CORP__SANITY_TOKEN}"}}}}}`
	requireRefused(t, f, f.as(t, "acme-admin", "PATCH", "/v1/stacks/acme-corp/cms-ecom-prod", body), "cms-ecom-prod",
		"spec.providers.ssg: a token scoped to a client cannot send this binding's credentials to a new destination (https://evil.example;")

	// A host the operator allows, and the unscoped admin, may.
	rec := decodeAs[store.StateRecord](t, f.as(t, "acme-admin", "PATCH", "/v1/stacks/acme-corp/cms-ecom-prod",
		cmsSpec(`{"project_id": "abc123", "api_base": "https://eu.proxy.acme.example"}`, "${SANITY_TOKEN}")), http.StatusOK)
	require.Equal(t, "v1.1.0", rec.StateVersion)
	rec = decodeAs[store.StateRecord](t, f.as(t, "admin", "PATCH", "/v1/stacks/acme-corp/cms-ecom-prod",
		cmsSpec(`{"project_id": "abc123", "api_base": "https://sanity-mirror.example"}`, "${SANITY_TOKEN}")), http.StatusOK)
	require.Equal(t, "v1.2.0", rec.StateVersion)
}

// https for credential URLs, and no literal secrets, whoever writes.
func TestAPIRequiresHTTPSAndSecretReferences(t *testing.T) {
	t.Parallel()
	f := setupTenant(t)
	for _, who := range []string{"admin", "acme-admin"} {
		requireRefused(t, f, f.as(t, who, "PATCH", "/v1/stacks/acme-corp/cms-ecom-prod",
			cmsSpec(`{"project_id": "abc123", "api_base": "http://abc123.api.sanity.io"}`, "${SANITY_TOKEN}")), "cms-ecom-prod",
			"spec.providers.cms.settings.api_base: must be an https URL: credentials are sent there")
		requireRefused(t, f, f.as(t, who, "PATCH", "/v1/stacks/acme-corp/cms-ecom-prod", cmsSpec(acmeSanity, "sk-literal-token")), "cms-ecom-prod",
			"spec.providers.cms.credentials.token: must be a ${VAR} reference, not the secret itself")
	}
	// Loopback (the demo's and tests' fakes) is fine over http.
	rec := decodeAs[store.StateRecord](t, f.as(t, "admin", "PATCH", "/v1/stacks/acme-corp/cms-ecom-prod",
		cmsSpec(`{"project_id": "abc123", "api_base": "http://127.0.0.1:8081"}`, "${SANITY_TOKEN}")), http.StatusOK)
	require.Equal(t, "v1.1.0", rec.StateVersion)
}

// The config file path is unchanged: examples/blackwell.yaml's unprefixed
// references apply through POST /v1/config by the operator.
func TestOperatorConfigKeepsWorking(t *testing.T) {
	t.Parallel()
	f := setupTenant(t)
	data, err := os.ReadFile("testdata/blackwell.yaml")
	require.NoError(t, err)
	w := f.as(t, "admin", "POST", "/v1/config", string(data), "Content-Type", "application/yaml")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	requireError(t, f.as(t, "acme-admin", "POST", "/v1/config", string(data), "Content-Type", "application/yaml"), http.StatusForbidden, codeForbidden)
}

// Build output lives in events, which a scoped token reads only for its
// client.
func TestBuildOutputIsClientFiltered(t *testing.T) {
	t.Parallel()
	f := setupTenant(t)
	payload, err := json.Marshal(build.BuildResult{Driver: "command", Status: build.StatusFailed, Output: "globex build output"})
	require.NoError(t, err)
	_, err = f.store.InsertEvents(context.Background(), []store.Event{{
		EventID: "build:globex:site:command:1", ClientID: "globex", StackID: "site", ProviderName: "hugo",
		EventType: build.EventFailed, Timestamp: f.now, ReceivedAt: f.now, TTLTimestamp: f.now.Unix() + 3600, Payload: payload,
	}})
	require.NoError(t, err)
	w := f.as(t, "acme-viewer", "GET", "/v1/events", "")
	require.Equal(t, http.StatusOK, w.Code)
	require.NotContains(t, w.Body.String(), "globex build output")
	requireError(t, f.as(t, "acme-viewer", "GET", "/v1/events?client_id=globex", ""), http.StatusForbidden, codeForbidden)
	require.Contains(t, f.as(t, "admin", "GET", "/v1/events?client_id=globex", "").Body.String(), "globex build output")
}
