package web

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

type served struct {
	status int
	header http.Header
	body   string
}

func get(t *testing.T, d *Dashboard, target string, header ...string) served {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	if name, ok := strings.CutPrefix(r.URL.Path, "/ui/"); ok {
		if !d.ServeAsset(w, r, name) {
			return served{status: 0}
		}
	} else {
		d.ServePage(w, r)
	}
	return served{w.Code, w.Header(), w.Body.String()}
}

func TestPage(t *testing.T) {
	t.Parallel()
	d := New()
	p := get(t, d, "/")
	require.Equal(t, http.StatusOK, p.status)
	require.Equal(t, "text/html; charset=utf-8", p.header.Get("Content-Type"))
	require.Equal(t, cacheRevalidate, p.header.Get("Cache-Control"))
	require.Equal(t, contentSecurityPolicy, p.header.Get("Content-Security-Policy"))
	require.Equal(t, "nosniff", p.header.Get("X-Content-Type-Options"))
	require.Equal(t, "DENY", p.header.Get("X-Frame-Options"))
	require.Regexp(t, `^"[0-9a-f]{64}"$`, p.header.Get("ETag"))
	require.True(t, strings.HasPrefix(p.body, "<!doctype html>"))
	require.NotContains(t, p.body, "{{", "the template is rendered")

	// Revalidation: the same ETag answers 304 without a body.
	nm := get(t, d, "/", "If-None-Match", p.header.Get("ETag"))
	require.Equal(t, http.StatusNotModified, nm.status)
	require.Empty(t, nm.body)
	require.Equal(t, http.StatusOK, get(t, d, "/", "If-None-Match", `"other"`).status)
}

// Every file the page links is served under its hashed name, immutable,
// with the right type, and holds what the plain name holds.
func TestPageLinksHashedImmutableAssets(t *testing.T) {
	t.Parallel()
	d := New()
	page := get(t, d, "/").body
	links := regexp.MustCompile(`(?:src|href)="(/ui/([a-z]+)\.([0-9a-f]{12})\.([a-z]+))"`).FindAllStringSubmatch(page, -1)
	wantTypes := map[string]string{
		"js":  "text/javascript; charset=utf-8",
		"css": "text/css; charset=utf-8",
		"svg": "image/svg+xml",
	}
	require.Len(t, links, 4, "the page links its two scripts (charts, app), stylesheet and icon")
	for _, l := range links {
		url, base, ext := l[1], l[2], l[4]
		a := get(t, d, url)
		require.Equal(t, http.StatusOK, a.status, url)
		require.Equal(t, wantTypes[ext], a.header.Get("Content-Type"), url)
		require.Equal(t, cacheImmutable, a.header.Get("Cache-Control"), url)
		require.Equal(t, "nosniff", a.header.Get("X-Content-Type-Options"), url)
		require.Empty(t, a.header.Get("Content-Security-Policy"), "only the page carries the policy")
		require.NotEmpty(t, a.body)

		plain := get(t, d, "/ui/"+base+"."+ext)
		require.Equal(t, http.StatusOK, plain.status)
		require.Equal(t, cacheRevalidate, plain.header.Get("Cache-Control"), "a plain name is revalidated")
		require.Equal(t, a.body, plain.body)
		require.Equal(t, a.header.Get("ETag"), plain.header.Get("ETag"))
		require.Contains(t, l[3], strings.Trim(a.header.Get("ETag"), `"`)[:12], "the name carries the content hash")
	}
}

func TestUnknownAssetsAreNotServed(t *testing.T) {
	t.Parallel()
	d := New()
	for _, name := range []string{"", "index.html", "nope.js", "app.000000000000.js", "../dashboard.go", "assets/app.js", "APP.JS"} {
		r := httptest.NewRequest(http.MethodGet, "/ui/x", nil)
		w := httptest.NewRecorder()
		require.False(t, d.ServeAsset(w, r, name), name)
		require.Empty(t, w.Body.String(), "nothing is written for %q", name)
		require.Empty(t, w.Header(), "no header is set for %q", name)
	}
}

// The page holds no data and loads nothing from another origin.
func TestPageLoadsNothingFromElsewhere(t *testing.T) {
	t.Parallel()
	d := New()
	for _, target := range []string{"/", "/ui/app.js", "/ui/style.css"} {
		body := get(t, d, target).body
		require.NotRegexp(t, `(?i)(src|href)="(https?:)?//`, body, target)
		require.NotContains(t, body, "innerHTML", target)
	}
	js := get(t, d, "/ui/app.js").body
	require.NotContains(t, js, "new EventSource", "the stream is read with fetch, so it carries the Authorization header")
	require.NotContains(t, js, "localStorage", "the token is kept per tab, in sessionStorage")
	require.Contains(t, js, "sessionStorage")
}

func TestHead(t *testing.T) {
	t.Parallel()
	d := New()
	r := httptest.NewRequest(http.MethodHead, "/", nil)
	w := httptest.NewRecorder()
	d.ServePage(w, r)
	require.Equal(t, http.StatusOK, w.Code)
	require.Empty(t, w.Body.String())
	require.NotEmpty(t, w.Header().Get("Content-Length"))
}
