package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/egress"
)

// codeTargetNotAllowed answers a scoped write whose spec targets an
// internal address (422).
const codeTargetNotAllowed = "target_not_allowed"

// targetCheckTimeout bounds the lookups of a write's targets.
const targetCheckTimeout = 5 * time.Second

// checkTargets refuses, to a token scoped to one client, a spec whose
// targets are, or resolve now to, loopback, private, link-local (cloud
// metadata), CGNAT, unspecified or other special addresses that the
// operator's egress allowlist (Options.Egress) does not list: such a token
// must not make the server reach into its own network
// (docs/SECURITY.md). Unscoped tokens and the local caller are the
// operator's and are not checked here; the allowlist still applies to
// their connections at dial time.
func (s *Server) checkTargets(r *http.Request, targets []config.Target) error {
	if p := principalOf(r); p.token == nil || p.token.ClientID == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), targetCheckTimeout)
	defer cancel()
	err := egress.CheckTargets(ctx, s.opts.Egress, s.opts.Resolver, targets)
	var te *egress.TargetError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &te):
		return errorf(http.StatusUnprocessableEntity, codeTargetNotAllowed, "%s", te.Error())
	case r.Context().Err() == nil && errors.Is(err, context.DeadlineExceeded):
		return errorf(http.StatusServiceUnavailable, codeUnavailable, "looking up the hosts of the spec took longer than %s; retry", targetCheckTimeout)
	}
	return err
}
