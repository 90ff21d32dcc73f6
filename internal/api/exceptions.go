package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
)

// Compliance exceptions through the API (state/exceptions.go): listed,
// added and removed per client, without applying the OrganizationPolicy
// again. A client-scoped token reaches its own client's only.

// exceptionRequest is the body of POST .../compliance/exceptions.
type exceptionRequest struct {
	Rule    string `json:"rule"`
	StackID string `json:"stack_id,omitempty"`
	Owner   string `json:"owner"`
	Reason  string `json:"reason"`
	Ticket  string `json:"ticket,omitempty"`
	Expires string `json:"expires"`
}

// exceptionList is the answer of GET .../compliance/exceptions.
type exceptionList struct {
	ClientID string            `json:"client_id"`
	Items    []state.Exception `json:"items"`
}

// exceptionAnswer is the answer of a POST or DELETE.
type exceptionAnswer struct {
	Exception state.Exception `json:"exception"`
	// Replaced: an exception of the API for the same rule, client and
	// stack was replaced (POST only).
	Replaced bool `json:"replaced,omitempty"`
}

// listExceptions answers GET /v1/clients/{client_id}/compliance/exceptions.
func (s *Server) listExceptions(w http.ResponseWriter, r *http.Request) error {
	clientID := r.PathValue("client_id")
	items, err := s.opts.State.Exceptions(r.Context(), clientID)
	if err != nil {
		return fmt.Errorf("list exceptions of %s: %w", clientID, err)
	}
	return writeJSON(w, exceptionList{ClientID: clientID, Items: items})
}

// addException answers POST /v1/clients/{client_id}/compliance/exceptions:
// 201 with the exception added, 200 when it replaced the API's exception
// of the same rule and stack.
func (s *Server) addException(w http.ResponseWriter, r *http.Request) error {
	var req exceptionRequest
	hasBody, err := s.decodeJSON(w, r, &req)
	if err != nil {
		return err
	}
	if !hasBody {
		return invalid(`the body must name the exception: {"rule": "prod-tls-probe", "stack_id": "shop", "owner": "ops@example.com", "reason": "...", "expires": "2027-01-31T00:00:00Z"}`)
	}
	x, replaced, err := s.opts.State.AddException(r.Context(), config.RuleException{Rule: req.Rule, ClientID: r.PathValue("client_id"),
		StackID: req.StackID, Owner: req.Owner, Reason: req.Reason, Ticket: req.Ticket, Expires: req.Expires}, actor(r))
	if err != nil {
		return exceptionError(err)
	}
	status := http.StatusCreated
	if replaced {
		status = http.StatusOK
	}
	writeJSONStatus(w, status, exceptionAnswer{Exception: x, Replaced: replaced})
	return nil
}

// removeException answers DELETE
// /v1/clients/{client_id}/compliance/exceptions?rule=R[&stack_id=S].
func (s *Server) removeException(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	rule := q.Get("rule")
	if rule == "" {
		return invalid("name the exception's rule: ?rule=R (and &stack_id=S for a stack's)")
	}
	x, err := s.opts.State.RemoveException(r.Context(), rule, r.PathValue("client_id"), q.Get("stack_id"), actor(r))
	if err != nil {
		return exceptionError(err)
	}
	return writeJSON(w, exceptionAnswer{Exception: x})
}

// exceptionError is the answer of a refused change: 404 for an unknown
// stack or exception, 409 for one the OrganizationPolicy declares or when
// the policy kept changing on other replicas while this one wrote it
// (nothing written: retry), 422 for bad input.
func exceptionError(err error) error {
	switch {
	case errors.Is(err, state.ErrDeclared):
		return errorf(http.StatusConflict, codeConflict, "%s", err)
	case errors.Is(err, state.ErrConcurrentChange):
		return errorf(http.StatusConflict, codeConflict, "%s", trimSentinel(err, store.ErrConflict))
	case errors.Is(err, store.ErrNotFound):
		return notFound("%s", err)
	}
	return err
}
