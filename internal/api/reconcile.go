package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/blackwellio/blackwell/internal/store"
)

// maxWait bounds ?wait= on the reconcile endpoints.
const maxWait = 5 * time.Minute

// triggerAPI is the trigger recorded for passes asked for through the API.
const triggerAPI = "manual"

// accepted is the answer to a reconcile request that does not wait.
type accepted struct {
	Accepted []string `json:"accepted"`
}

// waitParam parses ?wait= (a Go duration up to 5m); zero when absent.
func waitParam(r *http.Request) (time.Duration, error) {
	v := r.URL.Query().Get("wait")
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 || d > maxWait {
		return 0, badRequest("wait must be a duration from 1s to %s, like 30s, not %q", maxWait, v)
	}
	return d, nil
}

func (s *Server) reconciler() (Reconciler, error) {
	if s.opts.Reconciler == nil {
		return nil, errorf(http.StatusServiceUnavailable, codeUnavailable, "the reconcile loop is not running on this server")
	}
	return s.opts.Reconciler, nil
}

// reconcileStack answers POST /v1/stacks/{client_id}/{stack_id}/reconcile.
func (s *Server) reconcileStack(w http.ResponseWriter, r *http.Request) error {
	wait, err := waitParam(r)
	if err != nil {
		return err
	}
	rc, err := s.reconciler()
	if err != nil {
		return err
	}
	rec, err := s.stack(r.Context(), r)
	if err != nil {
		return err
	}
	if err := s.auditReconcileRequest(r, wait, rec); err != nil {
		return err
	}
	if wait == 0 {
		rc.Trigger(rec.ClientID, rec.StackID, triggerAPI)
		writeJSONStatus(w, http.StatusAccepted, accepted{Accepted: []string{rec.Key()}})
		return nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	res, err := rc.ReconcileWait(ctx, rec.ClientID, rec.StackID, triggerAPI)
	if err != nil {
		return s.waitError(r, err, wait, rec.Key())
	}
	return writeJSON(w, res)
}

// reconcileClient answers POST /v1/clients/{client_id}/reconcile: a pass of
// every stack of the client.
func (s *Server) reconcileClient(w http.ResponseWriter, r *http.Request) error {
	wait, err := waitParam(r)
	if err != nil {
		return err
	}
	rc, err := s.reconciler()
	if err != nil {
		return err
	}
	clientID := r.PathValue("client_id")
	stacks, err := s.clientStacks(r.Context(), clientID)
	if err != nil {
		return err
	}
	if err := s.auditReconcileRequest(r, wait, stacks...); err != nil {
		return err
	}
	if wait == 0 {
		keys := make([]string, len(stacks))
		for i, st := range stacks {
			rc.Trigger(st.ClientID, st.StackID, triggerAPI)
			keys[i] = st.Key()
		}
		writeJSONStatus(w, http.StatusAccepted, accepted{Accepted: keys})
		return nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	results := make([]store.ReconciliationResult, len(stacks))
	errs := make([]error, len(stacks))
	var wg sync.WaitGroup
	for i, st := range stacks {
		wg.Go(func() {
			results[i], errs[i] = rc.ReconcileWait(ctx, st.ClientID, st.StackID, triggerAPI)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return s.waitError(r, err, wait, stacks[i].Key())
		}
	}
	return writeJSON(w, newList(results, ""))
}

// waitError answers a failed wait: 504 when the wait ran out.
func (s *Server) waitError(r *http.Request, err error, wait time.Duration, key string) error {
	if isTimeout(err) && r.Context().Err() == nil {
		return errorf(http.StatusGatewayTimeout, codeTimeout, "no pass of %s completed within %s; it may still be running", key, wait)
	}
	if errors.Is(err, store.ErrNotFound) {
		return notFound("stack %s not found", key)
	}
	var u interface{ Unavailable() bool }
	if errors.As(err, &u) && u.Unavailable() {
		return errorf(http.StatusServiceUnavailable, codeUnavailable, "reconcile %s: %v", key, err)
	}
	return fmt.Errorf("reconcile %s: %w", key, err)
}

// clientStacks returns every stack of a client, 404 when it has none.
func (s *Server) clientStacks(ctx context.Context, clientID string) ([]store.StateRecord, error) {
	recs, err := store.AllStates(ctx, s.opts.Store, clientID)
	if err != nil {
		return nil, fmt.Errorf("list stacks of %s: %w", clientID, err)
	}
	if len(recs) == 0 {
		return nil, notFound("client %s not found", clientID)
	}
	return recs, nil
}

// clientExists reports whether a client has at least one stack.
func (s *Server) clientExists(ctx context.Context, clientID string) (bool, error) {
	recs, _, err := s.opts.Store.ListStates(ctx, clientID, "", 1)
	if err != nil {
		return false, fmt.Errorf("list stacks of %s: %w", clientID, err)
	}
	return len(recs) > 0, nil
}

func (s *Server) requireClient(ctx context.Context, clientID string) error {
	ok, err := s.clientExists(ctx, clientID)
	if err != nil {
		return err
	}
	if !ok {
		return notFound("client %s not found", clientID)
	}
	return nil
}

// listReconciliations answers GET /v1/clients/{client_id}/reconciliations:
// results newest first, ?stack_id= filters.
func (s *Server) listReconciliations(w http.ResponseWriter, r *http.Request) error {
	p, err := pageParams(r)
	if err != nil {
		return err
	}
	clientID := r.PathValue("client_id")
	if err := s.requireClient(r.Context(), clientID); err != nil {
		return err
	}
	results, next, err := s.opts.Store.ListReconciliations(r.Context(), clientID, r.URL.Query().Get("stack_id"), p.cursor, p.limit)
	if err != nil {
		return s.storeListError(err, "list reconciliations")
	}
	return writeJSON(w, newList(results, next))
}
