package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/promote"
	"github.com/blackwellio/blackwell/internal/rollback"
	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
)

// actorAPI names changes made through a Server used without its
// middleware (tests) in the audit log; requests name their token
// (auth.go).
const actorAPI = "api"

// listStacks answers GET /v1/stacks: state records, ?client_id= filters.
func (s *Server) listStacks(w http.ResponseWriter, r *http.Request) error {
	p, err := pageParams(r)
	if err != nil {
		return err
	}
	recs, next, err := s.opts.Store.ListStates(r.Context(), r.URL.Query().Get("client_id"), p.cursor, p.limit)
	if err != nil {
		return s.storeListError(err, "list stacks")
	}
	ret := s.retentions()
	out := make([]stackAnswer, len(recs))
	for i := range recs {
		if out[i], err = s.answerStack(r.Context(), ret, recs[i]); err != nil {
			return err
		}
	}
	return writeJSON(w, newList(out, next))
}

// getStack answers GET /v1/stacks/{client_id}/{stack_id}.
func (s *Server) getStack(w http.ResponseWriter, r *http.Request) error {
	rec, err := s.stack(r.Context(), r)
	if err != nil {
		return err
	}
	ans, err := s.answerStack(r.Context(), s.retentions(), rec)
	if err != nil {
		return err
	}
	return writeJSON(w, ans)
}

// stackAnswer is a state record as GET /v1/stacks answers it: with the
// stack's effective retention and its application.
type stackAnswer struct {
	store.StateRecord
	Retention *retentionAnswer `json:"retention,omitempty"`
	// App is the application the stack belongs to (docs/ENVIRONMENTS.md),
	// absent for a stack without an environment.
	App string `json:"app,omitempty"`
}

// retentionAnswer is how long a stack's events and reconciliation results
// are kept: its effective policy's events.retention and
// observability.history_retention, else the server's.
type retentionAnswer struct {
	Events  config.Duration `json:"events"`
	History config.Duration `json:"history"`
}

// retentions reads each client's policies once per answer.
type retentions struct {
	def      config.Retention
	policies map[string]map[string]*config.PolicySpec // client -> stack -> spec; nil spec: does not decode
}

func (s *Server) retentions() *retentions {
	return &retentions{def: config.Retention{Events: s.opts.EventRetention, History: s.opts.HistoryRetention},
		policies: map[string]map[string]*config.PolicySpec{}}
}

// answerStack presents rec with its retention. A stack whose effective
// policy does not decode has none reported (its passes fail on it too).
func (s *Server) answerStack(ctx context.Context, ret *retentions, rec store.StateRecord) (stackAnswer, error) {
	ans := stackAnswer{StateRecord: s.present(rec)}
	if rec.Environment != "" {
		ans.App = promote.AppOfState(rec)
	}
	if ret.def.Events <= 0 || ret.def.History <= 0 {
		return ans, nil
	}
	specs, ok := ret.policies[rec.ClientID]
	if !ok {
		recs, err := s.opts.Store.ListPolicies(ctx, rec.ClientID)
		if err != nil {
			return ans, fmt.Errorf("read policies of %s: %w", rec.ClientID, err)
		}
		specs = make(map[string]*config.PolicySpec, len(recs))
		for _, p := range recs {
			var spec config.PolicySpec
			if json.Unmarshal(p.Document, &spec) == nil {
				specs[p.StackID] = &spec
			} else {
				specs[p.StackID] = nil
			}
		}
		ret.policies[rec.ClientID] = specs
	}
	spec, ok := specs[rec.StackID]
	if !ok {
		spec, ok = specs[""]
	}
	if ok && spec == nil {
		return ans, nil
	}
	r := config.RetentionOf(spec, ret.def)
	ans.Retention = &retentionAnswer{Events: config.Duration(r.Events), History: config.Duration(r.History)}
	return ans, nil
}

// stack reads the stack named by the path, 404 when it does not exist.
func (s *Server) stack(ctx context.Context, r *http.Request) (store.StateRecord, error) {
	clientID, stackID := r.PathValue("client_id"), r.PathValue("stack_id")
	rec, err := s.opts.Store.GetState(ctx, clientID, stackID)
	if errors.Is(err, store.ErrNotFound) {
		return store.StateRecord{}, notFound("stack %s/%s not found", clientID, stackID)
	}
	if err != nil {
		return store.StateRecord{}, fmt.Errorf("read stack %s/%s: %w", clientID, stackID, err)
	}
	return rec, nil
}

