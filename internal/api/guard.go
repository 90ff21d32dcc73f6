package api

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/blackwellio/blackwell/internal/store"
)

// Checks of state-changing requests (POST, PUT, PATCH, DELETE) before any
// token is looked at, against cross-site request forgery from a browser
// and DNS rebinding:
//
//   - Host must name an allowed host: a loopback name (localhost,
//     127.0.0.0/8, ::1) or one of Options.AllowedHosts (serve adds the
//     listen address's host, the --public-url host and --allowed-hosts).
//     A name rebound to this machine by a hostile page's DNS is not one.
//   - Origin, when present (browsers send it on every cross-origin write),
//     must be an allowed host too, and when it is a loopback name, the
//     very origin the request was sent to (a page on another local port
//     is another origin). "null" (sandboxed pages, files) is refused.
//   - The body, when declared, must be JSON or YAML: a browser posts
//     text/plain, form encodings and multipart without asking first.
//
// A refusal is 403 (Host, Origin) or 415 (content type), answered as JSON,
// and audited as write_refused, at most once a minute per source and
// route, with the count of refusals the entry stands for.

// refusalEvery bounds how often refused writes of one source and route are
// audited.
const refusalEvery = time.Minute

// maxRefusalKeys bounds the memory of refused writes (sources times routes).
const maxRefusalKeys = 10_000

// refusalWindow is when refused writes of one source and route were last
// audited, and how many were refused since without an entry.
type refusalWindow struct {
	at         time.Time
	suppressed int
}

// checkWrite checks a write's Host, Origin and content type.
func (s *Server) checkWrite(r *http.Request) *authDecision {
	if d := s.checkHostOrigin(r); d != nil {
		return d
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, err := mediaType(r)
		if err != nil || !isJSONMediaType(mt) && !yamlMediaTypes[mt] {
			return &authDecision{http.StatusUnsupportedMediaType, codeUnsupportedMedia,
				"a write's body must be application/json (or application/yaml for POST /v1/config), not " + quoteClipped(ct)}
		}
	}
	return nil
}

// checkHostOrigin checks that Host, and Origin when present, name an
// allowed host.
func (s *Server) checkHostOrigin(r *http.Request) *authDecision {
	if !s.hostAllowed(hostname(r.Host)) {
		return &authDecision{http.StatusForbidden, codeForbidden,
			"host " + quoteClipped(r.Host) + " is not allowed for writes: use a loopback address, the --public-url host, or add it to serve --allowed-hosts"}
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return &authDecision{http.StatusForbidden, codeForbidden, "origin " + quoteClipped(origin) + " may not write to this API"}
	}
	host := hostname(u.Host)
	sameOrigin := strings.EqualFold(withPort(u.Host, u.Scheme), withPort(r.Host, u.Scheme))
	if !s.hostAllowed(host) || (isLoopbackName(host) && !sameOrigin) {
		return &authDecision{http.StatusForbidden, codeForbidden, "origin " + quoteClipped(origin) + " may not write to this API"}
	}
	return nil
}

// hostAllowed reports whether a host name (no port) may be named by a
// write's Host or Origin.
func (s *Server) hostAllowed(host string) bool {
	if host == "" {
		return false
	}
	if isLoopbackName(host) {
		return true
	}
	_, ok := s.allowedHosts[host]
	return ok
}

// isLoopbackName reports whether a host name means this machine whatever
// DNS says: localhost, or a loopback address.
func isLoopbackName(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// hostname is the lower-case host of a Host header or URL host, without
// port or IPv6 brackets.
func hostname(hostport string) string {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// withPort adds the scheme's default port to a host without one, so that
// "localhost" and "localhost:80" compare equal.
func withPort(hostport, scheme string) string {
	if _, _, err := net.SplitHostPort(hostport); err == nil {
		return strings.ToLower(hostport)
	}
	port := "80"
	if scheme == "https" {
		port = "443"
	}
	return strings.ToLower(net.JoinHostPort(strings.Trim(hostport, "[]"), port))
}

// AllowedHost normalises a host name given to Options.AllowedHosts (a
// bare name, host:port or a URL).
func AllowedHost(v string) string {
	v = strings.TrimSpace(v)
	if u, err := url.Parse(v); err == nil && u.Host != "" {
		v = u.Host
	}
	return hostname(v)
}

// quoteClipped quotes a caller's value for a message, clipped.
func quoteClipped(v string) string {
	if len(v) > 100 {
		v = v[:100] + "..."
	}
	return `"` + strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '"' {
			return '?'
		}
		return r
	}, v) + `"`
}

// auditRefusal appends a write_refused entry for a write refused before a
// token was found (bad Host or Origin, a body that is not JSON or YAML, a
// missing, unknown or revoked token), at most once per refusalEvery per
// source and route: the entry's count is the refusals it stands for (this
// one and those since the last entry).
func (s *Server) auditRefusal(r *http.Request, pattern string, d *authDecision) {
	source := r.RemoteAddr
	if host, _, err := net.SplitHostPort(source); err == nil {
		source = host
	}
	key := source + " " + pattern
	now := s.now()
	s.auth.mu.Lock()
	win, seen := s.auth.refused[key]
	if seen && now.Sub(win.at) < refusalEvery && !now.Before(win.at) {
		win.suppressed++
		s.auth.refused[key] = win
		s.auth.mu.Unlock()
		return
	}
	count := 1
	if seen {
		count += win.suppressed
	}
	if len(s.auth.refused) >= maxRefusalKeys {
		for k, w := range s.auth.refused {
			if now.Sub(w.at) >= refusalEvery {
				delete(s.auth.refused, k)
			}
		}
		if len(s.auth.refused) >= maxRefusalKeys {
			clear(s.auth.refused) // a flood from many sources: start over
		}
	}
	s.auth.refused[key] = refusalWindow{at: now}
	s.auth.mu.Unlock()

	changes, _ := json.Marshal(map[string]any{
		"route": pattern, "path": clipText(r.URL.Path), "status": d.status, "code": d.code,
		"source": source, "count": count, "reason": d.message,
	})
	client := r.PathValue("client_id")
	if len(client) > 64 {
		client = client[:64]
	}
	ctx := context.WithoutCancel(r.Context())
	if err := s.opts.Store.AppendAudit(ctx, []store.AuditEntry{{
		Timestamp: now, Action: "write_refused", ClientID: client, TriggeredBy: "anonymous",
		Success: false, ChangesMade: changes,
	}}); err != nil {
		s.log.ErrorContext(ctx, "audit refused write", "route", pattern, "error", err)
	}
}
