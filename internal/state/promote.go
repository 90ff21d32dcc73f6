package state

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/store"
)

// SpecRequest asks ApplySpec to make spec a stack's desired state.
type SpecRequest struct {
	ClientID, StackID string
	Spec              config.StackSpec
	By                string
	// Action names the audit entry (promotion_applied, ...); Changes are
	// its changes_made, with the versions added.
	Action  string
	Changes map[string]any
}

// ApplySpec makes a composition the desired state of an existing stack
// (its environment kept, its policy's summaries as now), audited under
// req.Action; a pass follows a change (OnChange). A stack under an active
// hold is refused with ErrPinned and nothing is written; ErrNotFound
// (wrapped) when there is no such stack.
func (s *Service) ApplySpec(ctx context.Context, req SpecRequest) (store.ApplyResult, error) {
	cur, err := s.store.GetState(ctx, req.ClientID, req.StackID)
	if err != nil {
		return store.ApplyResult{}, fmt.Errorf("read stack %s/%s: %w", req.ClientID, req.StackID, err)
	}
	now := s.now()
	if h := cur.Hold; h.Active(now) {
		return store.ApplyResult{}, fmt.Errorf("%w: stack %s/%s is pinned at %s until %s by a rollback hold (blackwell unpin %s/%s ends it)",
			ErrPinned, req.ClientID, req.StackID, h.Version, h.Until.UTC().Format(time.RFC3339), req.ClientID, req.StackID)
	}
	pol, err := s.Policy(ctx, req.ClientID, req.StackID)
	if err != nil {
		return store.ApplyResult{}, err
	}
	st := config.Stack{
		APIVersion: config.APIVersion, Kind: config.KindStack,
		Metadata: config.StackMeta{ClientID: req.ClientID, StackID: req.StackID, Environment: cur.Environment, App: req.Spec.App},
		Spec:     req.Spec,
	}
	in, err := s.desiredInput(st, pol, req.By)
	if err != nil {
		return store.ApplyResult{}, err
	}
	res, err := s.store.ApplyDesired(ctx, []store.DesiredInput{in})
	if err != nil {
		return store.ApplyResult{}, fmt.Errorf("apply %s/%s: %w", req.ClientID, req.StackID, err)
	}
	if h := res[0].Pinned; h != nil {
		// Pinned between the read and the write.
		return store.ApplyResult{}, fmt.Errorf("%w: stack %s/%s is pinned at %s until %s by a rollback hold",
			ErrPinned, req.ClientID, req.StackID, h.Version, h.Until.UTC().Format(time.RFC3339))
	}
	change := map[string]any{"from_version": cur.StateVersion, "to_version": res[0].Version, "desired_hash": res[0].Hash}
	for k, v := range req.Changes {
		change[k] = v
	}
	changes, _ := json.Marshal(change)
	if err := s.store.AppendAudit(ctx, []store.AuditEntry{{
		Timestamp: now, Action: req.Action, ClientID: req.ClientID, StackID: req.StackID,
		TriggeredBy: req.By, Success: true, ChangesMade: changes,
	}}); err != nil {
		return res[0], fmt.Errorf("audit %s: %w", req.Action, err)
	}
	if res[0].Changed {
		s.onChange(req.ClientID, req.StackID)
	}
	return res[0], nil
}

// applyPipelines stores the config's pipelines whose documents changed,
// returning their audit entries.
func (s *Service) applyPipelines(ctx context.Context, cfg *config.Config, by string) ([]store.AuditEntry, error) {
	stored := map[string]map[string]string{}
	var audit []store.AuditEntry
	for _, p := range cfg.Pipelines {
		m := p.Metadata
		if _, ok := stored[m.ClientID]; !ok {
			list, err := s.store.ListPipelines(ctx, m.ClientID)
			if err != nil {
				return nil, fmt.Errorf("read pipelines of %s: %w", m.ClientID, err)
			}
			stored[m.ClientID] = map[string]string{}
			for _, r := range list {
				stored[m.ClientID][r.App] = string(r.Document)
			}
		}
		doc, err := json.Marshal(p.Spec)
		if err != nil {
			return nil, fmt.Errorf("encode pipeline %s/%s: %w", m.ClientID, m.App, err)
		}
		if stored[m.ClientID][m.App] == string(doc) {
			continue
		}
		if err := s.store.PutPipeline(ctx, store.PipelineRecord{ClientID: m.ClientID, App: m.App, Document: doc, UpdatedAt: s.now()}); err != nil {
			return nil, err
		}
		changes, _ := json.Marshal(map[string]any{"app": m.App, "pipeline": json.RawMessage(doc)})
		audit = append(audit, store.AuditEntry{Timestamp: s.now(), Action: "pipeline_changed", ClientID: m.ClientID,
			TriggeredBy: by, Success: true, ChangesMade: changes})
	}
	return audit, nil
}
