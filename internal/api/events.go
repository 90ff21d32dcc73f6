package api

import (
	"net/http"

	"github.com/blackwellio/blackwell/internal/store"
)

// listEvents answers GET /v1/events: events newest first, filtered by
// ?client_id=, ?provider=, ?type=, ?since= and ?until= (RFC 3339, until
// exclusive).
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) error {
	p, err := pageParams(r)
	if err != nil {
		return err
	}
	since, err := timeParam(r, "since")
	if err != nil {
		return err
	}
	until, err := timeParam(r, "until")
	if err != nil {
		return err
	}
	if !since.IsZero() && !until.IsZero() && !until.After(since) {
		return badRequest("until must be after since")
	}
	q := r.URL.Query()
	events, next, err := s.opts.Store.ListEvents(r.Context(), store.EventQuery{
		ClientID: q.Get("client_id"), ProviderName: q.Get("provider"), EventType: q.Get("type"),
		Since: since, Until: until, Cursor: p.cursor, Limit: p.limit,
	})
	if err != nil {
		return s.storeListError(err, "list events")
	}
	return writeJSON(w, newList(events, next))
}

// listAudit answers GET /v1/audit: audit entries oldest first, filtered by
// ?client_id= and ?action=.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	p, err := pageParams(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	entries, next, err := s.opts.Store.ListAudit(r.Context(), store.AuditQuery{
		ClientID: q.Get("client_id"), Action: q.Get("action"), Cursor: p.cursor, Limit: p.limit,
	})
	if err != nil {
		return s.storeListError(err, "list audit entries")
	}
	return writeJSON(w, newList(entries, next))
}
