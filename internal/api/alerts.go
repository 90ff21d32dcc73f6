package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"

	"github.com/blackwellio/blackwell/internal/store"
)

// triggerAlert is the trigger recorded for passes asked for by an alert
// (reconcile.TriggerAlert).
const triggerAlert = "alert"

// alertRequest is either shape POST /v1/alerts accepts: Alertmanager's
// webhook payload (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config),
// recognised by its alerts list, or the plain {client_id, stack_id,
// reason}. Unknown fields are ignored: Alertmanager adds fields between
// versions.
type alertRequest struct {
	ClientID string `json:"client_id"`
	StackID  string `json:"stack_id"`
	Reason   string `json:"reason"`

	Version string            `json:"version"`
	Status  string            `json:"status"`
	Alerts  []alertmanagerOne `json:"alerts"`
}

type alertmanagerOne struct {
	Status string            `json:"status"`
	Labels map[string]string `json:"labels"`
}

// alertAnswer is the 202 answer: the stacks a pass was asked for, and
// stacks named by alerts that do not exist.
type alertAnswer struct {
	Accepted []string `json:"accepted"`
	Unknown  []string `json:"unknown,omitempty"`
}

// receiveAlerts answers POST /v1/alerts: each firing alert (or the plain
// request) asks for an immediate pass of its stack, or of every stack of
// its client when it names none. Alertmanager alerts carry the stack in
// their client_id and stack_id labels; resolved alerts are ignored.
func (s *Server) receiveAlerts(w http.ResponseWriter, r *http.Request) error {
	rc, err := s.reconciler()
	if err != nil {
		return err
	}
	data, err := s.jsonBody(w, r)
	if err != nil {
		return err
	}
	if data == nil {
		return invalid("a body is required: Alertmanager's webhook payload or {\"client_id\", \"stack_id\", \"reason\"}")
	}
	var req alertRequest
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return badRequest("malformed JSON body: %s", jsonErrorText(err))
	}
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&req); err != nil {
		return badRequest("malformed JSON body: %s", jsonErrorText(err))
	}

	var targets []alertTarget
	if _, isAlertmanager := raw["alerts"]; isAlertmanager {
		firing := 0
		for _, a := range req.Alerts {
			status := a.Status
			if status == "" {
				status = req.Status
			}
			if status != "firing" {
				continue
			}
			firing++
			if c := a.Labels["client_id"]; c != "" {
				targets = append(targets, alertTarget{c, a.Labels["stack_id"], a.Labels["alertname"]})
			}
		}
		if firing > 0 && len(targets) == 0 {
			return invalid("no firing alert has a client_id label")
		}
	} else {
		if req.ClientID == "" {
			return invalid("client_id is required")
		}
		targets = append(targets, alertTarget{req.ClientID, req.StackID, req.Reason})
	}

	ans := alertAnswer{Accepted: []string{}}
	for _, t := range targets {
		stacks, err := s.alertStacks(r.Context(), t.client, t.stack)
		if err != nil {
			return err
		}
		if len(stacks) == 0 {
			key := t.client + "/" + t.stack
			if t.stack == "" {
				key = t.client + "/*"
			}
			if !slices.Contains(ans.Unknown, key) {
				ans.Unknown = append(ans.Unknown, key)
			}
			continue
		}
		for _, st := range stacks {
			key := t.client + "/" + st
			if slices.Contains(ans.Accepted, key) {
				continue
			}
			rc.Trigger(t.client, st, triggerAlert)
			ans.Accepted = append(ans.Accepted, key)
			s.log.InfoContext(r.Context(), "alert triggered a pass", "client_id", t.client, "stack_id", st,
				"reason", clipText(t.reason), "request_id", requestID(w))
		}
	}
	s.auditAlert(w, r, ans, targets)
	if len(ans.Accepted) == 0 && len(ans.Unknown) > 0 {
		if len(ans.Unknown) == 1 {
			return notFound("no such stack: %s", ans.Unknown[0])
		}
		return notFound("no such stacks: %v", ans.Unknown)
	}
	writeJSONStatus(w, http.StatusAccepted, ans)
	return nil
}

// alertTarget is what one alert names: a client, optionally a stack, and
// why (the alert's name or the plain request's reason).
type alertTarget struct{ client, stack, reason string }

// auditAlert appends an alert_received entry: the stacks an alert asked a
// pass for, those it named that do not exist, and the alerts' reasons.
func (s *Server) auditAlert(w http.ResponseWriter, r *http.Request, ans alertAnswer, targets []alertTarget) {
	reasons := []string{}
	client := ""
	for i, t := range targets {
		if t.reason != "" && !slices.Contains(reasons, clipText(t.reason)) && len(reasons) < 20 {
			reasons = append(reasons, clipText(t.reason))
		}
		if i == 0 {
			client = t.client
		} else if t.client != client {
			client = "" // several clients
		}
	}
	changes, _ := json.Marshal(map[string]any{"accepted": ans.Accepted, "unknown": ans.Unknown, "reasons": reasons})
	ctx := context.WithoutCancel(r.Context())
	if err := s.opts.Store.AppendAudit(ctx, []store.AuditEntry{{
		Timestamp: s.now(), Action: "alert_received", ClientID: client, TriggeredBy: actor(r),
		Success: len(ans.Accepted) > 0 || len(ans.Unknown) == 0, ChangesMade: changes,
	}}); err != nil {
		s.log.ErrorContext(ctx, "audit alert", "request_id", requestID(w), "error", err)
	}
}

// alertStacks returns the stacks an alert names: the one stack, or every
// stack of the client; none when they do not exist.
func (s *Server) alertStacks(ctx context.Context, clientID, stackID string) ([]string, error) {
	if stackID != "" {
		_, err := s.opts.Store.GetState(ctx, clientID, stackID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return []string{stackID}, nil
	}
	recs, err := store.AllStates(ctx, s.opts.Store, clientID)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(recs))
	for i, rec := range recs {
		out[i] = rec.StackID
	}
	return out, nil
}

// clipText bounds a caller's free text before it is logged.
func clipText(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
