package api

import (
	"net/http"
)

// receiveWebhook answers POST /v1/webhooks/{provider}/{client_id} and
// /v1/webhooks/{provider}/{client_id}/{stack_id}: the ingest gateway
// verifies, commits and acknowledges the delivery.
func (s *Server) receiveWebhook(w http.ResponseWriter, r *http.Request) error {
	if s.opts.Webhooks == nil {
		return errorf(http.StatusServiceUnavailable, codeUnavailable, "webhook receivers are not enabled on this server")
	}
	return s.opts.Webhooks.ServeWebhook(w, r, r.PathValue("provider"), r.PathValue("client_id"), r.PathValue("stack_id"))
}
