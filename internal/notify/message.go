package notify

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/blackwellio/blackwell/internal/drift"
)

// Kind says why a message is sent.
type Kind string

// The message kinds.
const (
	// KindDetected is sent once per drift episode, on first confirmation.
	KindDetected Kind = "detected"
	// KindReminder is sent while a drift stays open and unacknowledged.
	KindReminder Kind = "reminder"
	// KindEscalated raises the drift's severity one step, reaching the
	// channels of the next severity.
	KindEscalated Kind = "escalated"
	// KindResolved is sent once when a notified drift clears.
	KindResolved Kind = "resolved"
	// KindDigest summarises what a channel's rate limit held back.
	KindDigest Kind = "digest"
	// KindForecastRaised announces a forecast of drift once its eta is
	// within the policy's predict.notify_lead; KindForecastCleared its
	// clearance (only of an announced forecast).
	KindForecastRaised  Kind = "forecast_raised"
	KindForecastCleared Kind = "forecast_cleared"
)

// Kinds lists every kind.
var Kinds = []Kind{KindDetected, KindReminder, KindEscalated, KindResolved, KindDigest, KindForecastRaised, KindForecastCleared}

// Message is one notification: the spec's drift event JSON (client_id,
// stack_id, drift_type, expected, observed, severity, timestamp,
// auto_heal_attempted, reconciliation_id) plus what receivers need to act on
// it and to recognise a redelivery (idempotency_key).
type Message struct {
	ClientID          string         `json:"client_id"`
	StackID           string         `json:"stack_id"`
	DriftType         drift.Type     `json:"drift_type"`
	Expected          any            `json:"expected"`
	Observed          any            `json:"observed"`
	Severity          drift.Severity `json:"severity"`
	Timestamp         time.Time      `json:"timestamp"`
	AutoHealAttempted bool           `json:"auto_heal_attempted"`
	ReconciliationID  string         `json:"reconciliation_id"`

	DriftID   string     `json:"drift_id"`
	Code      drift.Code `json:"code"`
	Component string     `json:"component"`
	Kind      Kind       `json:"kind"`
	// Sequence numbers the messages of one drift, from 1, across episodes.
	Sequence int `json:"sequence"`
	// IdempotencyKey is drift id, kind and sequence: the same for every
	// delivery attempt of this message, on every channel.
	IdempotencyKey string `json:"idempotency_key"`
	// DashboardURL links to the drift on the dashboard ("" without a base).
	DashboardURL string `json:"dashboard_url,omitempty"`

	// Action says what the reconciler did about the drift, for people.
	Action string `json:"action,omitempty"`
	// FailedHeals counts failed heal attempts so far.
	FailedHeals int `json:"failed_heals,omitempty"`
	// Cause names an upstream component whose drift explains this one.
	Cause string `json:"cause,omitempty"`
	// DetectedAt is when the drift was first seen.
	DetectedAt time.Time `json:"detected_at,omitzero"`
	// EscalatedFrom is the severity before an escalation.
	EscalatedFrom drift.Severity `json:"escalated_from,omitempty"`
	// Reason says why an escalation happened: failed_heals, open_too_long
	// or severity_increased.
	Reason string `json:"reason,omitempty"`
	// Digest is set on a digest message.
	Digest *Digest `json:"digest,omitempty"`
	// Forecast is set on a forecast message (DriftID is then the id the
	// forecast drift would have).
	Forecast *ForecastDetail `json:"forecast,omitempty"`
}

// ForecastDetail is what a forecast message says of the forecast.
type ForecastDetail struct {
	ID         string    `json:"id"`
	ETA        time.Time `json:"eta"`
	Confidence float64   `json:"confidence"`
	// Class is dated or trend.
	Class     string    `json:"class"`
	Indicator string    `json:"indicator"`
	Evidence  string    `json:"evidence,omitempty"`
	RaisedAt  time.Time `json:"raised_at,omitzero"`
}

// Escalation reasons.
const (
	ReasonFailedHeals       = "failed_heals"
	ReasonOpenTooLong       = "open_too_long"
	ReasonSeverityIncreased = "severity_increased"
)

