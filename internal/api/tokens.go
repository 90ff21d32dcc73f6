package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
)

// createTokenRequest is the body of POST /v1/tokens.
type createTokenRequest struct {
	Name     string     `json:"name"`
	Role     store.Role `json:"role"`
	ClientID string     `json:"client_id"`
}

// createdToken is the answer of POST /v1/tokens: the token and its secret,
// which is shown this once.
type createdToken struct {
	Token  store.Token `json:"token"`
	Secret string      `json:"secret"`
}

// listTokens answers GET /v1/tokens: every token, revoked ones too, oldest
// first; never their secrets.
func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	tokens, err := s.opts.Store.ListTokens(r.Context())
	if err != nil {
		return fmt.Errorf("list tokens: %w", err)
	}
	return writeJSON(w, newList(tokens, ""))
}

// createToken answers POST /v1/tokens with 201 and the new token's secret.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	var req createTokenRequest
	hasBody, err := s.decodeJSON(w, r, &req)
	if err != nil {
		return err
	}
	if !hasBody {
		return invalid("the body must name the token: {\"name\": \"ci\", \"role\": \"operator\", \"client_id\": \"acme\"}")
	}
	t, secret, err := s.opts.State.CreateToken(r.Context(), state.NewToken{Name: req.Name, Role: req.Role, ClientID: req.ClientID}, actor(r))
	if err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSONStatus(w, http.StatusCreated, createdToken{Token: t, Secret: secret})
	return nil
}

// revokeToken answers POST /v1/tokens/{token_id}/revoke: the token is
// refused from the next request on.
func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("token_id")
	t, err := s.opts.State.RevokeToken(r.Context(), id, actor(r))
	if errors.Is(err, store.ErrNotFound) {
		return notFound("no token %s", id)
	}
	if err != nil {
		return fmt.Errorf("revoke token %s: %w", id, err)
	}
	return writeJSON(w, t)
}

// caller is the answer of GET /v1/whoami: the token of the request, its
// role and client scope (never its secret), so that a client such as the
// dashboard offers only what the token may do.
type caller struct {
	TokenID   string     `json:"token_id,omitempty"`
	Name      string     `json:"name,omitempty"`
	Role      store.Role `json:"role"`
	ClientID  string     `json:"client_id,omitempty"`
	Bootstrap bool       `json:"bootstrap,omitempty"`
}

// whoami answers GET /v1/whoami. The API still decides every request on
// its own: the answer only spares a client offering what would be refused.
func (s *Server) whoami(w http.ResponseWriter, r *http.Request) error {
	p := principalOf(r)
	switch {
	case p.token != nil:
		return writeJSON(w, caller{TokenID: p.token.ID, Name: p.token.Name, Role: p.token.Role, ClientID: p.token.ClientID})
	case p.bootstrap:
		return writeJSON(w, caller{Name: actorBootstrap, Role: store.RoleAdmin, Bootstrap: true})
	}
	// A server used without the middleware (tests): nothing is known.
	return writeJSON(w, caller{Role: store.RoleViewer})
}
