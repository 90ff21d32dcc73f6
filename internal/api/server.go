package api

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/web"
)

// defaultMaxBodyBytes bounds request bodies when Options.MaxBodyBytes is 0.
const defaultMaxBodyBytes = 1 << 20

// defaultMaxConfigParses bounds configuration parses at once when
// Options.MaxConfigParses is 0.
const defaultMaxConfigParses = 2

// Server is blackwell's HTTP API. It is an http.Handler.
type Server struct {
	opts    Options
	log     *slog.Logger
	now     func() time.Time
	mux     *http.ServeMux
	handler http.Handler
	access  map[string]access // routeAccess (auth.go)
	auth    authState
	ui      *web.Dashboard
	// allowedHosts are Options.AllowedHosts (guard.go).
	allowedHosts map[string]struct{}
	// parses holds a token per configuration being parsed; a request
	// waits parseWait for one (config.go).
	parses    chan struct{}
	parseWait time.Duration
	// readyLog rate-limits the log of /readyz failures.
	readyLog *rate.Limiter
}

// route is one registered endpoint. Every route the server serves is in the
// table returned by routes, which the OpenAPI test enumerates.
type route struct {
	method  string
	path    string // a net/http pattern path, the same as the OpenAPI path template
	handler handlerFunc
}

// handlerFunc is an endpoint: it writes a success answer itself, or returns
// an error that serve turns into a JSON error answer.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// New returns a Server wired with opts. Store is required; State defaults to
// a state.Service over Store, Logger to a discarding logger.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = defaultMaxBodyBytes
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.State == nil {
		opts.State = state.New(opts.Store, state.Options{Logger: opts.Logger, Now: opts.Now})
	}
	if opts.Getenv == nil {
		opts.Getenv = os.LookupEnv
	}
	if opts.MaxConfigParses <= 0 {
		opts.MaxConfigParses = defaultMaxConfigParses
	}
	s := &Server{opts: opts, log: opts.Logger, now: opts.Now, mux: http.NewServeMux(),
		access: routeAccess(), auth: authState{touched: map[string]time.Time{}, refused: map[string]refusalWindow{}}, ui: web.New(),
		allowedHosts: map[string]struct{}{}, parses: make(chan struct{}, opts.MaxConfigParses), parseWait: defaultParseWait,
		readyLog: rate.NewLimiter(rate.Every(10*time.Second), 1)}
	for _, h := range opts.AllowedHosts {
		if h = AllowedHost(h); h != "" {
			s.allowedHosts[h] = struct{}{}
		}
	}
	if opts.MetricsAuth {
		// Unscoped only: the metrics name every client's stacks
		// (blackwell_stack_status), so a token scoped to one client would
		// read the others' ids and statuses.
		s.access["GET /metrics"] = access{role: store.RoleViewer, scope: scopeGlobal}
	}
	for _, rt := range s.routes() {
		s.mux.Handle(rt.method+" "+rt.path, s.authorize(rt.method+" "+rt.path, s.endpoint(rt.handler)))
	}
	s.handler = s.logRequests(s.recoverPanics(http.HandlerFunc(s.dispatch)))
	return s
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, r)
}

// routes is the table of every endpoint, in the order of the OpenAPI document.
func (s *Server) routes() []route {
	return []route{
		{http.MethodGet, "/healthz", s.healthz},
		{http.MethodGet, "/readyz", s.readyz},
		{http.MethodGet, "/metrics", s.metrics},
		{http.MethodGet, "/v1/openapi.json", s.openAPI},

		{http.MethodGet, "/v1/stacks", s.listStacks},
		{http.MethodGet, "/v1/stacks/{client_id}/{stack_id}", s.getStack},
		{http.MethodPatch, "/v1/stacks/{client_id}/{stack_id}", s.patchStack},
		{http.MethodDelete, "/v1/stacks/{client_id}/{stack_id}", s.deleteStack},
		{http.MethodGet, "/v1/stacks/{client_id}/{stack_id}/versions", s.listVersions},
		{http.MethodGet, "/v1/stacks/{client_id}/{stack_id}/snapshots", s.listSnapshots},
		{http.MethodGet, "/v1/stacks/{client_id}/{stack_id}/rollbacks", s.listRollbacks},
		{http.MethodPost, "/v1/stacks/{client_id}/{stack_id}/rollback", s.rollback},
		{http.MethodPost, "/v1/stacks/{client_id}/{stack_id}/unpin", s.unpin},
		{http.MethodPost, "/v1/stacks/{client_id}/{stack_id}/reconcile", s.reconcileStack},
		{http.MethodGet, "/v1/stacks/{client_id}/{stack_id}/policy/effective", s.effectivePolicy},
		{http.MethodGet, "/v1/compliance", s.getCompliance},
		{http.MethodGet, "/v1/clients/{client_id}/compliance/exceptions", s.listExceptions},
		{http.MethodPost, "/v1/clients/{client_id}/compliance/exceptions", s.addException},
		{http.MethodDelete, "/v1/clients/{client_id}/compliance/exceptions", s.removeException},

		{http.MethodPost, "/v1/config", s.applyConfig},

		{http.MethodPost, "/v1/clients/{client_id}/reconcile", s.reconcileClient},
		{http.MethodGet, "/v1/clients/{client_id}/reconciliations", s.listReconciliations},
		{http.MethodGet, "/v1/clients/{client_id}/drift", s.driftStatus},
		{http.MethodPost, "/v1/clients/{client_id}/drift/{drift_id}/ack", s.ackDrift},
		{http.MethodGet, "/v1/clients/{client_id}/policy", s.getPolicy},
		{http.MethodPut, "/v1/clients/{client_id}/policy", s.putPolicy},
		{http.MethodGet, "/v1/clients/{client_id}/content", s.listContent},
		{http.MethodGet, "/v1/clients/{client_id}/forecasts", s.listForecasts},
		{http.MethodPost, "/v1/clients/{client_id}/apps/{app}/promotions", s.startPromotion},
		{http.MethodGet, "/v1/clients/{client_id}/apps/{app}/promotions", s.listPromotions},
		{http.MethodGet, "/v1/clients/{client_id}/apps/{app}/promotions/{promotion_id}", s.getPromotion},
		{http.MethodPost, "/v1/clients/{client_id}/erase", s.erase},

		{http.MethodPost, "/v1/webhooks/{provider}/{client_id}", s.receiveWebhook},
		{http.MethodPost, "/v1/webhooks/{provider}/{client_id}/{stack_id}", s.receiveWebhook},
		{http.MethodPost, "/v1/alerts", s.receiveAlerts},

		{http.MethodGet, "/v1/events", s.listEvents},
		{http.MethodGet, "/v1/audit", s.listAudit},
		{http.MethodGet, "/v1/audit/checkpoint", s.auditCheckpoint},
		{http.MethodGet, "/v1/audit/heads", s.listAuditHeads},
		{http.MethodGet, "/v1/reports", s.getReport},
		{http.MethodGet, "/v1/tokens", s.listTokens},
		{http.MethodPost, "/v1/tokens", s.createToken},
		{http.MethodPost, "/v1/tokens/{token_id}/revoke", s.revokeToken},
		{http.MethodGet, "/v1/whoami", s.whoami},

		{http.MethodGet, "/v1/approvals", s.listApprovals},
		{http.MethodPost, "/v1/approvals/{id}/approve", s.approve},
		{http.MethodPost, "/v1/approvals/{id}/reject", s.reject},
		{http.MethodGet, "/v1/heals", s.listHeals},
		{http.MethodGet, "/v1/stream", s.stream},

		{http.MethodGet, "/v1/dashboard/reconciliation", s.dashboardReconciliation},
		{http.MethodGet, "/v1/dashboard/clients/{client_id}/health", s.dashboardClientHealth},
		{http.MethodGet, "/v1/dashboard/system", s.dashboardSystem},

		// The dashboard (internal/web): public, it holds no data.
		{http.MethodGet, "/{$}", s.dashboardPage},
		{http.MethodGet, "/ui/{file}", s.dashboardAsset},
	}
}

