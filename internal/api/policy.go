package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/store"
)

// policyAnswer is the answer of the policy endpoints: the effective policy
// of a client (stack_id empty) or of one stack.
type policyAnswer struct {
	ClientID string            `json:"client_id"`
	StackID  string            `json:"stack_id"`
	Spec     config.PolicySpec `json:"spec"`
	// Source is where the effective policy comes from: "stack" (the
	// stack's own policy), "client" (the client-wide one) or "default".
	Source string `json:"source"`
	// Warnings (PUT only): the server's config file declares this policy
	// otherwise, and puts its own back on the next SIGHUP or restart.
	Warnings []string `json:"warnings,omitempty"`
}

// policySource names where the effective policy of (client, stack) comes
// from (policyAnswer.Source).
func (s *Server) policySource(ctx context.Context, clientID, stackID string) (string, error) {
	levels := []struct{ stack, name string }{{stackID, "stack"}, {"", "client"}}
	if stackID == "" {
		levels = levels[1:]
	}
	for _, l := range levels {
		_, err := s.opts.Store.GetPolicy(ctx, clientID, l.stack)
		if err == nil {
			return l.name, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return "", fmt.Errorf("read policy %s/%s: %w", clientID, l.stack, err)
		}
	}
	return "default", nil
}

// getPolicy answers GET /v1/clients/{client_id}/policy?stack_id=: the
// effective policy. 404 when neither the client (or the stack) nor a policy
// for it is known.
func (s *Server) getPolicy(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	clientID, stackID := r.PathValue("client_id"), r.URL.Query().Get("stack_id")
	known, err := s.policyTargetKnown(ctx, clientID, stackID)
	if err != nil {
		return err
	}
	if !known {
		if stackID != "" {
			return notFound("stack %s/%s not found", clientID, stackID)
		}
		return notFound("client %s not found", clientID)
	}
	spec, err := s.opts.State.Policy(ctx, clientID, stackID)
	if err != nil {
		return err
	}
	source, err := s.policySource(ctx, clientID, stackID)
	if err != nil {
		return err
	}
	return writeJSON(w, policyAnswer{ClientID: clientID, StackID: stackID, Spec: spec, Source: source})
}

// policyTargetKnown reports whether a policy read names something that
// exists: the stack (or a stack of the client), or a stored policy for it.
func (s *Server) policyTargetKnown(ctx context.Context, clientID, stackID string) (bool, error) {
	if _, err := s.opts.Store.GetPolicy(ctx, clientID, stackID); err == nil {
		return true, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return false, fmt.Errorf("read policy %s/%s: %w", clientID, stackID, err)
	}
	if stackID == "" {
		return s.clientExists(ctx, clientID)
	}
	_, err := s.opts.Store.GetState(ctx, clientID, stackID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read stack %s/%s: %w", clientID, stackID, err)
	}
	return true, nil
}

// putPolicy answers PUT /v1/clients/{client_id}/policy?stack_id=: the body
// is a ReconciliationPolicy spec, validated like the spec of a document of
// blackwell.yaml. The answer is the effective policy after the change.
func (s *Server) putPolicy(w http.ResponseWriter, r *http.Request) error {
	data, err := s.jsonBody(w, r)
	if err != nil {
		return err
	}
	if data == nil {
		return invalid("the body must be a ReconciliationPolicy spec")
	}
	ctx := r.Context()
	release, err := s.parseTurn(ctx)
	if err != nil {
		return err
	}
	spec, err := config.DecodePolicyJSON(data)
	release()
	if err != nil {
		return configError(err)
	}
	if err := s.checkTargets(r, config.PolicyTargets(*spec)); err != nil {
		return err // a client-scoped token may not target internal addresses
	}
	clientID, stackID := r.PathValue("client_id"), r.URL.Query().Get("stack_id")
	if !config.ValidID(clientID) || (stackID != "" && !config.ValidID(stackID)) {
		return invalid("client and stack ids are lower-case letters, digits, '.', '_' or '-', starting with a letter or digit, at most 63 characters")
	}
	if err := s.opts.State.PutPolicy(ctx, clientID, stackID, *spec, actor(r)); err != nil {
		return fmt.Errorf("put policy %s/%s: %w", clientID, stackID, err)
	}
	eff, err := s.opts.State.Policy(ctx, clientID, stackID)
	if err != nil {
		return err
	}
	source := "client"
	if stackID != "" {
		source = "stack"
	}
	ans := policyAnswer{ClientID: clientID, StackID: stackID, Spec: eff, Source: source}
	if warn := s.opts.State.PolicyWarning(clientID, stackID, *spec); warn != "" {
		ans.Warnings = []string{warn}
	}
	return writeJSON(w, ans)
}
