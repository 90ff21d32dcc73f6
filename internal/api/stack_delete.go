package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/store"
)

// deleteStack answers DELETE /v1/stacks/{client_id}/{stack_id}: the stack
// is removed (state.Service.DeleteStack: open drifts resolved, pending
// heals cancelled, pending approvals closed, audited as stack_deleted,
// history kept). 404 when there is no such stack.
func (s *Server) deleteStack(w http.ResponseWriter, r *http.Request) error {
	clientID, stackID := r.PathValue("client_id"), r.PathValue("stack_id")
	got, err := s.opts.State.DeleteStack(r.Context(), clientID, stackID, actor(r))
	if errors.Is(err, store.ErrNotFound) {
		return notFound("stack %s/%s not found", clientID, stackID)
	}
	if err != nil {
		return fmt.Errorf("delete stack %s/%s: %w", clientID, stackID, err)
	}
	return writeJSON(w, got)
}

// pruneParam reads POST /v1/config's ?prune=: "true" deletes the stacks of
// the document's clients that it does not declare.
func pruneParam(r *http.Request) (bool, error) {
	switch r.URL.Query().Get("prune") {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, badRequest("prune must be true or false")
}

// prune deletes the stacks of the clients cfg declares stacks for that cfg
// does not declare.
func (s *Server) prune(r *http.Request, cfg *config.Config) ([]store.StackDeleted, error) {
	keep, seen := map[string]bool{}, map[string]bool{}
	var clients []string
	for _, st := range cfg.Stacks {
		c := st.Metadata.ClientID
		if !seen[c] {
			seen[c] = true
			clients = append(clients, c)
		}
		keep[c+"\x00"+st.Metadata.StackID] = true
	}
	deleted, err := s.opts.State.Prune(r.Context(), clients, keep, actor(r))
	if err != nil {
		return deleted, fmt.Errorf("prune: %w", err)
	}
	return deleted, nil
}
