package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
)

// Authentication and authorisation of the API.
//
// A request carries an API token as "Authorization: Bearer bw_...". Each
// route needs a role (routeAccess): viewer reads, operator also acts on the
// running system (reconcile, acknowledge, approve, reject, roll back, alert),
// admin also changes desired state and policy and manages tokens. A token
// scoped to a client sees and changes only that client: on routes with
// {client_id} in the path it must match; on lists filtered by ?client_id=
// the filter is set to the token's client (another client is refused); on
// routes that concern every client (POST /v1/config, alerts, approvals
// decided by id, tokens) a scoped token is refused.
//
// Until the store holds a token (first run, demo), the one-time bootstrap
// token (Options.BootstrapToken: serve makes one at start and writes it to
// a file only its user can read) acts as an unscoped admin; without it,
// every caller is refused. Once any token was created (revoked ones
// count), the bootstrap token stops working, and every route but the
// public ones (health, metrics unless Options.MetricsAuth, webhooks, which
// carry their provider's signature) needs a token. Where a request comes
// from earns nothing: a proxy or a browser on this machine is no more
// trusted than anyone.
//
// Every state-changing request (POST, PUT, PATCH, DELETE) must also name
// an allowed host in Host and, when it has one, in Origin, and declare a
// JSON or YAML body (guard.go): a web page cannot post to the API from a
// browser, and a DNS name rebound to this machine cannot reach it.
//
// Answers: 401 (with WWW-Authenticate) when the token is missing, malformed,
// unknown or revoked; 403 when its role or client scope does not allow the
// route. Every write made with a token is audited (action token_used,
// triggered_by naming the token's id and name, never its secret), allowed
// or not.

// scope says how a route's client is found, for client-scoped tokens.
type scope int

const (
	// scopeGlobal: the route concerns every client; scoped tokens are
	// refused.
	scopeGlobal scope = iota
	// scopePath: the {client_id} path value.
	scopePath
	// scopeQuery: the ?client_id= filter of a list, set to the token's
	// client when absent.
	scopeQuery
	// scopeNone: the route holds no client's data (the OpenAPI document,
	// the audit checkpoint); any token may use it.
	scopeNone
)

// access is what a route needs. A zero role means the route is public.
type access struct {
	role  store.Role
	scope scope
}

