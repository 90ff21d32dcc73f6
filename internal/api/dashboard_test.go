package api

import (
	"context"
	"net/http"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
)

// The dashboard page and its files are public, from any address and once
// tokens exist; the data the page reads is not.
func TestDashboardIsPublicItsDataIsNot(t *testing.T) {
	t.Parallel()
	f := setup(t)
	_, _, err := f.state.CreateToken(context.Background(), state.NewToken{Name: "ops", Role: store.RoleViewer}, "test")
	require.NoError(t, err)
	remote := []string{"X-Forwarded-For", "203.0.113.9"} // not this machine

	w := f.do(t, "GET", "/", "", remote...)
	require.Equal(t, http.StatusOK, w.Code)
	require.Equal(t, "text/html; charset=utf-8", w.Header().Get("Content-Type"))
	require.Equal(t, "no-cache", w.Header().Get("Cache-Control"))
	require.NotEmpty(t, w.Header().Get("Content-Security-Policy"))
	require.NotEmpty(t, w.Header().Get(requestIDHeader))

	script := regexp.MustCompile(`src="(/ui/app\.[0-9a-f]{12}\.js)"`).FindStringSubmatch(w.Body.String())
	require.NotNil(t, script, "the page links its hashed script")
	w = f.do(t, "GET", script[1], "", remote...)
	require.Equal(t, http.StatusOK, w.Code)
	require.Equal(t, "text/javascript; charset=utf-8", w.Header().Get("Content-Type"))
	require.Contains(t, w.Header().Get("Cache-Control"), "immutable")

	requireError(t, f.do(t, "GET", "/ui/secrets.json", "", remote...), http.StatusNotFound, codeNotFound)
	requireError(t, f.do(t, "GET", "/v1/stacks", "", remote...), http.StatusUnauthorized, codeUnauthorized)
	requireError(t, f.do(t, "GET", "/v1/stacks", ""), http.StatusUnauthorized, codeUnauthorized)
	w = f.do(t, "POST", "/", "")
	requireError(t, w, http.StatusMethodNotAllowed, codeMethodNotAllowed)
}
