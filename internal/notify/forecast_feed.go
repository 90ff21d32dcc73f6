package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/blackwellio/blackwell/internal/bus"
	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/forecast"
	"github.com/blackwellio/blackwell/internal/store"
)

// forecastStatePrefix prefixes the subscriber state key of a forecast
// ("forecast:<id>"); other keys are drift ids.
const forecastStatePrefix = "forecast:"

// PredictPolicy returns the predict block of the policy in effect for a
// stack (FeedOptions.Predict).
type PredictPolicy func(ctx context.Context, clientID, stackID string) (config.Predict, error)

// ForecastState is what the feed keeps of a forecast between its raise
// and its clearance: enough to announce it when its eta comes within the
// policy's notify_lead, and to announce its clearance only if its raise
// was. Done marks a cleared forecast, whose state the next commit deletes.
type ForecastState struct {
	ClientID  string         `json:"client_id"`
	StackID   string         `json:"stack_id"`
	DriftID   string         `json:"drift_id"`
	Code      drift.Code     `json:"code"`
	Component string         `json:"component"`
	Severity  drift.Severity `json:"severity"`
	Detail    ForecastDetail `json:"detail"`
	Announced bool           `json:"announced,omitempty"`
	Done      bool           `json:"done,omitempty"`
	// Streamed is what the stream last said of the forecast (its raise or
	// its last forecast.updated): an update is streamed only when it
	// changed materially from this (forecast.MaterialChange). Nil in a
	// state kept before it existed: the last audited detail stands in.
	Streamed *StreamedForecast `json:"streamed,omitempty"`
}

// StreamedForecast is what the stream last said of a forecast.
type StreamedForecast struct {
	ETA        time.Time `json:"eta"`
	Confidence float64   `json:"confidence"`
	Class      string    `json:"class"`
	Indicator  string    `json:"indicator"`
}

func (s StreamedForecast) forecast() forecast.Forecast {
	return forecast.Forecast{ETA: s.ETA, Confidence: s.Confidence, Class: forecast.Class(s.Class),
		Evidence: forecast.Evidence{Indicator: s.Indicator}}
}

// ForecastDue reports whether a forecast with eta is announced at now
// under p: predict is enabled and the eta is at most notify_lead ahead
// (or past). Pure.
func ForecastDue(p config.Predict, eta, now time.Time) bool {
	lead := p.NotifyLead.D()
	if lead <= 0 {
		lead = config.DefaultNotifyLead
	}
	return p.Enabled && eta.Sub(now) <= lead
}

// forecastChanges is what the forecast audit entries hold in
// changes_made.
type forecastChanges struct {
	ForecastID string     `json:"forecast_id"`
	Code       drift.Code `json:"code"`
	Component  string     `json:"component"`
	ETA        time.Time  `json:"eta"`
	Confidence float64    `json:"confidence"`
	Class      string     `json:"class"`
	Indicator  string     `json:"indicator"`
	Evidence   string     `json:"evidence"`
	RaisedAt   time.Time  `json:"raised_at"`
	// IntervalSeconds is the stack's pass interval (forecast_updated):
	// how far the eta must move to be streamed (forecast.MaterialChange).
	IntervalSeconds float64 `json:"interval_seconds"`
}

func isForecastAction(action string) bool {
	return action == forecast.AuditRaised || action == forecast.AuditUpdated || action == forecast.AuditCleared
}

// applyForecast takes a forecast audit entry: it returns the messages due
// (a raise within the lead, a clearance of an announced raise) and the
// entry's stream event (for an update, forecast.updated only when it
// changed materially from what the stream last said: see
// forecast.MaterialChange; every update still moves the eta the
// announcement waits for), and records the forecast's state in touched.
// f.mu is held.
func (f *Feed) applyForecast(ctx context.Context, e store.AuditEntry, touched map[string]bool) ([]Message, *bus.Event) {
	var ch forecastChanges
	if err := json.Unmarshal(e.ChangesMade, &ch); err != nil || ch.ForecastID == "" {
		return nil, nil // a foreign shape: nothing to announce
	}
	cl, _ := drift.Classify(ch.Code)
	st, known := f.forecasts[ch.ForecastID]
	if !known {
		st = ForecastState{ClientID: e.ClientID, StackID: e.StackID, DriftID: e.DriftID, Code: ch.Code,
			Component: ch.Component, Severity: cl.Severity}
	}
	now := StreamedForecast{ETA: ch.ETA, Confidence: ch.Confidence, Class: ch.Class, Indicator: ch.Indicator}
	streamUpdate := false
	switch e.Action {
	case forecast.AuditRaised:
		st.Streamed = &now
	case forecast.AuditUpdated:
		prev := st.Streamed
		if prev == nil && known {
			prev = &StreamedForecast{ETA: st.Detail.ETA, Confidence: st.Detail.Confidence, Class: st.Detail.Class,
				Indicator: st.Detail.Indicator}
		}
		// An update of a forecast the feed never saw raised (its state
		// gone) is streamed: the stream has nothing better of it.
		streamUpdate = prev == nil || forecast.MaterialChange(prev.forecast(), now.forecast(),
			time.Duration(ch.IntervalSeconds*float64(time.Second)), e.Timestamp)
		if streamUpdate {
			st.Streamed = &now
		}
	}
	st.Detail = ForecastDetail{ID: ch.ForecastID, ETA: ch.ETA, Confidence: ch.Confidence, Class: ch.Class,
		Indicator: ch.Indicator, Evidence: firstNonEmpty(ch.Evidence, st.Detail.Evidence), RaisedAt: st.Detail.RaisedAt}
	kind := bus.KindForecastRaised
	var msgs []Message
	if e.Action != forecast.AuditCleared {
		if st.Detail.RaisedAt.IsZero() && e.Action == forecast.AuditRaised {
			st.Detail.RaisedAt = e.Timestamp
		}
		if !st.Announced && f.predictDue(ctx, st, map[string]config.Predict{}) {
			st.Announced = true
			msgs = append(msgs, f.forecastMessage(st, KindForecastRaised, e))
		}
	} else {
		kind = bus.KindForecastCleared
		if !ch.RaisedAt.IsZero() {
			st.Detail.RaisedAt = ch.RaisedAt
		}
		if st.Announced {
			msgs = append(msgs, f.forecastMessage(st, KindForecastCleared, e))
		}
		st.Done = true
	}
	f.setForecast(ch.ForecastID, st, touched)
	if e.Action == forecast.AuditUpdated {
		if !streamUpdate {
			return msgs, nil
		}
		kind = bus.KindForecastUpdated
	}
	ev := bus.NewForecastEvent(kind, bus.ForecastEvent{
		EventID: "audit-" + strconv.FormatInt(e.Seq, 10), ClientID: e.ClientID, StackID: e.StackID,
		ForecastID: ch.ForecastID, DriftID: e.DriftID, Code: ch.Code, Component: ch.Component, Severity: st.Severity,
		ETA: ch.ETA, Confidence: ch.Confidence, Class: ch.Class, Indicator: ch.Indicator, Evidence: ch.Evidence,
		RaisedAt: ch.RaisedAt, Timestamp: e.Timestamp,
	})
	return msgs, &ev
}

