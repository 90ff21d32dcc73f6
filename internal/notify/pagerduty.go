package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/redact"
)

// PagerDuty sends Events API v2 events: trigger on detected and escalated
// (and for a digest), resolve on resolved, with dedup_key = drift id, so
// one drift is one incident. Reminders are not sent: PagerDuty re-notifies
// by its own escalation policy.
//
// Protocol (PagerDuty developer docs, events-API-v2 Overview, Trigger
// Events, Rate Limits): POST JSON to /v2/enqueue, no auth header, the
// routing key in the body; 202 {"status":"success",...} when accepted; 400
// for an invalid event (do not retry); 429 and 5xx: retry later.
type PagerDuty struct {
	name       string
	routingKey string
	url        string
	shown      string
	opts       ChannelOptions
}

// NewPagerDuty returns the PagerDuty channel for routingKey, posting to
// opts.PagerDutyURL (DefaultPagerDutyURL when empty).
func NewPagerDuty(name, routingKey string, opts ChannelOptions) (*PagerDuty, error) {
	opts = opts.withDefaults()
	if routingKey == "" {
		return nil, fmt.Errorf("pagerduty channel %s: routing_key is empty (or its ${VAR} is unset)", name)
	}
	u, err := url.Parse(opts.PagerDutyURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("pagerduty channel %s: endpoint %s is not an http(s) URL", name, redact.URL(opts.PagerDutyURL))
	}
	return &PagerDuty{name: name, routingKey: routingKey, url: opts.PagerDutyURL,
		shown: redact.URL(opts.PagerDutyURL), opts: opts}, nil
}

// Name is the channel's name.
func (p *PagerDuty) Name() string { return p.name }

// Accepts takes every kind but reminders.
func (p *PagerDuty) Accepts(m Message) bool { return m.Kind != KindReminder }

// Send enqueues the event of m.
func (p *PagerDuty) Send(ctx context.Context, m Message) error {
	body, err := json.Marshal(PagerDutyEvent(p.routingKey, m))
	if err != nil {
		return Permanent(fmt.Errorf("pagerduty: encode event: %w", err))
	}
	hdr := http.Header{"Content-Type": {"application/json"}}
	status, rh, rb, err := httpPost(ctx, p.opts.HTTPClient, p.opts.Timeout, p.url, p.shown, hdr, body)
	if err != nil {
		return err
	}
	return classifyHTTP("pagerduty", status, rh, rb, p.opts.Now())
}

// PDEvent is an Events API v2 event.
type PDEvent struct {
	RoutingKey  string     `json:"routing_key"`
	EventAction string     `json:"event_action"`
	DedupKey    string     `json:"dedup_key"`
	Payload     *PDPayload `json:"payload,omitempty"`
	Client      string     `json:"client,omitempty"`
	ClientURL   string     `json:"client_url,omitempty"`
	Links       []PDLink   `json:"links,omitempty"`
}

// PDPayload is the payload of a trigger event.
type PDPayload struct {
	Summary       string   `json:"summary"`
	Source        string   `json:"source"`
	Severity      string   `json:"severity"`
	Timestamp     string   `json:"timestamp,omitempty"`
	Component     string   `json:"component,omitempty"`
	Group         string   `json:"group,omitempty"`
	Class         string   `json:"class,omitempty"`
	CustomDetails *Message `json:"custom_details,omitempty"`
}

// PDLink is a link shown on the incident.
type PDLink struct {
	Href string `json:"href"`
	Text string `json:"text"`
}

// PagerDutySeverity maps a drift severity: critical -> critical, high ->
// error, medium -> warning, low -> info.
func PagerDutySeverity(s drift.Severity) string {
	switch s {
	case drift.SeverityCritical:
		return "critical"
	case drift.SeverityHigh:
		return "error"
	case drift.SeverityMedium:
		return "warning"
	}
	return "info"
}

// PagerDutyEvent is the event for m: resolve for resolved and
// forecast_cleared, trigger for the rest. A digest uses its idempotency
// key as dedup key (it is its own incident), a forecast "forecast:" and
// its id; everything else the drift id.
func PagerDutyEvent(routingKey string, m Message) PDEvent {
	ev := PDEvent{RoutingKey: routingKey, DedupKey: truncate(m.DriftID, 255)}
	if m.Kind == KindDigest || m.DriftID == "" {
		ev.DedupKey = truncate(m.IdempotencyKey, 255)
	}
	if m.Forecast != nil {
		// A forecast is its own incident: resolving it must not resolve
		// the drift's, nor a trigger of the drift join the forecast's.
		ev.DedupKey = truncate("forecast:"+m.Forecast.ID, 255)
	}
	if m.Kind == KindResolved || m.Kind == KindForecastCleared {
		ev.EventAction = "resolve"
		return ev
	}
	ev.EventAction = "trigger"
	source := "blackwell/" + m.ClientID
	group := m.ClientID
	if m.StackID != "" {
		source += "/" + m.StackID
		group += "/" + m.StackID
	}
	details := m
	ev.Payload = &PDPayload{
		Summary:       truncate(m.title(), 1024),
		Source:        source,
		Severity:      PagerDutySeverity(m.Severity),
		Timestamp:     m.Timestamp.UTC().Format(time.RFC3339),
		Component:     m.Component,
		Group:         group,
		Class:         string(m.Code),
		CustomDetails: &details,
	}
	if m.Kind == KindDigest {
		ev.Payload.Class = string(KindDigest)
	}
	ev.Client = "Blackwell Reconciler"
	if m.DashboardURL != "" {
		ev.ClientURL = m.DashboardURL
		ev.Links = []PDLink{{Href: m.DashboardURL, Text: "Drift in the Blackwell dashboard"}}
	}
	return ev
}
