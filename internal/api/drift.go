package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/store"
)

// DriftStatus is the spec's DriftStatus over all of a client's stacks.
type DriftStatus struct {
	ClientID string `json:"client_id"`
	// HasDrift and DriftCount count confirmed open drifts.
	HasDrift   bool `json:"has_drift"`
	DriftCount int  `json:"drift_count"`
	// LastDetected is the newest detected_at of a confirmed drift; null
	// when there is none.
	LastDetected *time.Time `json:"last_detected"`
	// DriftDetails are the confirmed open drifts (with ?all=true, the
	// suspected ones too), each with its confidence and evidence.
	DriftDetails []drift.Drift `json:"drift_details"`
	// AutoHealEligible: some confirmed drift's code is allowed to auto-heal
	// by its stack's effective policy, and that policy enables auto-heal.
	AutoHealEligible bool `json:"auto_heal_eligible"`
}

// driftStatus answers GET /v1/clients/{client_id}/drift.
func (s *Server) driftStatus(w http.ResponseWriter, r *http.Request) error {
	all, err := boolParam(r, "all")
	if err != nil {
		return err
	}
	ctx := r.Context()
	clientID := r.PathValue("client_id")
	if err := s.requireClient(ctx, clientID); err != nil {
		return err
	}
	drifts, err := s.opts.Store.ListDrifts(ctx, store.DriftQuery{ClientID: clientID})
	if err != nil {
		return fmt.Errorf("list drifts of %s: %w", clientID, err)
	}
	st := DriftStatus{ClientID: clientID, DriftDetails: []drift.Drift{}}
	eligible := map[string]bool{} // stack -> allowed codes checked
	allowed := map[string][]string{}
	for _, d := range drifts {
		if d.ResolvedAt != nil {
			continue
		}
		if d.Confirmed {
			st.DriftCount++
			if st.LastDetected == nil || d.DetectedAt.After(*st.LastDetected) {
				t := d.DetectedAt
				st.LastDetected = &t
			}
			if !st.AutoHealEligible {
				if _, ok := eligible[d.StackID]; !ok {
					pol, err := s.opts.State.Policy(ctx, clientID, d.StackID)
					if err != nil {
						return err
					}
					eligible[d.StackID] = pol.AutoHeal.Enabled
					allowed[d.StackID] = pol.AutoHeal.AllowedDriftTypes
				}
				if eligible[d.StackID] && slices.Contains(allowed[d.StackID], string(d.Code)) {
					st.AutoHealEligible = true
				}
			}
		}
		if d.Confirmed || all {
			st.DriftDetails = append(st.DriftDetails, drift.Explain(d))
		}
	}
	st.HasDrift = st.DriftCount > 0
	return writeJSON(w, st)
}

// ackRequest is the body of POST .../drift/{drift_id}/ack. Reason is
// required (drift.AckReasons): there is no default, since a guessed reason
// would count in the KPI report's false-positive rate. Note is free text.
type ackRequest struct {
	By     string `json:"by"`
	Reason string `json:"reason"`
	Note   string `json:"note"`
}

// ackDrift answers POST /v1/clients/{client_id}/drift/{drift_id}/ack: the
// drift is marked acknowledged and the acknowledgement audited with its
// reason, note and occurrence (first_seen).
func (s *Server) ackDrift(w http.ResponseWriter, r *http.Request) error {
	var req ackRequest
	if _, err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	reason, err := drift.ParseAckReason(req.Reason)
	if err != nil {
		return invalid("%v", err)
	}
	req.By = by(r, req.By)
	ctx := r.Context()
	clientID, driftID := r.PathValue("client_id"), r.PathValue("drift_id")
	now := s.now()
	d, err := s.opts.Store.AcknowledgeDrift(ctx, store.Acknowledge{ClientID: clientID, DriftID: driftID, By: req.By, At: now})
	if errors.Is(err, store.ErrNotFound) {
		return notFound("no open drift %s for client %s", driftID, clientID)
	}
	if err != nil {
		return fmt.Errorf("acknowledge drift %s of %s: %w", driftID, clientID, err)
	}
	changes, err := json.Marshal(map[string]any{"reason": reason, "note": req.Note, "code": d.Code,
		"component": d.Component, "first_seen": d.FirstSeen})
	if err != nil {
		return fmt.Errorf("encode acknowledgement: %w", err)
	}
	if err := s.opts.Store.AppendAudit(ctx, []store.AuditEntry{{
		Timestamp: now, Action: "drift_acknowledged", ClientID: clientID, StackID: d.StackID,
		TriggeredBy: req.By, Success: true, ChangesMade: changes, DriftID: d.ID,
	}}); err != nil {
		return fmt.Errorf("audit acknowledgement of drift %s: %w", driftID, err)
	}
	return writeJSON(w, d)
}
