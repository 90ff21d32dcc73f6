package api

import (
	"net/http"

	"github.com/blackwellio/blackwell/internal/store"
)

// listContent answers GET /v1/clients/{client_id}/content: the client's
// Unified Content Cache, the newest known state of each content item, in
// key order (provider, source, content id), filtered by ?provider=,
// ?type= and ?content_id=; tombstones of deleted items with
// ?include_deleted=true.
func (s *Server) listContent(w http.ResponseWriter, r *http.Request) error {
	p, err := pageParams(r)
	if err != nil {
		return err
	}
	deleted, err := boolParam(r, "include_deleted")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	items, next, err := s.opts.Store.ListContent(r.Context(), store.ContentQuery{
		ClientID: r.PathValue("client_id"), ProviderName: q.Get("provider"), ContentType: q.Get("type"),
		ContentID: q.Get("content_id"), IncludeDeleted: deleted, Cursor: p.cursor, Limit: p.limit,
	})
	if err != nil {
		return s.storeListError(err, "list content")
	}
	return writeJSON(w, newList(items, next))
}
