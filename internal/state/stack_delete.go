package state

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/blackwellio/blackwell/internal/store"
)

// DeleteStack removes a stack (store.Store.DeleteStack): its record and
// own policy go, its open drifts are resolved (each with a drift_resolved
// entry, so notification channels announce the resolution once), its
// pending heals cancelled and pending approvals closed, and the deletion
// is audited as stack_deleted; its history stays. The reconcile loop is
// told (OnChange), and its next pass of the stack finds it gone and
// forgets it. store.ErrNotFound when there is no such stack.
func (s *Service) DeleteStack(ctx context.Context, clientID, stackID, by string) (store.StackDeleted, error) {
	now := s.now()
	got, err := s.store.DeleteStack(ctx, store.StackDeletion{ClientID: clientID, StackID: stackID, At: now, By: by,
		Audit: func(d store.StackDeleted) []store.AuditEntry {
			entries := make([]store.AuditEntry, 0, len(d.Drifts)+1)
			for _, dr := range d.Drifts {
				if !dr.Confirmed {
					continue // never announced (as a pass resolves them)
				}
				changes, _ := json.Marshal(map[string]any{"code": dr.Code, "component": dr.Component, "severity": dr.Severity,
					"reason": store.StackDeletedReason})
				entries = append(entries, store.AuditEntry{Timestamp: now, Action: "drift_resolved", ClientID: clientID, StackID: stackID,
					TriggeredBy: by, Success: true, ChangesMade: changes, DriftID: dr.ID})
			}
			changes, _ := json.Marshal(map[string]any{"state_version": d.StateVersion, "desired_hash": d.DesiredHash,
				"drifts_resolved": len(d.Drifts), "heals_cancelled": d.HealsCancelled, "approvals_closed": d.ApprovalsClosed,
				"policy_deleted": d.PolicyDeleted})
			return append(entries, store.AuditEntry{Timestamp: now, Action: "stack_deleted", ClientID: clientID, StackID: stackID,
				TriggeredBy: by, Success: true, ChangesMade: changes})
		}})
	if err != nil {
		return store.StackDeleted{}, err
	}
	if got.PolicyDeleted {
		s.ForgetPolicies("")
	}
	// The stack's compliance timeline ends with it: no rule applies to a
	// stack that is gone.
	if _, err := s.store.RecordCompliance(ctx, store.ComplianceWrite{ClientID: clientID, StackID: stackID, At: now, Complete: true}); err != nil {
		s.log.WarnContext(ctx, "end the compliance timeline of a deleted stack", "client_id", clientID, "stack_id", stackID, "error", err)
	}
	s.onChange(clientID, stackID)
	return got, nil
}

// Prune deletes the stacks of the given clients that keep is missing
// (keep holds "client\x00stack" keys): what apply --prune removes.
func (s *Service) Prune(ctx context.Context, clients []string, keep map[string]bool, by string) ([]store.StackDeleted, error) {
	var out []store.StackDeleted
	for _, c := range clients {
		recs, err := s.allStates(ctx, c)
		if err != nil {
			return out, err
		}
		for _, r := range recs {
			if keep[r.ClientID+"\x00"+r.StackID] {
				continue
			}
			d, err := s.DeleteStack(ctx, r.ClientID, r.StackID, by)
			if err != nil {
				return out, fmt.Errorf("prune %s/%s: %w", r.ClientID, r.StackID, err)
			}
			out = append(out, d)
		}
	}
	return out, nil
}

// allStates lists every stack of a client.
func (s *Service) allStates(ctx context.Context, clientID string) ([]store.StateRecord, error) {
	var out []store.StateRecord
	cursor := ""
	for {
		recs, next, err := s.store.ListStates(ctx, clientID, cursor, 1000)
		if err != nil {
			return nil, fmt.Errorf("list stacks of %s: %w", clientID, err)
		}
		out = append(out, recs...)
		if next == "" {
			return out, nil
		}
		cursor = next
	}
}
