package api

import (
	"net/http"

	"github.com/blackwellio/blackwell/internal/store"
)

// listForecasts answers GET /v1/clients/{client_id}/forecasts: the
// client's open forecasts of drift by stack, raised_at and id, ?stack_id=
// filtering, cleared ones too with ?include_cleared=true.
func (s *Server) listForecasts(w http.ResponseWriter, r *http.Request) error {
	p, err := pageParams(r)
	if err != nil {
		return err
	}
	cleared, err := boolParam(r, "include_cleared")
	if err != nil {
		return err
	}
	clientID := r.PathValue("client_id")
	if err := s.requireClient(r.Context(), clientID); err != nil {
		return err
	}
	items, next, err := s.opts.Store.ListForecasts(r.Context(), store.ForecastQuery{
		ClientID: clientID, StackID: r.URL.Query().Get("stack_id"), IncludeCleared: cleared,
		Cursor: p.cursor, Limit: p.limit,
	})
	if err != nil {
		return s.storeListError(err, "list forecasts")
	}
	return writeJSON(w, newList(items, next))
}
