package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/blackwellio/blackwell/internal/redact"
	"github.com/blackwellio/blackwell/internal/stdwebhook"
)

// Webhook posts each message as a CloudEvents 1.0 structured-mode event
// (cloudevents/spec, bindings/http-protocol-binding.md v1.0.2: the whole
// event as JSON, Content-Type application/cloudevents+json), signed with
// the Standard Webhooks scheme (package stdwebhook: webhook-id,
// webhook-timestamp, webhook-signature). webhook-id and the event id are
// the message's idempotency key, the same on every retry, so receivers dedupe
// on it. 2xx is success; 429, 408 and 5xx are retried (Retry-After
// honoured); a 3xx is not followed and, like 410 (endpoint disabled) and
// other 4xx, is permanent.
type Webhook struct {
	name  string
	url   string
	shown string
	key   stdwebhook.Key // nil: unsigned
	opts  ChannelOptions
}

// NewWebhook returns the webhook channel posting to rawURL, signing with
// secret (whsec_<base64>) unless it is empty.
func NewWebhook(name, rawURL, secret string, opts ChannelOptions) (*Webhook, error) {
	opts = opts.withDefaults()
	u, err := url.Parse(rawURL)
	if rawURL == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("webhook channel %s: url %s is not an http(s) URL", name, redact.URL(rawURL))
	}
	w := &Webhook{name: name, url: rawURL, shown: redact.URL(rawURL), opts: opts}
	if secret != "" {
		key, err := stdwebhook.ParseSecret(secret)
		if err != nil {
			return nil, fmt.Errorf("webhook channel %s: secret: %w", name, err)
		}
		w.key = key
	}
	return w, nil
}

// Name is the channel's name.
func (w *Webhook) Name() string { return w.name }

// Send posts m, signed with the current time.
func (w *Webhook) Send(ctx context.Context, m Message) error {
	body, err := json.Marshal(NewCloudEvent(m))
	if err != nil {
		return Permanent(fmt.Errorf("webhook: encode event: %w", err))
	}
	now := w.opts.Now()
	hdr := http.Header{
		"Content-Type":             {CloudEventsContentType},
		stdwebhook.HeaderID:        {m.IdempotencyKey},
		stdwebhook.HeaderTimestamp: {strconv.FormatInt(now.Unix(), 10)},
		"User-Agent":               {"blackwell-notify"},
	}
	if w.key != nil {
		hdr.Set(stdwebhook.HeaderSignature, w.key.Sign(m.IdempotencyKey, now, body))
	}
	status, rh, rb, err := httpPost(ctx, w.opts.HTTPClient, w.opts.Timeout, w.url, w.shown, hdr, body)
	if err != nil {
		return err
	}
	return classifyHTTP("webhook "+w.shown, status, rh, rb, now)
}

// CloudEventsContentType is the structured-mode media type.
const CloudEventsContentType = "application/cloudevents+json; charset=UTF-8"

// CloudEventTypePrefix prefixes the event type: io.blackwell.drift.detected,
// .reminder, .escalated, .resolved, .digest.
const CloudEventTypePrefix = "io.blackwell.drift."

// The event types of forecast messages.
const (
	CloudEventForecastRaised  = "io.blackwell.forecast.raised"
	CloudEventForecastCleared = "io.blackwell.forecast.cleared"
)

// CloudEventType is m's event type: io.blackwell.forecast.raised or
// .cleared for a forecast, else CloudEventTypePrefix and the kind.
func CloudEventType(m Message) string {
	switch m.Kind {
	case KindForecastRaised:
		return CloudEventForecastRaised
	case KindForecastCleared:
		return CloudEventForecastCleared
	}
	return CloudEventTypePrefix + string(m.Kind)
}

// CloudEvent is a CloudEvents 1.0 event carrying a Message as JSON data.
type CloudEvent struct {
	SpecVersion     string    `json:"specversion"`
	ID              string    `json:"id"`
	Source          string    `json:"source"`
	Type            string    `json:"type"`
	Subject         string    `json:"subject,omitempty"`
	Time            time.Time `json:"time"`
	DataContentType string    `json:"datacontenttype"`
	Data            Message   `json:"data"`
}

// NewCloudEvent wraps m: id = idempotency key, source =
// /blackwell/clients/<client>[/stacks/<stack>], subject = drift id (the
// id the drift would have, for a forecast).
func NewCloudEvent(m Message) CloudEvent {
	src := "/blackwell/clients/" + url.PathEscape(m.ClientID)
	if m.StackID != "" {
		src += "/stacks/" + url.PathEscape(m.StackID)
	}
	return CloudEvent{
		SpecVersion:     "1.0",
		ID:              m.IdempotencyKey,
		Source:          src,
		Type:            CloudEventType(m),
		Subject:         m.DriftID,
		Time:            m.Timestamp.UTC(),
		DataContentType: "application/json",
		Data:            m,
	}
}