// routeAccess is the role and scope of every route, by mux pattern. A route
// missing here needs an unscoped admin token (writes) or viewer token
// (reads); TestEveryRouteHasAccess fails until it is added.
func routeAccess() map[string]access {
	public := access{}
	viewer := func(sc scope) access { return access{role: store.RoleViewer, scope: sc} }
	operator := func(sc scope) access { return access{role: store.RoleOperator, scope: sc} }
	admin := func(sc scope) access { return access{role: store.RoleAdmin, scope: sc} }
	return map[string]access{
		"GET /healthz": public,
		"GET /readyz":  public,
		"GET /metrics": public,
		// Provider deliveries are authenticated by their signature.
		"POST /v1/webhooks/{provider}/{client_id}":            public,
		"POST /v1/webhooks/{provider}/{client_id}/{stack_id}": public,
		// The dashboard page and its assets hold no data; the API calls
		// they make are authorised like any other.
		"GET /{$}":       public,
		"GET /ui/{file}": public,

		"GET /v1/openapi.json": viewer(scopeNone),

		"GET /v1/stacks":                                                   viewer(scopeQuery),
		"GET /v1/stacks/{client_id}/{stack_id}":                            viewer(scopePath),
		"PATCH /v1/stacks/{client_id}/{stack_id}":                          admin(scopePath),
		"DELETE /v1/stacks/{client_id}/{stack_id}":                         admin(scopePath),
		"GET /v1/stacks/{client_id}/{stack_id}/versions":                   viewer(scopePath),
		"POST /v1/stacks/{client_id}/{stack_id}/rollback":                  operator(scopePath),
		"POST /v1/stacks/{client_id}/{stack_id}/unpin":                     operator(scopePath),
		"POST /v1/stacks/{client_id}/{stack_id}/reconcile":                 operator(scopePath),
		"POST /v1/config":                                                  admin(scopeGlobal),
		"POST /v1/clients/{client_id}/reconcile":                           operator(scopePath),
		"GET /v1/clients/{client_id}/reconciliations":                      viewer(scopePath),
		"GET /v1/clients/{client_id}/drift":                                viewer(scopePath),
		"POST /v1/clients/{client_id}/drift/{drift_id}/ack":                operator(scopePath),
		"GET /v1/clients/{client_id}/policy":                               viewer(scopePath),
		"PUT /v1/clients/{client_id}/policy":                               admin(scopePath),
		"GET /v1/clients/{client_id}/content":                              viewer(scopePath),
		"GET /v1/clients/{client_id}/forecasts":                            viewer(scopePath),
		"POST /v1/clients/{client_id}/apps/{app}/promotions":               operator(scopePath),
		"GET /v1/clients/{client_id}/apps/{app}/promotions":                viewer(scopePath),
		"GET /v1/clients/{client_id}/apps/{app}/promotions/{promotion_id}": viewer(scopePath),
		"POST /v1/clients/{client_id}/erase":                               admin(scopePath),
		"POST /v1/alerts":                                                  operator(scopeGlobal),
		"GET /v1/events":                                                   viewer(scopeQuery),
		"GET /v1/audit":                                                    viewer(scopeQuery),
		"GET /v1/audit/checkpoint":                                         viewer(scopeNone),
		"GET /v1/audit/heads":                                              viewer(scopeNone),
		// The KPI report: every client's, or ?client_id='s (a scoped
		// token's client).
		"GET /v1/reports": viewer(scopeQuery),
		"GET /v1/stacks/{client_id}/{stack_id}/snapshots": viewer(scopePath),
		"GET /v1/stacks/{client_id}/{stack_id}/rollbacks": viewer(scopePath),
		"GET /v1/approvals":               viewer(scopeQuery),
		"POST /v1/approvals/{id}/approve": operator(scopeGlobal),
		"POST /v1/approvals/{id}/reject":  operator(scopeGlobal),
		"GET /v1/heals":                   viewer(scopeQuery),
		"GET /v1/stream":                  viewer(scopeQuery),
		// The dashboards: the reconciliation view filters by ?client_id=
		// (a scoped token sees its client's); the system view is every
		// client's, for unscoped viewers only.
		"GET /v1/dashboard/reconciliation":             viewer(scopeQuery),
		"GET /v1/dashboard/clients/{client_id}/health": viewer(scopePath),
		"GET /v1/dashboard/system":                     viewer(scopeGlobal),
		// The policy hierarchy and compliance (docs/POLICY.md).
		"GET /v1/stacks/{client_id}/{stack_id}/policy/effective": viewer(scopePath),
		"GET /v1/compliance": viewer(scopeQuery),
		// Exceptions through the API: a client-scoped admin token changes
		// its own client's only.
		"GET /v1/clients/{client_id}/compliance/exceptions":    viewer(scopePath),
		"POST /v1/clients/{client_id}/compliance/exceptions":   admin(scopePath),
		"DELETE /v1/clients/{client_id}/compliance/exceptions": admin(scopePath),

		"GET /v1/tokens":                    admin(scopeGlobal),
		"POST /v1/tokens":                   admin(scopeGlobal),
		"POST /v1/tokens/{token_id}/revoke": admin(scopeGlobal),
		// Any token may ask what it is.
		"GET /v1/whoami": viewer(scopeNone),
	}
}

// RouteRule is one route's access, for tests outside this package (the
// cross-tenant suite of cmd/blackwell walks every route with it).
type RouteRule struct {
	// Pattern is the mux pattern: "METHOD /path/{value}".
	Pattern string
	// Role is the least role the route needs; "" for a public route.
	Role store.Role
	// Scope says what a client-scoped token may do: "global" (refused),
	// "path" (the {client_id} path value must be its client), "query"
	// (the ?client_id= filter is set to its client, another is refused),
	// "none" (any token: the route holds no client's data), "" (public).
	Scope string
}

