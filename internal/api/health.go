package api

import (
	"context"
	_ "embed"
	"net/http"
	"time"
)

//go:embed openapi.json
var openAPIDocument []byte

// healthz answers 200 while the process serves HTTP.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) error {
	return writeJSON(w, map[string]string{"status": "ok"})
}

// readyTimeout bounds Options.Ready: a store that does not answer in time
// is not ready (a load balancer's probe should not hang).
const readyTimeout = 5 * time.Second

// readyz answers 200 when Options.Ready reports no problem within
// readyTimeout, else 503 with a generic message: the problem (a store
// error may name hosts, users, files) is logged, at most every 10s.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	if s.opts.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := s.opts.Ready(ctx); err != nil {
			if s.readyLog.Allow() {
				s.log.WarnContext(r.Context(), "not ready", "request_id", requestID(w), "error", err)
			}
			return errorf(http.StatusServiceUnavailable, codeNotReady, "not ready: the store or the reconcile loop is unavailable (the server log says why)")
		}
	}
	return writeJSON(w, map[string]string{"status": "ready"})
}

// metrics serves Options.Metrics.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) error {
	if s.opts.Metrics == nil {
		return notFound("metrics are not enabled on this server")
	}
	s.opts.Metrics.ServeHTTP(w, r)
	return nil
}

// openAPI serves the OpenAPI 3.1 document of this API.
func (s *Server) openAPI(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(openAPIDocument) // an error means the caller left
	return nil
}