// Digest summarises the messages a channel's rate limit held back for one
// client.
type Digest struct {
	Channel string    `json:"channel"`
	Held    int       `json:"held"`
	Since   time.Time `json:"since"`
	Until   time.Time `json:"until"`
	// ByKind counts the held messages by kind.
	ByKind map[Kind]int `json:"by_kind"`
	// Items lists held messages, oldest first, at most MaxDigestItems.
	Items []DigestItem `json:"items"`
}

// MaxDigestItems bounds Digest.Items; Held counts them all.
const MaxDigestItems = 20

// DigestItem is one held message.
type DigestItem struct {
	DriftID   string         `json:"drift_id"`
	StackID   string         `json:"stack_id"`
	Code      drift.Code     `json:"code"`
	Component string         `json:"component"`
	Severity  drift.Severity `json:"severity"`
	Kind      Kind           `json:"kind"`
	Timestamp time.Time      `json:"timestamp"`
}

// IdempotencyKey is "<drift id>:<kind>:<sequence>".
func IdempotencyKey(driftID string, k Kind, seq int) string {
	return fmt.Sprintf("%s:%s:%d", driftID, k, seq)
}

// DashboardLink is the dashboard's page of a drift under base (the server's
// public URL), or "" when base is empty.
func DashboardLink(base, clientID, stackID, driftID string) string {
	if base == "" {
		return ""
	}
	q := url.Values{}
	q.Set("client_id", clientID)
	if stackID != "" {
		q.Set("stack_id", stackID)
	}
	if driftID != "" {
		q.Set("drift_id", driftID)
	}
	return strings.TrimRight(base, "/") + "/?" + q.Encode()
}

// meetsThreshold reports whether severity s reaches threshold t; an empty or
// unknown threshold is low.
func meetsThreshold(s, t drift.Severity) bool {
	tr := t.Rank()
	if tr == 0 {
		tr = 1
	}
	return s.Rank() >= tr
}

// nextSeverity is the severity one step above s, and false at critical.
func nextSeverity(s drift.Severity) (drift.Severity, bool) {
	r := s.Rank()
	if r == 0 || r >= len(drift.Severities) {
		return s, false
	}
	return drift.Severities[r], true
}

// title is a one-line summary for people: "[HIGH] webhook_broken on
// acme/site (shopify.orders/create): drift detected".
func (m Message) title() string {
	if m.Kind == KindDigest && m.Digest != nil {
		return fmt.Sprintf("[%s] %s: %d drift notifications held back by the rate limit",
			strings.ToUpper(string(m.Severity)), m.ClientID, m.Digest.Held)
	}
	where := m.ClientID
	if m.StackID != "" {
		where += "/" + m.StackID
	}
	s := fmt.Sprintf("[%s] %s on %s", strings.ToUpper(string(m.Severity)), m.Code, where)
	if m.Component != "" {
		s += " (" + m.Component + ")"
	}
	return s + ": " + m.kindPhrase()
}

func (m Message) kindPhrase() string {
	switch m.Kind {
	case KindDetected:
		return "drift detected"
	case KindReminder:
		return "drift still open"
	case KindEscalated:
		return "drift escalated from " + string(m.EscalatedFrom)
	case KindResolved:
		return "drift resolved"
	case KindDigest:
		return "digest"
	case KindForecastRaised:
		if m.Forecast != nil {
			return "drift forecast by " + m.Forecast.ETA.UTC().Format("2006-01-02 15:04Z")
		}
		return "drift forecast"
	case KindForecastCleared:
		return "forecast cleared"
	}
	return string(m.Kind)
}

// actionText says what the reconciler did, for people.
func (m Message) actionText() string {
	if m.Action != "" {
		return m.Action
	}
	switch {
	case m.Kind == KindForecastRaised:
		return "Forecast only: the drift has not happened yet."
	case m.Kind == KindForecastCleared:
		return "The forecast cleared: its indicator went away."
	case m.Kind == KindResolved:
		return "The drift cleared."
	case m.FailedHeals > 0:
		return fmt.Sprintf("Auto-heal attempted; %d attempt(s) failed.", m.FailedHeals)
	case m.AutoHealAttempted:
		return "Auto-heal attempted."
	}
	return "No automatic action (alert only)."
}
