package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/egress"
	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
)

// egressResolver answers from a map; other names do not exist.
type egressResolver map[string]string

func (f egressResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	a, ok := f[host]
	if !ok {
		return nil, errors.New("no such host")
	}
	return []netip.Addr{netip.MustParseAddr(a)}, nil
}

// setupEgress is the seeded fixture with the egress allowlist allow, a
// resolver that knows two names, and tokens: "admin" (unscoped) and
// "globex-admin" (scoped to globex).
func setupEgress(t *testing.T, allow string) (*fixture, map[string]string) {
	t.Helper()
	pol, err := egress.Parse(allow)
	require.NoError(t, err)
	f := setup(t, func(o *Options) {
		o.Egress = pol
		o.Resolver = egressResolver{"www.globex.example": "93.184.216.34", "loop.globex.example": "127.0.0.1"}
	})
	f.seed(t)
	secrets := map[string]string{}
	for name, client := range map[string]string{"admin": "", "globex-admin": "globex"} {
		_, secret, err := f.state.CreateToken(context.Background(), state.NewToken{Name: name, Role: store.RoleAdmin, ClientID: client}, "test")
		require.NoError(t, err)
		secrets[name] = secret
	}
	return f, secrets
}

func TestScopedWritesMayNotTargetInternalAddresses(t *testing.T) {
	t.Parallel()
	f, secrets := setupEgress(t, "")
	patch := func(who, resource string) *httptest.ResponseRecorder {
		body := fmt.Sprintf(`{"spec": {"resources": {"x": %s}}}`, resource)
		return f.do(t, http.MethodPatch, "/v1/stacks/globex/site", body, "Authorization", "Bearer "+secrets[who])
	}
	refused := []struct {
		resource, host string
	}{
		{`{"probe": "http", "url": "http://127.0.0.1:8080/v1/tokens"}`, "127.0.0.1"},
		{`{"probe": "http", "url": "http://169.254.169.254/latest/meta-data/"}`, "169.254.169.254"},
		{`{"probe": "http", "url": "http://localhost:5432/"}`, "localhost"},
		{`{"probe": "http", "url": "https://loop.globex.example/", "body_match": "x"}`, "loop.globex.example"},
		{`{"probe": "tcp", "address": "[::1]:22"}`, "::1"},
		{`{"probe": "tls", "address": "10.0.0.5:443"}`, "10.0.0.5"},
		{`{"probe": "tcp", "address": "100.64.0.1:22"}`, "100.64.0.1"},
		{`{"probe": "tcp", "address": "0.0.0.0:22"}`, "0.0.0.0"},
	}
	for _, c := range refused {
		w := patch("globex-admin", c.resource)
		e := requireError(t, w, http.StatusUnprocessableEntity, codeTargetNotAllowed)
		require.Contains(t, e.Error.Message, "spec.resources.x.", c.resource)
		require.Contains(t, e.Error.Message, "host "+c.host, c.resource)
	}
	// Nothing was applied.
	rec, err := f.store.GetState(context.Background(), "globex", "site")
	require.NoError(t, err)
	require.Equal(t, "v1.0.0", rec.StateVersion)

	// A public target is fine for the scoped token; anything is for the
	// operator's unscoped one.
	require.Equal(t, http.StatusOK, patch("globex-admin", `{"probe": "http", "url": "https://www.globex.example/"}`).Code)
	for _, c := range refused {
		w := patch("admin", c.resource)
		require.Equal(t, http.StatusOK, w.Code, "%s: %s", c.resource, w.Body.String())
	}

	// Policies: inline channels.
	put := func(who, channel string) *httptest.ResponseRecorder {
		body := fmt.Sprintf(`{"notifications": {"channels": [%s]}}`, channel)
		return f.do(t, http.MethodPut, "/v1/clients/globex/policy", body, "Authorization", "Bearer "+secrets[who])
	}
	webhook := `{"type": "webhook", "url": "http://10.1.2.3/hook", "secret": "${GLOBEX_HOOK_SECRET}"}`
	e := requireError(t, put("globex-admin", webhook), http.StatusUnprocessableEntity, codeTargetNotAllowed)
	require.Contains(t, e.Error.Message, "notifications.channels[0].url: host 10.1.2.3")
	require.Equal(t, http.StatusOK, put("admin", webhook).Code, put("admin", webhook).Body.String())
	// A channel's secret is a reference, whoever writes it.
	literal := `{"type": "webhook", "url": "https://hooks.example.com/x", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}`
	e = requireError(t, put("admin", literal), http.StatusUnprocessableEntity, codeInvalidConfig)
	require.NotContains(t, e.Error.Message+fmt.Sprint(e.Error.Details), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
}

func TestScopedWritesReachWhatTheAllowlistLists(t *testing.T) {
	t.Parallel()
	f, secrets := setupEgress(t, "public,127.0.0.1")
	patch := func(resource string) *httptest.ResponseRecorder {
		body := fmt.Sprintf(`{"spec": {"resources": {"x": %s}}}`, resource)
		return f.do(t, http.MethodPatch, "/v1/stacks/globex/site", body, "Authorization", "Bearer "+secrets["globex-admin"])
	}
	w := patch(`{"probe": "http", "url": "http://localhost:8080/"}`)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	requireError(t, patch(`{"probe": "http", "url": "http://169.254.169.254/"}`), http.StatusUnprocessableEntity, codeTargetNotAllowed)
}
