// Package web is blackwell's dashboard: one HTML page, a stylesheet and a
// small vanilla JavaScript file, embedded in the binary and served at "/"
// and "/ui/{file}" by the API server. There is no build step and nothing
// is loaded from elsewhere.
//
// The page holds no data. Everything it shows it reads from the REST API
// with the same authentication as any other client: when the server has
// API tokens the page asks for one, keeps it in sessionStorage and sends it
// as "Authorization: Bearer"; the event stream (/v1/stream) is read with
// fetch() so that it carries the same header (EventSource cannot). Tokens
// never go into URLs.
//
// Caching: the page is revalidated on every load (no-cache with an ETag)
// and names its stylesheet and script by content hash
// ("/ui/app.3f2a9c1d.js"), which are immutable; the plain names
// ("/ui/app.js") are served too, revalidated like the page.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed assets
var assetFS embed.FS

// Cache-Control values.
const (
	cacheRevalidate = "no-cache"
	cacheImmutable  = "public, max-age=31536000, immutable"
)

// contentSecurityPolicy allows the page only its own script, stylesheet and
// API: no inline script or style, no other origin, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"

// asset is one file ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string
	immutable   bool
}

// Dashboard serves the page and its assets. It is safe for concurrent use.
type Dashboard struct {
	page   asset
	assets map[string]asset // by file name under /ui/
}

// New returns the dashboard built from the embedded files: each asset under
// its plain name and under its content-hashed name, and the page rendered
// with the hashed names. It panics if the embedded page template is broken
// (a build defect the package's tests catch).
func New() *Dashboard {
	d := &Dashboard{assets: map[string]asset{}}
	hashed := map[string]string{} // plain name -> hashed name
	entries, err := fs.ReadDir(assetFS, "assets")
	if err != nil {
		panic("web: read embedded assets: " + err.Error())
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || name == "index.html" {
			continue
		}
		body, err := assetFS.ReadFile("assets/" + name)
		if err != nil {
			panic("web: read embedded asset " + name + ": " + err.Error())
		}
		sum := contentHash(body)
		ext := path.Ext(name)
		hn := strings.TrimSuffix(name, ext) + "." + sum[:12] + ext
		hashed[name] = hn
		a := asset{body: body, contentType: contentType(name), etag: `"` + sum + `"`}
		d.assets[name] = a
		a.immutable = true
		d.assets[hn] = a
	}
	src, err := assetFS.ReadFile("assets/index.html")
	if err != nil {
		panic("web: read embedded page: " + err.Error())
	}
	tmpl := template.Must(template.New("index.html").Option("missingkey=error").Funcs(template.FuncMap{
		"asset": func(name string) (string, error) {
			hn, ok := hashed[name]
			if !ok {
				return "", &fs.PathError{Op: "asset", Path: name, Err: fs.ErrNotExist}
			}
			return "/ui/" + hn, nil
		},
	}).Parse(string(src)))
	var page bytes.Buffer
	if err := tmpl.Execute(&page, nil); err != nil {
		panic("web: render page: " + err.Error())
	}
	d.page = asset{body: page.Bytes(), contentType: "text/html; charset=utf-8", etag: `"` + contentHash(page.Bytes()) + `"`}
	return d
}

// ServePage answers the dashboard page (GET or HEAD /).
func (d *Dashboard) ServePage(w http.ResponseWriter, r *http.Request) {
	serve(w, r, "index.html", d.page)
}

// ServeAsset answers the asset called name (GET or HEAD /ui/{name}) and
// reports whether there is one; when there is not it writes nothing, so
// that the caller answers 404 in its own format.
func (d *Dashboard) ServeAsset(w http.ResponseWriter, r *http.Request, name string) bool {
	a, ok := d.assets[name]
	if !ok {
		return false
	}
	serve(w, r, name, a)
	return true
}

func serve(w http.ResponseWriter, r *http.Request, name string, a asset) {
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("ETag", a.etag)
	if a.immutable {
		h.Set("Cache-Control", cacheImmutable)
	} else {
		h.Set("Cache-Control", cacheRevalidate)
	}
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	if a.contentType == "text/html; charset=utf-8" {
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Frame-Options", "DENY")
	}
	// ServeContent answers conditional requests (If-None-Match: 304) and
	// ranges; a zero modification time leaves Last-Modified out.
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
}

func contentHash(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// contentType is the media type of an asset by its extension.
func contentType(name string) string {
	switch path.Ext(name) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".html":
		return "text/html; charset=utf-8"
	}
	return "application/octet-stream"
}