// setForecast records a forecast's state (forgetting a done one) and
// marks it for the next commit. f.mu is held.
func (f *Feed) setForecast(id string, st ForecastState, touched map[string]bool) {
	if st.Done {
		delete(f.forecasts, id)
	} else {
		f.forecasts[id] = st
	}
	f.forecastDocs[id] = st
	touched[forecastStatePrefix+id] = true
}

// auditStackDeleted: a stack was deleted (its forecasts stay in the store
// without a clearance entry).
const auditStackDeleted = "stack_deleted"

// forgetStackForecasts drops what the feed owes the forecasts of a
// deleted stack: nothing of them is announced any more. f.mu is held.
func (f *Feed) forgetStackForecasts(clientID, stackID string, touched map[string]bool) {
	for id, st := range f.forecasts {
		if st.ClientID == clientID && st.StackID == stackID {
			st.Done = true
			f.setForecast(id, st, touched)
		}
	}
}

// dueForecasts are the raise messages of the forecasts whose eta came
// within their policy's lead since they were raised. f.mu is held.
func (f *Feed) dueForecasts(ctx context.Context, touched map[string]bool) []Message {
	var msgs []Message
	policies := map[string]config.Predict{}
	now := f.opts.Now()
	for id, st := range f.forecasts {
		if st.Announced || !f.predictDue(ctx, st, policies) {
			continue
		}
		st.Announced = true
		f.setForecast(id, st, touched)
		msgs = append(msgs, f.forecastMessage(st, KindForecastRaised, store.AuditEntry{Timestamp: now}))
	}
	return msgs
}

// predictDue reports whether st is announced now under its stack's
// predict policy (looked up once per stack in policies); without a
// policy source, or when it fails, nothing is (the next tick asks again).
func (f *Feed) predictDue(ctx context.Context, st ForecastState, policies map[string]config.Predict) bool {
	if f.opts.Predict == nil {
		return false
	}
	key := st.ClientID + "/" + st.StackID
	p, ok := policies[key]
	if !ok {
		var err error
		if p, err = f.opts.Predict(ctx, st.ClientID, st.StackID); err != nil {
			f.report(fmt.Errorf("predict policy of %s: %w", key, err))
			return false
		}
		policies[key] = p
	}
	return ForecastDue(p, st.Detail.ETA, f.opts.Now())
}

// forecastMessage is the message of kind k about st, at e's time and
// pass. Its idempotency key is the forecast's id and the kind.
func (f *Feed) forecastMessage(st ForecastState, k Kind, e store.AuditEntry) Message {
	cl, _ := drift.Classify(st.Code)
	seq := 1
	if k == KindForecastCleared {
		seq = 2
	}
	detail := st.Detail
	return Message{
		ClientID: st.ClientID, StackID: st.StackID, DriftType: cl.Type,
		Expected: "no " + string(st.Code) + " on " + st.Component,
		Observed: firstNonEmpty(detail.Evidence, detail.Indicator), Severity: st.Severity,
		Timestamp: e.Timestamp, ReconciliationID: e.ReconciliationID,
		DriftID: st.DriftID, Code: st.Code, Component: st.Component, Kind: k, Sequence: seq,
		IdempotencyKey: IdempotencyKey(detail.ID, k, seq),
		DashboardURL:   DashboardLink(f.opts.DashboardURL, st.ClientID, st.StackID, ""),
		Forecast:       &detail,
	}
}

// loadForecasts splits the forecast states off a subscriber's states.
func loadForecasts(states map[string]json.RawMessage) (map[string]ForecastState, map[string]json.RawMessage, error) {
	forecasts := map[string]ForecastState{}
	rest := make(map[string]json.RawMessage, len(states))
	for key, doc := range states {
		id, ok := strings.CutPrefix(key, forecastStatePrefix)
		if !ok {
			rest[key] = doc
			continue
		}
		var st ForecastState
		if err := json.Unmarshal(doc, &st); err != nil {
			return nil, nil, fmt.Errorf("notifications: state of forecast %s: %w", id, err)
		}
		if !st.Done {
			forecasts[id] = st
		}
	}
	return forecasts, rest, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