// present prepares a state record for an answer: the status of a stack
// with a pass in flight is "reconciling", and empty lists are [] not null.
func (s *Server) present(rec store.StateRecord) store.StateRecord {
	if s.opts.Reconciler != nil && s.opts.Reconciler.InFlight(rec.ClientID, rec.StackID) {
		rec.Status = store.StatusReconciling
	}
	if rec.PreviousVersions == nil {
		rec.PreviousVersions = []string{}
	}
	if !rec.Hold.Active(s.now()) {
		rec.Hold = nil // an expired hold pins nothing
	}
	details := make([]drift.Drift, len(rec.DriftDetails))
	for i, d := range rec.DriftDetails {
		details[i] = drift.Explain(d)
	}
	rec.DriftDetails = details
	if rec.Resources == nil {
		rec.Resources = map[string]string{}
	}
	if rec.ReconciliationPolicy.RequireApproval == nil {
		rec.ReconciliationPolicy.RequireApproval = []string{}
	}
	if rec.Observability.AlertChannels == nil {
		rec.Observability.AlertChannels = []string{}
	}
	return rec
}

// patchStackRequest is the body of PATCH /v1/stacks/{client_id}/{stack_id}.
type patchStackRequest struct {
	// Spec is the new StackSpec, kept raw: it is validated exactly like a
	// document of blackwell.yaml.
	Spec json.RawMessage `json:"spec"`
	// Environment replaces the stack's environment when not empty.
	Environment string `json:"environment"`
}

// patchStack answers PATCH /v1/stacks/{client_id}/{stack_id}: a new desired
// spec for an existing stack, validated as a config document and applied.
func (s *Server) patchStack(w http.ResponseWriter, r *http.Request) error {
	var req patchStackRequest
	hasBody, err := s.decodeJSON(w, r, &req)
	if err != nil {
		return err
	}
	if !hasBody || len(req.Spec) == 0 || string(req.Spec) == "null" {
		return invalid("the body must hold the new stack spec: {\"spec\": {...}}")
	}
	ctx := r.Context()
	cur, err := s.stack(ctx, r)
	if err != nil {
		return err
	}
	env := req.Environment
	if env == "" {
		env = cur.Environment
	}
	// The same validation as a file: one Stack document, written as JSON
	// (which is YAML) and parsed by the config parser.
	doc := struct {
		APIVersion string           `json:"apiVersion"`
		Kind       string           `json:"kind"`
		Metadata   config.StackMeta `json:"metadata"`
		Spec       json.RawMessage  `json:"spec"`
	}{config.APIVersion, config.KindStack, config.StackMeta{ClientID: cur.ClientID, StackID: cur.StackID, Environment: env}, req.Spec}
	// Compact: indented, a deeply nested spec of 16 KB became 128 MB.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return badRequest("malformed spec: %s", jsonErrorText(err))
	}
	// Under the rules of API documents: a command build only as stored,
	// and for a client-scoped token its client's variables and the stored
	// credential destinations (docs/SECURITY.md, "Tenants").
	release, err := s.parseTurn(ctx)
	if err != nil {
		return err
	}
	cfg, err := s.parseConfig(r, "request", buf.Bytes())
	release()
	if err != nil {
		return err
	}
	if len(cfg.Stacks) != 1 {
		return invalid("the body must hold exactly one stack spec")
	}
	if err := s.checkTargets(r, config.StackTargets(cfg.Stacks[0].Spec)); err != nil {
		return err // a client-scoped token may not target internal addresses
	}
	// Keep the stack's stored policies: Apply takes the policy summary of the
	// state record from the config it is given.
	pols, err := s.storedPolicies(ctx, cur.ClientID, cur.StackID)
	if err != nil {
		return err
	}
	cfg.Policies = append(cfg.Policies, pols...)
	res, err := s.opts.State.Apply(ctx, cfg, actor(r))
	if err != nil {
		return fmt.Errorf("apply stack %s: %w", cur.Key(), err)
	}
	if h := res[0].Pinned; h != nil {
		return pinnedError(cur.Key(), h)
	}
	rec, err := s.stack(ctx, r)
	if err != nil {
		return err
	}
	ans := stackWriteAnswer{StateRecord: s.present(rec)}
	if res[0].Changed {
		ans.Warnings = s.stackWarnings(rec)
	}
	return writeJSON(w, ans)
}