// RouteRules returns routeAccess (without serve --metrics-auth), sorted by
// pattern.
func RouteRules() []RouteRule {
	names := map[scope]string{scopeGlobal: "global", scopePath: "path", scopeQuery: "query", scopeNone: "none"}
	var out []RouteRule
	for pattern, a := range routeAccess() {
		r := RouteRule{Pattern: pattern, Role: a.role}
		if a.role != "" {
			r.Scope = names[a.scope]
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b RouteRule) int { return strings.Compare(a.Pattern, b.Pattern) })
	return out
}

// accessOf is the access a pattern needs; an unlisted pattern needs an
// unscoped token: viewer to read, admin to write.
func accessOf(table map[string]access, pattern string) access {
	if a, ok := table[pattern]; ok {
		return a
	}
	if strings.HasPrefix(pattern, http.MethodGet+" ") || strings.HasPrefix(pattern, http.MethodHead+" ") {
		return access{role: store.RoleViewer, scope: scopeGlobal}
	}
	return access{role: store.RoleAdmin, scope: scopeGlobal}
}

// principal is who made a request: a token, the bootstrap token, or
// nobody (a Server used without the middleware, in tests).
type principal struct {
	token     *store.Token // nil for the bootstrap token
	bootstrap bool
}

// actor names the principal in audit entries.
func (p principal) actor() string {
	switch {
	case p.token != nil:
		return state.TokenActor(*p.token)
	case p.bootstrap:
		return actorBootstrap
	}
	return actorAPI
}

// actorBootstrap names the bootstrap token in audit entries.
const actorBootstrap = "bootstrap"

type principalKey struct{}

// principalOf returns the request's principal (the zero principal when
// none was set, as for a Server used without the middleware in tests).
func principalOf(r *http.Request) principal {
	p, _ := r.Context().Value(principalKey{}).(principal)
	return p
}

// actor names who made a request, for audit entries: the token
// ("token:ID (NAME)"), else "api".
func actor(r *http.Request) string { return principalOf(r).actor() }

// by is who made a request for audit entries and records that take a
// caller's name (ack, approve, rollback): with a token, the token, whatever
// the body claims; with the bootstrap token, the claimed name or
// "bootstrap" (its token_used entry names the bootstrap token).
func by(r *http.Request, claimed string) string {
	if p := principalOf(r); p.token != nil {
		return p.actor()
	}
	if claimed == "" {
		return principalOf(r).actor()
	}
	return claimed
}

// authorizeDecision is why a request may not proceed.
type authDecision struct {
	status  int
	code    string
	message string
}

const (
	codeUnauthorized = "unauthorized"
	codeForbidden    = "forbidden"
)

// authState is the server's memory of tokens: whether one exists (once
// true, for good: tokens are never deleted), when each token's use was
// last recorded, and when refused writes were last audited (guard.go).
type authState struct {
	mu        sync.Mutex
	hasTokens bool
	touched   map[string]time.Time
	refused   map[string]refusalWindow
}

// touchEvery bounds how often a token's last use is written.
const touchEvery = time.Minute

// tokensExist reports whether the store holds a token.
func (s *Server) tokensExist(ctx context.Context) (bool, error) {
	s.auth.mu.Lock()
	known := s.auth.hasTokens
	s.auth.mu.Unlock()
	if known {
		return true, nil
	}
	has, err := s.opts.Store.HasTokens(ctx)
	if err != nil {
		return false, err
	}
	if has {
		s.auth.mu.Lock()
		s.auth.hasTokens = true
		s.auth.mu.Unlock()
	}
	return has, nil
}

// bearer returns the token of an Authorization header: ok false when there
// is no header, an error when it is not a bearer token.
func bearer(r *http.Request) (token string, ok bool, err error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", false, nil
	}
	scheme, tok, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", true, errors.New("the Authorization header must be \"Bearer <token>\"")
	}
	return strings.TrimSpace(tok), true, nil
}

