package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/blackwellio/blackwell/internal/compliance"
	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/store"
)

// effectivePolicyAnswer is GET .../policy/effective's answer: the
// effective policy and, field by field, the level that set it.
type effectivePolicyAnswer struct {
	ClientID string            `json:"client_id"`
	StackID  string            `json:"stack_id"`
	Spec     config.PolicySpec `json:"spec"`
	// Organization names the OrganizationPolicy in force ("" without one).
	Organization string               `json:"organization"`
	Fields       []config.FieldSource `json:"fields"`
}

// effectivePolicy answers GET /v1/stacks/{client_id}/{stack_id}/policy/effective.
func (s *Server) effectivePolicy(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	clientID, stackID := r.PathValue("client_id"), r.PathValue("stack_id")
	if _, err := s.opts.Store.GetState(ctx, clientID, stackID); errors.Is(err, store.ErrNotFound) {
		return notFound("stack %s/%s not found", clientID, stackID)
	} else if err != nil {
		return fmt.Errorf("read stack %s/%s: %w", clientID, stackID, err)
	}
	ex, err := s.opts.State.ExplainPolicy(ctx, clientID, stackID)
	if err != nil {
		return err
	}
	return writeJSON(w, effectivePolicyAnswer{ClientID: clientID, StackID: stackID, Spec: ex.Spec,
		Organization: ex.Organization, Fields: ex.Fields})
}

// defaultCompliancePeriod is the period GET /v1/compliance reports without
// ?from=.
const defaultCompliancePeriod = 30 * 24 * time.Hour

// getCompliance answers GET /v1/compliance: the compliance timeline of
// [from, to) summarised (compliance.Report), or with
// ?format=policyreport the current statuses as a PolicyReport.
func (s *Server) getCompliance(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	from, err := timeParam(r, "from")
	if err != nil {
		return err
	}
	to, err := timeParam(r, "to")
	if err != nil {
		return err
	}
	format := q.Get("format")
	if format != "" && format != "json" && format != "policyreport" {
		return badRequest("format must be json or policyreport, not %q", format)
	}
	now := s.now()
	if to.IsZero() || to.After(now) {
		to = now
	}
	if from.IsZero() {
		from = to.Add(-defaultCompliancePeriod)
	}
	if !from.Before(to) {
		return badRequest("from must be before to")
	}
	clientID := q.Get("client_id")
	segs, err := s.complianceSegments(r.Context(), store.ComplianceQuery{ClientID: clientID, StackID: q.Get("stack_id"), From: from, To: to})
	if err != nil {
		return err
	}
	rep := compliance.Summarize(segs, from, to)
	org, _, err := s.opts.State.Organization(r.Context())
	if err != nil {
		return err
	}
	rep.ExpireExceptions(org, now) // expiry holds in reports too, not from the next pass on
	if format != "policyreport" {
		return writeJSON(w, rep)
	}
	ex, err := s.opts.State.ExplainPolicy(r.Context(), clientID, "")
	if err != nil {
		return err
	}
	return writeJSON(w, compliance.ToPolicyReport(rep, ex.Organization, clientID, now))
}

// complianceSegments reads every segment q selects, page by page.
func (s *Server) complianceSegments(ctx context.Context, q store.ComplianceQuery) ([]store.ComplianceSegment, error) {
	var out []store.ComplianceSegment
	q.Limit = store.MaxLimit
	for {
		page, next, err := s.opts.Store.ListCompliance(ctx, q)
		if err != nil {
			return nil, s.storeListError(err, "list compliance")
		}
		out = append(out, page...)
		if next == "" {
			return out, nil
		}
		q.Cursor = next
	}
}