// stackWriteAnswer is a stack as a write left it, with what the caller
// should know of it (warnings: the config file declares it otherwise).
type stackWriteAnswer struct {
	store.StateRecord
	Warnings []string `json:"warnings,omitempty"`
}

// stackWarnings is the warning of a stack the config file the server
// applied declares with another desired state (none otherwise).
func (s *Server) stackWarnings(rec store.StateRecord) []string {
	if w := s.opts.State.StackWarning(rec); w != "" {
		return []string{w}
	}
	return nil
}

// pinnedError answers a change of a stack that a rollback's hold pins.
func pinnedError(key string, h *store.Hold) error {
	return errorf(http.StatusConflict, codeConflict, "stack %s is pinned at %s until %s by a rollback hold: nothing was changed; end the hold first (blackwell unpin %s)",
		key, h.Version, h.Until.UTC().Format(time.RFC3339), key)
}

// storedPolicies returns the stored policies of a client that govern a
// stack (its own and the client-wide one) as config documents.
func (s *Server) storedPolicies(ctx context.Context, clientID, stackID string) ([]config.Policy, error) {
	var out []config.Policy
	for _, sid := range []string{stackID, ""} {
		rec, err := s.opts.Store.GetPolicy(ctx, clientID, sid)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read policy %s/%s: %w", clientID, sid, err)
		}
		var spec config.PolicySpec
		if err := json.Unmarshal(rec.Document, &spec); err != nil {
			return nil, fmt.Errorf("decode policy %s/%s: %w", clientID, sid, err)
		}
		out = append(out, config.Policy{
			APIVersion: config.APIVersion, Kind: config.KindReconciliationPolicy,
			Metadata: config.PolicyMeta{ClientID: clientID, StackID: sid},
			Spec:     spec,
		})
	}
	return out, nil
}

// versionItem is a stored version and the newest known-good snapshot of
// it (its snapshot, "" when none is kept).
type versionItem struct {
	store.DesiredVersion
	Snapshot string `json:"snapshot,omitempty"`
}

// listVersions answers GET /v1/stacks/{client_id}/{stack_id}/versions:
// stored desired versions, newest first, each naming its snapshot.
func (s *Server) listVersions(w http.ResponseWriter, r *http.Request) error {
	p, err := pageParams(r)
	if err != nil {
		return err
	}
	rec, err := s.stack(r.Context(), r)
	if err != nil {
		return err
	}
	versions, err := s.opts.Store.ListDesiredVersions(r.Context(), rec.ClientID, rec.StackID)
	if err != nil {
		return fmt.Errorf("list versions of %s: %w", rec.Key(), err)
	}
	snaps, err := s.opts.Store.ListSnapshots(r.Context(), rec.ClientID, rec.StackID)
	if err != nil {
		return fmt.Errorf("list snapshots of %s: %w", rec.Key(), err)
	}
	newest := map[string]string{}
	for _, sn := range snaps { // newest first
		if _, ok := newest[sn.Version]; !ok {
			newest[sn.Version] = sn.ID
		}
	}
	items := make([]versionItem, len(versions))
	for i, v := range versions {
		items[i] = versionItem{DesiredVersion: v, Snapshot: newest[v.Version]}
	}
	return writeOffsetPage(w, p, items)
}

// writeOffsetPage answers a page of items the store answers whole: the
// cursor is an offset into them.
func writeOffsetPage[T any](w http.ResponseWriter, p page, items []T) error {
	start := 0
	if p.cursor != "" {
		n, err := strconv.Atoi(p.cursor)
		if err != nil || n < 0 || n > len(items) {
			return badRequest("invalid cursor %q", p.cursor)
		}
		start = n
	}
	end := min(start+p.limit, len(items))
	next := ""
	if end < len(items) {
		next = strconv.Itoa(end)
	}
	return writeJSON(w, newList(items[start:end], next))
}

// listSnapshots answers GET /v1/stacks/{client_id}/{stack_id}/snapshots:
// the stack's known-good snapshots, newest first.
func (s *Server) listSnapshots(w http.ResponseWriter, r *http.Request) error {
	p, err := pageParams(r)
	if err != nil {
		return err
	}
	rec, err := s.stack(r.Context(), r)
	if err != nil {
		return err
	}
	snaps, err := s.opts.Store.ListSnapshots(r.Context(), rec.ClientID, rec.StackID)
	if err != nil {
		return fmt.Errorf("list snapshots of %s: %w", rec.Key(), err)
	}
	return writeOffsetPage(w, p, snaps)
}