// authorize wraps the handler of one route: it checks a write's Host,
// Origin and content type (guard.go), finds the principal, checks the
// route's role and client scope, and audits writes: made with a token
// (token_used), refused before a token was found (write_refused,
// rate-limited).
func (s *Server) authorize(pattern string, next http.Handler) http.Handler {
	acc := accessOf(s.access, pattern)
	write := isWrite(pattern)
	if acc.role == "" {
		if write {
			// Provider deliveries: Host and Origin only (the gateway checks
			// the content type and the signature, and counts refusals).
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if d := s.checkHostOrigin(r); d != nil {
					s.writeAuthError(w, r, d)
					return
				}
				next.ServeHTTP(w, r)
			})
		}
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if write {
			if d := s.checkWrite(r); d != nil {
				s.auditRefusal(r, pattern, d)
				s.writeAuthError(w, r, d)
				return
			}
		}
		p, denied := s.authenticate(r)
		if denied != nil {
			if write {
				s.auditRefusal(r, pattern, denied)
			}
			s.writeAuthError(w, r, denied)
			return
		}
		r, denied = s.permit(r, p, acc, pattern)
		if p.token != nil {
			s.touch(r.Context(), p.token)
		}
		if !write || p.token == nil {
			// Reads, and writes with the bootstrap token: each change it
			// makes has its own audit entry, naming "bootstrap".
			if denied != nil {
				s.writeAuthError(w, r, denied)
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
			return
		}
		sw := &statusWriter{ResponseWriter: w}
		if denied != nil {
			s.writeAuthError(sw, r, denied)
		} else {
			next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
		}
		s.auditTokenUse(w, r, p, pattern, sw.status)
	})
}

// isWrite reports whether a route pattern changes state (anything but GET
// and HEAD).
func isWrite(pattern string) bool {
	return !strings.HasPrefix(pattern, http.MethodGet+" ") && !strings.HasPrefix(pattern, http.MethodHead+" ")
}

// authenticate finds who is asking: a valid token, or the bootstrap token
// while no token exists.
func (s *Server) authenticate(r *http.Request) (principal, *authDecision) {
	secret, present, err := bearer(r)
	if err != nil {
		return principal{}, &authDecision{http.StatusUnauthorized, codeUnauthorized, err.Error()}
	}
	if !present {
		return principal{}, &authDecision{http.StatusUnauthorized, codeUnauthorized,
			"an API token is required: send \"Authorization: Bearer <token>\" (blackwell --token or BLACKWELL_TOKEN; before the first token, the bootstrap token serve wrote to --bootstrap-token-file)"}
	}
	if b := s.opts.BootstrapToken; b != "" && subtle.ConstantTimeCompare([]byte(secret), []byte(b)) == 1 {
		has, err := s.tokensExist(r.Context())
		if err != nil {
			s.log.ErrorContext(r.Context(), "read tokens", "error", err)
			return principal{}, &authDecision{http.StatusServiceUnavailable, codeUnavailable, "cannot check API tokens now; retry"}
		}
		if has {
			return principal{}, &authDecision{http.StatusUnauthorized, codeUnauthorized,
				"the bootstrap token stopped working when the first API token was created; send an API token"}
		}
		return principal{bootstrap: true}, nil
	}
	t, err := s.opts.State.Authenticate(r.Context(), secret)
	switch {
	case errors.Is(err, state.ErrTokenUnknown):
		return principal{}, &authDecision{http.StatusUnauthorized, codeUnauthorized, "unknown API token"}
	case errors.Is(err, state.ErrTokenRevoked):
		return principal{}, &authDecision{http.StatusUnauthorized, codeUnauthorized, "this API token was revoked"}
	case err != nil:
		s.log.ErrorContext(r.Context(), "authenticate token", "error", err)
		return principal{}, &authDecision{http.StatusServiceUnavailable, codeUnavailable, "cannot check API tokens now; retry"}
	}
	return principal{token: &t}, nil
}

