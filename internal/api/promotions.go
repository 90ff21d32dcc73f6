package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/promote"
	"github.com/blackwellio/blackwell/internal/store"
)

// Promotions is what the API needs of promotions (promote.Promoter).
type Promotions interface {
	Plan(ctx context.Context, req promote.Request) (promote.Plan, error)
	Start(ctx context.Context, req promote.Request) (store.Promotion, promote.Plan, error)
	// Resume carries on unfinished promotions (after an approval decision).
	Resume(ctx context.Context) error
}

// promotionRequest is the body of POST .../promotions.
type promotionRequest struct {
	From string `json:"from"`
	To   string `json:"to"`
	By   string `json:"by,omitempty"`
	// DryRun answers the plan and records nothing.
	DryRun bool `json:"dry_run,omitempty"`
}

// promotionAnswer is a started promotion (or, for a dry run, none) and its
// plan.
type promotionAnswer struct {
	Promotion *store.Promotion `json:"promotion"`
	Plan      promote.Plan     `json:"plan"`
}

// startPromotion answers POST /v1/clients/{client_id}/apps/{app}/promotions:
// 202 with the promotion as recorded (awaiting_approval, or applying, then
// carried out in the background: GET it for its end), 200 with the plan
// alone for a dry run. A refusal writes nothing: 404 for an unknown client,
// application or environment, 409 for a pinned target, a promotion under
// way, a source not soaked (with the remaining time) or not healthy, or
// nothing to promote, 422 for a promotion the pipeline does not allow.
func (s *Server) startPromotion(w http.ResponseWriter, r *http.Request) error {
	if s.opts.Promotions == nil {
		return errorf(http.StatusServiceUnavailable, codeUnavailable, "promotions are not available on this server")
	}
	var req promotionRequest
	if _, err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.From == "" || req.To == "" {
		return invalid(`the body must name the environments: {"from": "staging", "to": "prod"}`)
	}
	clientID, app := r.PathValue("client_id"), r.PathValue("app")
	if err := s.requireClient(r.Context(), clientID); err != nil {
		return err
	}
	pr := promote.Request{ClientID: clientID, App: app, From: req.From, To: req.To, By: by(r, req.By)}
	if req.DryRun {
		plan, err := s.opts.Promotions.Plan(r.Context(), pr)
		if err != nil {
			return promotionError(err)
		}
		return writeJSON(w, promotionAnswer{Plan: plan})
	}
	rec, plan, err := s.opts.Promotions.Start(r.Context(), pr)
	if err != nil {
		return promotionError(err)
	}
	writeJSONStatus(w, http.StatusAccepted, promotionAnswer{Promotion: &rec, Plan: plan})
	return nil
}

// promotionError maps a refused promotion to its answer.
func promotionError(err error) error {
	var soak *promote.SoakError
	switch {
	case errors.As(err, &soak):
		e := errorf(http.StatusConflict, "soaking", "%s", err.Error())
		// Rounded up: a retry on time must find the soak over.
		e.retryAfter = (soak.Remaining + time.Second - 1).Truncate(time.Second)
		return e
	case errors.Is(err, promote.ErrUnknown):
		return notFound("%s", trimSentinel(err, promote.ErrUnknown))
	case errors.Is(err, promote.ErrInvalid):
		return invalid("%s", trimSentinel(err, promote.ErrInvalid))
	case errors.Is(err, promote.ErrUpToDate), errors.Is(err, promote.ErrUnhealthy), errors.Is(err, store.ErrPromotionOpen):
		return errorf(http.StatusConflict, codeConflict, "%s", err.Error())
	}
	return err
}

// listPromotions answers GET /v1/clients/{client_id}/apps/{app}/promotions:
// the application's promotions newest first; 404 for an unknown
// application.
func (s *Server) listPromotions(w http.ResponseWriter, r *http.Request) error {
	p, err := pageParams(r)
	if err != nil {
		return err
	}
	clientID, app := r.PathValue("client_id"), r.PathValue("app")
	if err := s.requireApp(r.Context(), clientID, app); err != nil {
		return err
	}
	items, next, err := s.opts.Store.ListPromotions(r.Context(), store.PromotionQuery{ClientID: clientID, App: app, Cursor: p.cursor, Limit: p.limit})
	if err != nil {
		return s.storeListError(err, "list promotions")
	}
	return writeJSON(w, newList(items, next))
}

// getPromotion answers GET /v1/clients/{client_id}/apps/{app}/promotions/{promotion_id}.
func (s *Server) getPromotion(w http.ResponseWriter, r *http.Request) error {
	clientID, app, id := r.PathValue("client_id"), r.PathValue("app"), r.PathValue("promotion_id")
	rec, err := s.opts.Store.GetPromotion(r.Context(), clientID, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && rec.App != app) {
		return notFound("application %s/%s has no promotion %s", clientID, app, id)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, rec)
}

// requireApp answers 404 unless the client has the application.
func (s *Server) requireApp(ctx context.Context, clientID, app string) error {
	if err := s.requireClient(ctx, clientID); err != nil {
		return err
	}
	if !config.ValidID(app) {
		return notFound("client %s has no application %q", clientID, app)
	}
	_, err := promote.LoadApp(ctx, s.opts.Store, clientID, app)
	if errors.Is(err, promote.ErrUnknown) {
		return notFound("%s", trimSentinel(err, promote.ErrUnknown))
	}
	return err
}