// listRollbacks answers GET /v1/stacks/{client_id}/{stack_id}/rollbacks:
// the stack's rollbacks across providers, newest first, with the outcome
// of each component.
func (s *Server) listRollbacks(w http.ResponseWriter, r *http.Request) error {
	p, err := pageParams(r)
	if err != nil {
		return err
	}
	rec, err := s.stack(r.Context(), r)
	if err != nil {
		return err
	}
	runs, err := s.opts.Store.ListRollbacks(r.Context(), rec.ClientID, rec.StackID, false)
	if err != nil {
		return fmt.Errorf("list rollbacks of %s: %w", rec.Key(), err)
	}
	return writeOffsetPage(w, p, runs)
}

// rollbackRequest is the body of POST .../rollback.
type rollbackRequest struct {
	// Version or Snapshot (exactly one) names what to restore.
	Version  string `json:"version,omitempty"`
	Snapshot string `json:"snapshot,omitempty"`
	By       string `json:"by,omitempty"`
	// Hold pins the stack at the restored state for this long (at most
	// state.MaxHold).
	Hold config.Duration `json:"hold,omitempty"`
}

// rollbackAnswer is what a rollback did: the new version, whose document
// is the restored one, and, when a known-good snapshot was restored, the
// rollback across providers with the outcome of each component.
type rollbackAnswer struct {
	store.ApplyResult
	RestoredVersion string                `json:"restored_version"`
	Hold            *store.Hold           `json:"hold,omitempty"`
	Rollback        *store.RollbackRecord `json:"rollback,omitempty"`
	Warnings        []string              `json:"warnings,omitempty"`
}

// rollbackTimeout bounds a rollback across providers run for a request;
// one that does not finish in it is left running and resumed at the next
// start.
const rollbackTimeout = 5 * time.Minute

// rollback answers POST /v1/stacks/{client_id}/{stack_id}/rollback.
func (s *Server) rollback(w http.ResponseWriter, r *http.Request) error {
	var req rollbackRequest
	hasBody, err := s.decodeJSON(w, r, &req)
	if err != nil {
		return err
	}
	target, err := rollbackTarget(hasBody, req)
	if err != nil {
		return err
	}
	if req.Hold.D() > state.MaxHold {
		return invalid("a hold lasts at most 7 days (168h), not %s", req.Hold)
	}
	ctx := r.Context()
	rec, err := s.stack(ctx, r)
	if err != nil {
		return err
	}
	ans, err := s.rollBack(ctx, rec, rollback.Request{ClientID: rec.ClientID, StackID: rec.StackID,
		Target: target, Hold: req.Hold.D(), By: by(r, req.By)})
	if errors.Is(err, store.ErrNotFound) {
		return notFound("%s", err)
	}
	if errors.Is(err, rollback.ErrRunning) {
		return errorf(http.StatusConflict, codeConflict, "%s", err)
	}
	if err != nil {
		return err
	}
	if after, err := s.opts.Store.GetState(ctx, rec.ClientID, rec.StackID); err == nil {
		if after.Hold.Active(s.now()) {
			ans.Hold = after.Hold
		}
		ans.Warnings = append(ans.Warnings, s.stackWarnings(after)...)
	} else if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("read stack %s: %w", rec.Key(), err)
	}
	return writeJSON(w, ans)
}

// rollbackTarget is the request's version or snapshot.
func rollbackTarget(hasBody bool, req rollbackRequest) (string, error) {
	switch {
	case !hasBody || (req.Version == "" && req.Snapshot == ""):
		return "", invalid("the body must name the version or the snapshot to restore: {\"version\": \"v1.0.0\"} or {\"snapshot\": \"snap-...\"}")
	case req.Version != "" && req.Snapshot != "":
		return "", invalid("name a version or a snapshot, not both")
	case req.Snapshot != "":
		if !strings.HasPrefix(req.Snapshot, "snap-") {
			return "", invalid("%q is not a snapshot id like snap-0123456789abcdef", req.Snapshot)
		}
		return req.Snapshot, nil
	case !state.ValidVersion(req.Version):
		return "", invalid("%q is not a version like v1.2.0", req.Version)
	}
	return req.Version, nil
}