// permit checks a principal's role and client scope against a route. For a
// list filtered by client it returns the request with the filter set to the
// token's client.
func (s *Server) permit(r *http.Request, p principal, acc access, pattern string) (*http.Request, *authDecision) {
	if p.token == nil {
		return r, nil // the bootstrap token: an unscoped admin
	}
	t := p.token
	if !t.Role.Allows(acc.role) {
		return r, &authDecision{http.StatusForbidden, codeForbidden,
			fmt.Sprintf("token %s has role %s; %s needs %s", t.ID, t.Role, pattern, acc.role)}
	}
	if t.ClientID == "" {
		return r, nil
	}
	switch acc.scope {
	case scopeNone:
	case scopePath:
		if c := r.PathValue("client_id"); c != t.ClientID {
			return r, &authDecision{http.StatusForbidden, codeForbidden,
				fmt.Sprintf("token %s is scoped to client %s, not %s", t.ID, t.ClientID, c)}
		}
	case scopeQuery:
		q := r.URL.Query()
		switch c := q.Get("client_id"); c {
		case t.ClientID:
		case "":
			q.Set("client_id", t.ClientID)
			r = r.Clone(r.Context())
			r.URL.RawQuery = q.Encode()
		default:
			return r, &authDecision{http.StatusForbidden, codeForbidden,
				fmt.Sprintf("token %s is scoped to client %s, not %s", t.ID, t.ClientID, c)}
		}
	default:
		return r, &authDecision{http.StatusForbidden, codeForbidden,
			fmt.Sprintf("token %s is scoped to client %s; %s concerns every client and needs an unscoped token", t.ID, t.ClientID, pattern)}
	}
	return r, nil
}

func (s *Server) writeAuthError(w http.ResponseWriter, r *http.Request, d *authDecision) {
	if d.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="blackwell"`)
	}
	s.writeError(w, r, errorf(d.status, d.code, "%s", d.message))
}

// touch records a token's use, at most once a minute per token and process.
// A failure is logged: the request goes on.
func (s *Server) touch(ctx context.Context, t *store.Token) {
	now := s.now()
	s.auth.mu.Lock()
	last, ok := s.auth.touched[t.ID]
	if ok && now.Sub(last) < touchEvery && !now.Before(last) {
		s.auth.mu.Unlock()
		return
	}
	s.auth.touched[t.ID] = now
	s.auth.mu.Unlock()
	if err := s.opts.Store.TouchToken(ctx, t.ID, now); err != nil && ctx.Err() == nil {
		s.log.WarnContext(ctx, "record token use", "token_id", t.ID, "error", err)
	}
}

// auditTokenUse appends a token_used entry for a write made with a token,
// whatever its outcome.
func (s *Server) auditTokenUse(w http.ResponseWriter, r *http.Request, p principal, pattern string, status int) {
	if status == 0 {
		status = http.StatusOK
	}
	t := p.token
	client, stack := r.PathValue("client_id"), r.PathValue("stack_id")
	if t.ClientID != "" && client != t.ClientID {
		// A scoped token's attempt on another client is its own client's
		// entry: filed under the path's client, it would show that client's
		// viewers another tenant's id and token names. The path stays in
		// the changes.
		client, stack = t.ClientID, ""
	}
	if client == "" {
		client = t.ClientID
	}
	use := map[string]any{
		"route": pattern, "path": r.URL.Path, "status": status,
		"token_id": t.ID, "token_name": t.Name, "role": t.Role, "token_client_id": t.ClientID,
	}
	changes, _ := json.Marshal(use)
	ctx := context.WithoutCancel(r.Context())
	if err := s.opts.Store.AppendAudit(ctx, []store.AuditEntry{{
		Timestamp: s.now(), Action: "token_used", ClientID: client, StackID: stack,
		TriggeredBy: p.actor(), Success: status < 400, ChangesMade: changes,
	}}); err != nil {
		s.log.ErrorContext(ctx, "audit token use", "request_id", requestID(w), "token_id", t.ID, "error", err)
	}
}
