package bus

import (
	"encoding/json"
	"time"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/store"
)

// DriftEvent is the payload of the drift kinds: the spec's drift event
// JSON (client_id, stack_id, drift_type, expected, observed, severity,
// timestamp, auto_heal_attempted, reconciliation_id) with the
// DriftDetectionEvent's event_id, component and detected_at, plus the
// drift's id and code and what the reconciler decided.
type DriftEvent struct {
	EventID           string         `json:"event_id"`
	ClientID          string         `json:"client_id"`
	StackID           string         `json:"stack_id"`
	DriftType         drift.Type     `json:"drift_type"`
	Expected          any            `json:"expected"`
	Observed          any            `json:"observed"`
	Severity          drift.Severity `json:"severity"`
	Timestamp         time.Time      `json:"timestamp"`
	AutoHealAttempted bool           `json:"auto_heal_attempted"`
	ReconciliationID  string         `json:"reconciliation_id"`

	DriftID    string     `json:"drift_id"`
	Code       drift.Code `json:"code"`
	Component  string     `json:"component"`
	DetectedAt time.Time  `json:"detected_at,omitzero"`
	// Decision is what policy decided on detection ("" otherwise).
	Decision string `json:"decision,omitempty"`
	// By is who acknowledged (drift.acknowledged).
	By string `json:"by,omitempty"`
}

// NewDriftEvent wraps a drift payload of kind k.
func NewDriftEvent(k Kind, d DriftEvent) Event {
	return Event{Kind: k, ClientID: d.ClientID, StackID: d.StackID, Severity: d.Severity,
		Timestamp: d.Timestamp, Data: mustJSON(d)}
}

// ForecastEvent is the payload of the forecast kinds: a forecast of
// drift (internal/forecast) raised or cleared, with the id the drift would
// have and the taxonomy's severity of its code.
type ForecastEvent struct {
	EventID    string         `json:"event_id"`
	ClientID   string         `json:"client_id"`
	StackID    string         `json:"stack_id"`
	ForecastID string         `json:"forecast_id"`
	DriftID    string         `json:"drift_id"`
	Code       drift.Code     `json:"code"`
	Component  string         `json:"component"`
	Severity   drift.Severity `json:"severity"`
	ETA        time.Time      `json:"eta"`
	Confidence float64        `json:"confidence"`
	Class      string         `json:"class"`
	Indicator  string         `json:"indicator"`
	// Evidence says what was seen (forecast.raised, forecast.updated).
	Evidence string `json:"evidence,omitempty"`
	// RaisedAt is when it was raised (forecast.cleared).
	RaisedAt  time.Time `json:"raised_at,omitzero"`
	Timestamp time.Time `json:"timestamp"`
}

// NewForecastEvent wraps a forecast payload of kind k.
func NewForecastEvent(k Kind, f ForecastEvent) Event {
	return Event{Kind: k, ClientID: f.ClientID, StackID: f.StackID, Severity: f.Severity,
		Timestamp: f.Timestamp, Data: mustJSON(f)}
}

// Heal statuses of AutoHealEvent.
const (
	HealStarted = "started"
	HealSuccess = "success"
	HealFailed  = "failed"
)

// AutoHealEvent is the spec's AutoHealEvent.
type AutoHealEvent struct {
	EventID          string      `json:"event_id"`
	ReconciliationID string      `json:"reconciliation_id"`
	ClientID         string      `json:"client_id"`
	DriftDetail      drift.Drift `json:"drift_detail"`
	HealAction       string      `json:"heal_action"`
	// Status is started, success or failed.
	Status       string     `json:"status"`
	StartedAt    time.Time  `json:"started_at"`
	CompletedAt  *time.Time `json:"completed_at,omitempty"`
	ErrorMessage string     `json:"error_message,omitempty"`
}

// NewAutoHealEvent wraps a heal event: kind by status (heal.started,
// heal.succeeded, heal.failed), client, stack and severity from the
// drift, timestamp the completion (else the start).
func NewAutoHealEvent(h AutoHealEvent) Event {
	k := KindHealStarted
	switch h.Status {
	case HealSuccess:
		k = KindHealSucceeded
	case HealFailed:
		k = KindHealFailed
	}
	ts := h.StartedAt
	if h.CompletedAt != nil {
		ts = *h.CompletedAt
	}
	client := h.ClientID
	if client == "" {
		client = h.DriftDetail.ClientID
	}
	return Event{Kind: k, ClientID: client, StackID: h.DriftDetail.StackID, Severity: h.DriftDetail.Severity,
		Timestamp: ts, Data: mustJSON(h)}
}

// NewReconciliationEvent wraps a committed pass's result (the spec's
// ReconciliationResult). It has no severity.
func NewReconciliationEvent(res store.ReconciliationResult) Event {
	return Event{Kind: KindReconciliation, ClientID: res.ClientID, StackID: res.StackID,
		Timestamp: res.CompletedAt, Data: mustJSON(res)}
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		// Payloads are plain structs; a drift's expected and observed
		// values come from JSON.
		b, _ = json.Marshal(map[string]string{"marshal_error": err.Error()})
	}
	return b
}