// rollBack restores a known-good snapshot across providers when there is
// one (Options.Rollbacks), else the desired state alone.
func (s *Server) rollBack(ctx context.Context, rec store.StateRecord, req rollback.Request) (rollbackAnswer, error) {
	if s.opts.Rollbacks != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
		defer cancel()
		run, err := s.opts.Rollbacks.Start(rctx, req)
		if run != nil {
			// A step that failed is in the record; so is a rollback
			// left running.
			after, gerr := s.opts.Store.GetState(ctx, rec.ClientID, rec.StackID)
			if gerr != nil {
				return rollbackAnswer{}, gerr
			}
			res := store.ApplyResult{ClientID: rec.ClientID, StackID: rec.StackID, Version: after.StateVersion,
				Hash: after.DesiredHash, Changed: run.NewVersion != "" && run.NewVersion != rec.StateVersion}
			return rollbackAnswer{ApplyResult: res, RestoredVersion: run.RestoredVersion, Rollback: run}, nil
		}
		if err != nil {
			return rollbackAnswer{}, err
		}
	} else if strings.HasPrefix(req.Target, "snap-") {
		return rollbackAnswer{}, invalid("this server restores no snapshots: name a version")
	}
	res, err := s.opts.State.Rollback(ctx, state.RollbackRequest{ClientID: rec.ClientID, StackID: rec.StackID,
		Version: req.Target, By: req.By, Hold: req.Hold})
	if errors.Is(err, store.ErrNotFound) {
		return rollbackAnswer{}, fmt.Errorf("version %s of stack %s %w", req.Target, rec.Key(), store.ErrNotFound)
	}
	if err != nil {
		return rollbackAnswer{}, err
	}
	ans := rollbackAnswer{ApplyResult: res, RestoredVersion: req.Target}
	if s.opts.Rollbacks != nil {
		ans.Warnings = append(ans.Warnings, fmt.Sprintf("no known-good snapshot of %s is kept: only the desired state was restored, not what the providers run", req.Target))
	}
	return ans, nil
}

// unpinAnswer is what POST .../unpin did.
type unpinAnswer struct {
	ClientID string `json:"client_id"`
	StackID  string `json:"stack_id"`
	// Unpinned: the stack had a hold (active or expired), now removed.
	Unpinned bool `json:"unpinned"`
	// Hold is the hold removed.
	Hold *store.Hold `json:"hold,omitempty"`
	// Providers says what was done at the providers to end the hold
	// there (rollback.Service.Unpinned).
	Providers []string `json:"providers,omitempty"`
	Warnings  []string `json:"warnings,omitempty"`
}

// unpin answers POST /v1/stacks/{client_id}/{stack_id}/unpin: the stack's
// hold ends; its desired state stays as it is, and a host that a rollback
// left holding production (Vercel) follows new deployments again.
func (s *Server) unpin(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	rec, err := s.stack(ctx, r)
	if err != nil {
		return err
	}
	h, err := s.opts.State.Unpin(ctx, rec.ClientID, rec.StackID, actor(r))
	if errors.Is(err, store.ErrNotFound) {
		return notFound("stack %s not found", rec.Key())
	}
	if err != nil {
		return fmt.Errorf("unpin %s: %w", rec.Key(), err)
	}
	ans := unpinAnswer{ClientID: rec.ClientID, StackID: rec.StackID, Unpinned: h != nil, Hold: h}
	rec.Hold = nil
	ans.Warnings = s.stackWarnings(rec)
	if h != nil && s.opts.Rollbacks != nil {
		detail, err := s.opts.Rollbacks.Unpinned(ctx, rec.ClientID, rec.StackID, h)
		if detail != "" || err != nil {
			changes, _ := json.Marshal(map[string]any{"state_version": h.Version, "snapshot": h.Snapshot, "detail": detail, "error": errText(err)})
			if aerr := s.opts.Store.AppendAudit(ctx, []store.AuditEntry{{Timestamp: s.now(), Action: "unpin_providers", ClientID: rec.ClientID,
				StackID: rec.StackID, TriggeredBy: actor(r), Success: err == nil, ChangesMade: changes}}); aerr != nil {
				return fmt.Errorf("audit unpin: %w", aerr)
			}
		}
		if detail != "" {
			ans.Providers = append(ans.Providers, detail)
		}
		if err != nil {
			ans.Warnings = append(ans.Warnings, "the hold ended, but the host still holds production on the rolled-back deployment: "+err.Error())
		}
	}
	return writeJSON(w, ans)
}

// errText is err's message, "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
