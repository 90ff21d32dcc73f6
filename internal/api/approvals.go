package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/blackwellio/blackwell/internal/promote"
	"github.com/blackwellio/blackwell/internal/store"
)

// listApprovals answers GET /v1/approvals: approval requests newest first,
// filtered by ?client_id=, ?stack_id= and ?status= (pending, approved,
// rejected, expired, executed; comma-separated for several).
func (s *Server) listApprovals(w http.ResponseWriter, r *http.Request) error {
	p, err := pageParams(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	var statuses []store.ApprovalStatus
	if v := q.Get("status"); v != "" {
		for _, st := range strings.Split(v, ",") {
			switch status := store.ApprovalStatus(strings.TrimSpace(st)); status {
			case store.ApprovalPending, store.ApprovalApproved, store.ApprovalRejected, store.ApprovalExpired, store.ApprovalExecuted:
				statuses = append(statuses, status)
			default:
				return badRequest("status %q: want pending, approved, rejected, expired or executed", st)
			}
		}
	}
	items, next, err := s.opts.Store.ListApprovals(r.Context(), store.ApprovalQuery{
		ClientID: q.Get("client_id"), StackID: q.Get("stack_id"), Status: statuses, Cursor: p.cursor, Limit: p.limit,
	})
	if err != nil {
		return s.storeListError(err, "list approvals")
	}
	return writeJSON(w, newList(items, next))
}

// decisionRequest is the body of POST /v1/approvals/{id}/approve|reject.
type decisionRequest struct {
	By     string `json:"by"`
	Reason string `json:"reason"`
}

func (s *Server) approve(w http.ResponseWriter, r *http.Request) error { return s.decide(w, r, true) }
func (s *Server) reject(w http.ResponseWriter, r *http.Request) error  { return s.decide(w, r, false) }

// decide approves or rejects a pending approval request; an approval
// triggers a pass of the stack, which runs the heal once. A request that
// expired is refused with 410, one already decided with 409.
func (s *Server) decide(w http.ResponseWriter, r *http.Request, approve bool) error {
	var req decisionRequest
	if _, err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if !approve && strings.TrimSpace(req.Reason) == "" {
		return badRequest("a rejection needs a reason")
	}
	req.By = by(r, req.By) // with a token, the token decides
	id := r.PathValue("id")
	a, err := s.opts.Store.DecideApproval(r.Context(), store.ApprovalDecision{ID: id, Approve: approve, By: req.By, Reason: req.Reason, At: s.now()})
	if errors.Is(err, store.ErrExpired) || errors.Is(err, store.ErrConflict) {
		if cur, gerr := s.opts.Store.GetApproval(r.Context(), id); gerr == nil {
			a = cur
		}
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return notFound("no approval request %s", id)
	case errors.Is(err, store.ErrExpired):
		return errorf(http.StatusGone, "expired", "approval request %s expired at %s and will not run", id, a.ExpiresAt.UTC().Format("2006-01-02T15:04:05Z"))
	case errors.Is(err, store.ErrConflict):
		return errorf(http.StatusConflict, codeConflict, "approval request %s is %s, not pending", id, a.Status)
	case err != nil:
		return fmt.Errorf("decide approval %s: %w", id, err)
	}
	if a.Class == promote.ApprovalClass && s.opts.Promotions != nil {
		// The promotion it was asked for goes on (or ends, rejected).
		if err := s.opts.Promotions.Resume(context.WithoutCancel(r.Context())); err != nil {
			s.log.ErrorContext(r.Context(), "resume promotions", "error", err)
		}
	} else if approve && s.opts.Reconciler != nil {
		s.opts.Reconciler.Trigger(a.ClientID, a.StackID, triggerApproval)
	}
	return writeJSON(w, a)
}

// triggerApproval is the pass trigger of an approval (reconcile's
// TriggerApproval).
const triggerApproval = "approval"

// healList is the answer of GET /v1/heals: a list, plus the state of the
// heal breakers by scope (a provider, or "instance").
type healList struct {
	Items      []store.HealAttempt `json:"items"`
	NextCursor string              `json:"next_cursor"`
	Breakers   map[string]string   `json:"breakers"`
}

// BreakerReporter is implemented by a reconciler that runs heals.
type BreakerReporter interface {
	BreakerStates() map[string]string
}

// listHeals answers GET /v1/heals: heal attempts oldest first, filtered by
// ?client_id=, ?stack_id=, ?drift_id= and ?status= (comma-separated), with
// the heal breakers' states.
func (s *Server) listHeals(w http.ResponseWriter, r *http.Request) error {
	p, err := pageParams(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	var statuses []store.HealStatus
	if v := q.Get("status"); v != "" {
		for _, st := range strings.Split(v, ",") {
			status := store.HealStatus(strings.TrimSpace(st))
			switch status {
			case store.HealPending, store.HealRunning, store.HealExecuted, store.HealSucceeded, store.HealFailed, store.HealDryRun, store.HealCancelled:
				statuses = append(statuses, status)
			default:
				return badRequest("status %q is not a heal status", st)
			}
		}
	}
	items, next, err := s.opts.Store.ListHeals(r.Context(), store.HealQuery{
		ClientID: q.Get("client_id"), StackID: q.Get("stack_id"), DriftID: q.Get("drift_id"),
		Status: statuses, Cursor: p.cursor, Limit: p.limit,
	})
	if err != nil {
		return s.storeListError(err, "list heal attempts")
	}
	out := healList{Items: items, NextCursor: next, Breakers: map[string]string{}}
	if out.Items == nil {
		out.Items = []store.HealAttempt{}
	}
	if br, ok := s.opts.Reconciler.(BreakerReporter); ok {
		out.Breakers = br.BreakerStates()
		if t := principalOf(r).token; t != nil && t.ClientID != "" {
			if out.Breakers, err = s.clientBreakers(r.Context(), t.ClientID, out.Breakers); err != nil {
				return err
			}
		}
	}
	return writeJSON(w, out)
}

// instanceBreaker is the breaker that stops every heal
// (reconcile.instanceBreaker); the others are per provider.
const instanceBreaker = "instance"

// clientBreakers keeps the breakers that can stop a client's heals: the
// instance's and those of the providers its stacks bind. A token scoped
// to the client sees no more of the others' failures.
func (s *Server) clientBreakers(ctx context.Context, clientID string, all map[string]string) (map[string]string, error) {
	keep := map[string]bool{instanceBreaker: true}
	cursor := ""
	for {
		recs, next, err := s.opts.Store.ListStates(ctx, clientID, cursor, maxLimit)
		if err != nil {
			return nil, fmt.Errorf("list stacks of %s: %w", clientID, err)
		}
		for _, rec := range recs {
			var spec struct {
				Providers map[string]struct {
					Name string `json:"name"`
				} `json:"providers"`
			}
			if json.Unmarshal(rec.Desired, &spec) == nil {
				for _, p := range spec.Providers {
					keep[p.Name] = true
				}
			}
		}
		if next == "" {
			break
		}
		cursor = string(next)
	}
	out := map[string]string{}
	for name, st := range all {
		if keep[name] {
			out[name] = st
		}
	}
	return out, nil
}