// dispatch routes a request, answering JSON for paths and methods the mux
// does not serve (it would answer plain text).
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request) {
	h, pattern := s.mux.Handler(r)
	if pattern != "" {
		s.mux.ServeHTTP(w, r)
		return
	}
	// No pattern: the mux would answer 404, 405 (with Allow) or redirect to
	// a cleaned path. Find out which without letting it write.
	probe := &statusProbe{header: http.Header{}}
	h.ServeHTTP(probe, r)
	switch probe.status {
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", probe.header.Get("Allow"))
		s.writeError(w, r, errorf(http.StatusMethodNotAllowed, codeMethodNotAllowed, "method %s is not allowed on %s", r.Method, r.URL.Path))
	case http.StatusNotFound:
		s.writeError(w, r, errorf(http.StatusNotFound, codeNotFound, "no route for %s %s", r.Method, r.URL.Path))
	default:
		h.ServeHTTP(w, r)
	}
}

// statusProbe records the status a handler would write, and nothing else.
type statusProbe struct {
	header http.Header
	status int
}

func (p *statusProbe) Header() http.Header { return p.header }
func (p *statusProbe) Write(b []byte) (int, error) {
	if p.status == 0 {
		p.status = http.StatusOK
	}
	return len(b), nil
}
func (p *statusProbe) WriteHeader(code int) {
	if p.status == 0 {
		p.status = code
	}
}

// endpoint adapts a handlerFunc: an error becomes a JSON error answer.
func (s *Server) endpoint(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// recoverPanics turns a handler panic into a logged 500.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.ErrorContext(r.Context(), "api handler panic", "request_id", requestID(w), "method", r.Method, "path", r.URL.Path, "panic", v)
			if sw, ok := w.(*statusWriter); ok && sw.status != 0 {
				return // the answer has started; nothing sensible can be added
			}
			writeJSONStatus(w, http.StatusInternalServerError, errorBody{Error: errorDetail{
				Code: codeInternal, Message: "internal error (request id " + requestID(w) + ")",
			}})
		}()
		next.ServeHTTP(w, r)
	})
}

// requestIDHeader carries the request id, echoed in every answer.
const requestIDHeader = "X-Request-Id"

// logRequests assigns a request id and logs one line per request: method,
// path (never the query string), status, duration.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		id := r.Header.Get(requestIDHeader)
		if !validRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set(requestIDHeader, id)
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		level := slog.LevelInfo
		switch {
		case r.URL.Path == "/healthz", r.URL.Path == "/readyz", r.URL.Path == "/metrics":
			level = slog.LevelDebug
		case strings.HasPrefix(r.URL.Path, "/v1/webhooks/"):
			// Provider traffic, possibly thousands a second: each accepted
			// delivery is in the event store, each rejection is counted
			// and logged (rate-limited, with its reason) by the gateway.
			level = slog.LevelDebug
		}
		s.log.LogAttrs(r.Context(), level, "http request",
			slog.String("request_id", id),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", status),
			slog.Duration("duration", s.now().Sub(start)),
		)
	})
}

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer (flush,
// deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func requestID(w http.ResponseWriter) string { return w.Header().Get(requestIDHeader) }

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// validRequestID accepts a caller's request id only when it is short and
// plain, so it is safe to log and echo.
func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
