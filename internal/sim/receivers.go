package sim

// Receivers of notifications: local stand-ins for the services the
// notification channels of internal/notify deliver to, each speaking the
// service's documented protocol and recording what it accepted, for the
// demo and for tests.
//
//   - SlackReceiver: a Slack incoming webhook
//     (https://api.slack.com/messaging/webhooks, "Handling errors"; Block
//     Kit limits from https://api.slack.com/reference/block-kit/blocks).
//   - PagerDutyReceiver: the PagerDuty Events API v2 enqueue endpoint
//     (PagerDuty developer docs, events-API-v2/01-Overview.md "Response
//     Codes & Retry Logic" and "Size Limits", 02-Trigger-Events.md
//     "Parameters", "Alert De-Duplication", "Event Action Behavior").
//   - WebhookReceiver: a Standard Webhooks consumer (standard-webhooks spec
//     1.0, "Verifying webhooks") of CloudEvents 1.0 in HTTP structured mode
//     (cloudevents/spec v1.0.2, spec.md "Context Attributes" and
//     bindings/http-protocol-binding.md §3.2).
//   - SMTPReceiver: a mail submission server (RFC 5321) on emersion/go-smtp,
//     with STARTTLS (RFC 3207) and AUTH PLAIN (RFC 4954, RFC 4616).
//   - NATSReceiver: not a fake: it reads what is published to a JetStream
//     subject on a real NATS server, creating a stream for it if none
//     captures it.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"mime"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/blackwellio/blackwell/internal/stdwebhook"
)

// The receivers' names, as Notification.Receiver.
const (
	ReceiverSlack     = "slack"
	ReceiverPagerDuty = "pagerduty"
	ReceiverWebhook   = "webhook"
	ReceiverEmail     = "email"
	ReceiverNATS      = "nats"
)

// Notification is one message a receiver accepted, as it came over the
// wire.
type Notification struct {
	// Receiver is ReceiverSlack, ReceiverPagerDuty, ...
	Receiver string
	At       time.Time
	// Key is how the protocol identifies the message or what it is about:
	// PagerDuty's dedup_key, the webhook-id, the mail's Message-ID, the
	// Nats-Msg-Id; "" for Slack, whose messages carry none.
	Key string
	// Action is PagerDuty's event_action or the CloudEvent's type.
	Action string
	// Header holds the HTTP request headers, the mail's header fields or
	// the NATS message headers.
	Header map[string][]string
	// Body is the request body (JSON), the whole mail (RFC 5322) or the NATS
	// message data.
	Body []byte
	// Subject is the NATS subject.
	Subject string
	// Duplicate marks a redelivery: a webhook-id or Message-ID seen before.
	// The receiver accepts it, as the protocols ask, and records it.
	Duplicate bool
}

// ReceiverOptions configure a receiver.
type ReceiverOptions struct {
	// Addr is the listen address (default 127.0.0.1:0).
	Addr   string
	Logger *slog.Logger
	// OnReceive, when set, is called with each accepted notification after
	// it is recorded, on the goroutine that received it.
	OnReceive func(Notification)
}

// inbox records the notifications of one receiver.
type inbox struct {
	name string
	on   func(Notification)

	mu   sync.Mutex
	got  []Notification
	seen map[string]bool // keys, for Duplicate
}

func newInbox(name string, on func(Notification)) inbox {
	return inbox{name: name, on: on, seen: map[string]bool{}}
}

// add records n; dedupe marks a Key seen before as a Duplicate.
func (b *inbox) add(n Notification, dedupe bool) Notification {
	n.Receiver = b.name
	if n.At.IsZero() {
		n.At = time.Now()
	}
	b.mu.Lock()
	if dedupe && n.Key != "" {
		n.Duplicate = b.seen[n.Key]
		b.seen[n.Key] = true
	}
	b.got = append(b.got, n)
	b.mu.Unlock()
	if b.on != nil {
		b.on(n)
	}
	return n
}

// Received returns what the receiver accepted, oldest first.
func (b *inbox) Received() []Notification {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Notification(nil), b.got...)
}

// maxNotificationBody bounds a body the HTTP receivers read.
const maxNotificationBody = 1 << 20

func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		return nil, false
	}
	return b, true
}

// ---------------------------------------------------------------------------
// Slack

// SlackReceiver is a Slack incoming webhook: POST a JSON message (or a form
// with a payload field holding it) to /services/T…/B…/<secret>; 200 with the
// body "ok" when it is posted. Errors are plain-text codes: 400
// invalid_payload (not JSON), 400 no_text (neither text nor blocks), 400
// invalid_blocks (a block Slack would reject: unknown type, over its
// limits, more than 50 blocks), 404 no_service (a webhook URL that does not
// exist); with its APIFaults, 429 with Retry-After (Slack's rate limit of
// about one message a second) and 500 rollup_error. The URL is the secret.
type SlackReceiver struct {
	APIFaults
	inbox
	srv  *apiServer
	path string
}

// SlackPost is a decoded incoming-webhook message.
type SlackPost struct {
	Text   string            `json:"text"`
	Blocks []json.RawMessage `json:"blocks"`
}

// NewSlackReceiver starts a Slack incoming webhook.
func NewSlackReceiver(opts ReceiverOptions) (*SlackReceiver, error) {
	s := &SlackReceiver{APIFaults: newAPIFaults(), inbox: newInbox(ReceiverSlack, opts.OnReceive),
		path: "/services/T" + strings.ToUpper(randomHex(4)) + "/B" + strings.ToUpper(randomHex(4)) + "/" + randomHex(12)}
	srv, err := startAPIServer(opts.Addr, http.HandlerFunc(s.handle), opts.Logger)
	if err != nil {
		return nil, fmt.Errorf("sim slack receiver: %w", err)
	}
	s.srv = srv
	return s, nil
}

// URL is the incoming webhook's URL (a secret, as Slack's are).
func (s *SlackReceiver) URL() string { return s.srv.url + s.path }

// Close stops the receiver.
func (s *SlackReceiver) Close() {
	s.closeFaults()
	s.srv.close()
}

func slackAnswer(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func (s *SlackReceiver) handle(w http.ResponseWriter, r *http.Request) {
	kind, wait, ok := s.take(w, r)
	if !ok {
		return
	}
	switch {
	case r.URL.Path != s.path:
		slackAnswer(w, http.StatusNotFound, "no_service")
		return
	case r.Method != http.MethodPost:
		slackAnswer(w, http.StatusMethodNotAllowed, "invalid_method")
		return
	case kind == faultRateLimit:
		w.Header().Set("Retry-After", strconv.Itoa(int(max(1, (wait+time.Second-1)/time.Second))))
		slackAnswer(w, http.StatusTooManyRequests, "rate_limited")
		return
	case kind == faultServerError:
		slackAnswer(w, http.StatusInternalServerError, "rollup_error")
		return
	}
	body, ok := readBody(w, r, maxNotificationBody)
	if !ok {
		slackAnswer(w, http.StatusBadRequest, "invalid_payload")
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/x-www-form-urlencoded" {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			slackAnswer(w, http.StatusBadRequest, "invalid_payload")
			return
		}
		body = []byte(form.Get("payload"))
	}
	var post SlackPost
	if err := json.Unmarshal(body, &post); err != nil {
		slackAnswer(w, http.StatusBadRequest, "invalid_payload")
		return
	}
	if post.Text == "" && len(post.Blocks) == 0 {
		slackAnswer(w, http.StatusBadRequest, "no_text")
		return
	}
	if err := CheckSlackBlocks(post.Blocks); err != nil {
		slackAnswer(w, http.StatusBadRequest, "invalid_blocks")
		return
	}
	s.add(Notification{Header: r.Header.Clone(), Body: body}, false)
	slackAnswer(w, http.StatusOK, "ok")
}

// slackTextObject is a Block Kit text object.
type slackTextObject struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// CheckSlackBlocks checks the Block Kit rules Slack enforces on the blocks
// a message may hold (https://api.slack.com/reference/block-kit/blocks):
// at most 50 blocks; a header holds plain_text of at most 150 characters; a
// section holds text (at most 3,000 characters) or fields (at most 10, each
// at most 2,000); a context holds 1 to 10 elements; text objects are
// plain_text or mrkdwn and not empty. Other block types are only checked
// for being known.
func CheckSlackBlocks(blocks []json.RawMessage) error {
	if len(blocks) > 50 {
		return fmt.Errorf("%d blocks, at most 50", len(blocks))
	}
	text := func(t *slackTextObject, limit int) error {
		switch {
		case t == nil:
			return errors.New("missing text")
		case t.Type != "plain_text" && t.Type != "mrkdwn":
			return fmt.Errorf("text type %q", t.Type)
		case t.Text == "":
			return errors.New("empty text")
		case len([]rune(t.Text)) > limit:
			return fmt.Errorf("text of %d characters, at most %d", len([]rune(t.Text)), limit)
		}
		return nil
	}
	for i, raw := range blocks {
		var b struct {
			Type     string            `json:"type"`
			Text     *slackTextObject  `json:"text"`
			Fields   []slackTextObject `json:"fields"`
			Elements []json.RawMessage `json:"elements"`
		}
		if err := json.Unmarshal(raw, &b); err != nil {
			return fmt.Errorf("block %d: %w", i, err)
		}
		var err error
		switch b.Type {
		case "header":
			if err = text(b.Text, 150); err == nil && b.Text.Type != "plain_text" {
				err = errors.New("a header's text must be plain_text")
			}
		case "section":
			switch {
			case b.Text == nil && len(b.Fields) == 0:
				err = errors.New("a section needs text or fields")
			case b.Text != nil:
				err = text(b.Text, 3000)
			}
			if len(b.Fields) > 10 {
				err = fmt.Errorf("%d fields, at most 10", len(b.Fields))
			}
			for j := range b.Fields {
				if err == nil {
					err = text(&b.Fields[j], 2000)
				}
			}
		case "context":
			if len(b.Elements) == 0 || len(b.Elements) > 10 {
				err = fmt.Errorf("%d context elements, 1 to 10", len(b.Elements))
			}
		case "divider", "actions", "image", "input", "rich_text", "file", "video":
		default:
			err = fmt.Errorf("unknown block type %q", b.Type)
		}
		if err != nil {
			return fmt.Errorf("block %d: %w", i, err)
		}
	}
	return nil
}

// ---------------------------------------------------------------------------
// PagerDuty

// PagerDutyReceiver is the Events API v2: POST /v2/enqueue with a JSON
// event. A valid event is 202 {"status":"success","message":"Event
// processed","dedup_key":...}; an invalid one (bad JSON, a routing_key
// that is not this service's 32-character integration key, an
// event_action other than trigger, acknowledge or resolve, a trigger
// without payload.summary (at most 1,024 characters), payload.source or a
// payload.severity of critical, error, warning or info, an acknowledge or
// resolve without dedup_key, a dedup_key over 255 characters, an event
// over 512 KB) is 400 {"status":"invalid event","message":"Event object is
// invalid","errors":[...]} (the shape of PagerDuty's answer; the texts in
// errors are this fake's). With its APIFaults: 429 and 500, to be
// retried. Events act on alerts as documented: a trigger opens an alert
// for its dedup_key (generated when absent) or adds to the open one; a
// resolve or acknowledge of no open alert is accepted and dropped.
type PagerDutyReceiver struct {
	APIFaults
	inbox
	srv        *apiServer
	routingKey string

	mu     sync.Mutex
	alerts []*PagerDutyAlert
	open   map[string]*PagerDutyAlert // by dedup_key
}

// PagerDutyAlert is an alert the receiver holds.
type PagerDutyAlert struct {
	DedupKey string
	// Status is triggered, acknowledged or resolved.
	Status   string
	Summary  string
	Severity string
	// Triggers counts the trigger events applied to the alert.
	Triggers   int
	OpenedAt   time.Time
	ResolvedAt time.Time
}

// PagerDutyEventAnswer is the body of a 202 or 400 answer.
type PagerDutyEventAnswer struct {
	Status   string   `json:"status"`
	Message  string   `json:"message"`
	DedupKey string   `json:"dedup_key,omitempty"`
	Errors   []string `json:"errors,omitempty"`
}

// pdMaxEvent is the Events API's size limit.
const pdMaxEvent = 512 << 10

// NewPagerDutyReceiver starts an Events API v2 endpoint for the service
// whose integration key is routingKey ("": a generated one).
func NewPagerDutyReceiver(routingKey string, opts ReceiverOptions) (*PagerDutyReceiver, error) {
	if routingKey == "" {
		routingKey = randomHex(16)
	}
	if len(routingKey) != 32 {
		return nil, fmt.Errorf("sim pagerduty receiver: a routing key has 32 characters, not %d", len(routingKey))
	}
	p := &PagerDutyReceiver{APIFaults: newAPIFaults(), inbox: newInbox(ReceiverPagerDuty, opts.OnReceive),
		routingKey: routingKey, open: map[string]*PagerDutyAlert{}}
	srv, err := startAPIServer(opts.Addr, http.HandlerFunc(p.handle), opts.Logger)
	if err != nil {
		return nil, fmt.Errorf("sim pagerduty receiver: %w", err)
	}
	p.srv = srv
	return p, nil
}

// URL is the enqueue endpoint.
func (p *PagerDutyReceiver) URL() string { return p.srv.url + "/v2/enqueue" }

// RoutingKey is the service's integration key.
func (p *PagerDutyReceiver) RoutingKey() string { return p.routingKey }

// Alerts returns every alert, oldest first.
func (p *PagerDutyReceiver) Alerts() []PagerDutyAlert {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]PagerDutyAlert, len(p.alerts))
	for i, a := range p.alerts {
		out[i] = *a
	}
	return out
}

// Close stops the receiver.
func (p *PagerDutyReceiver) Close() {
	p.closeFaults()
	p.srv.close()
}

func pdAnswer(w http.ResponseWriter, status int, a PagerDutyEventAnswer) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(a)
}

func pdInvalid(w http.ResponseWriter, reason string) {
	pdAnswer(w, http.StatusBadRequest, PagerDutyEventAnswer{Status: "invalid event",
		Message: "Event object is invalid", Errors: []string{reason}})
}

// pdEvent is the part of an event the receiver checks.
type pdEvent struct {
	RoutingKey  string `json:"routing_key"`
	EventAction string `json:"event_action"`
	DedupKey    string `json:"dedup_key"`
	Payload     *struct {
		Summary   string `json:"summary"`
		Source    string `json:"source"`
		Severity  string `json:"severity"`
		Timestamp string `json:"timestamp"`
	} `json:"payload"`
}

func (p *PagerDutyReceiver) handle(w http.ResponseWriter, r *http.Request) {
	kind, _, ok := p.take(w, r)
	if !ok {
		return
	}
	switch {
	case r.URL.Path != "/v2/enqueue":
		http.NotFound(w, r)
		return
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	case kind == faultRateLimit:
		pdAnswer(w, http.StatusTooManyRequests, PagerDutyEventAnswer{Status: "throttle event", Message: "Requests for this service are arriving too quickly. Please retry later."})
		return
	case kind == faultServerError:
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	}
	body, ok := readBody(w, r, pdMaxEvent)
	if !ok {
		pdInvalid(w, "Event is larger than 512 KB")
		return
	}
	var ev pdEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		pdInvalid(w, "Event is not valid JSON")
		return
	}
	if reason := p.check(ev); reason != "" {
		pdInvalid(w, reason)
		return
	}
	dedup := ev.DedupKey
	if dedup == "" { // a trigger: PagerDuty generates the key
		dedup = randomHex(16)
	}
	p.apply(ev, dedup)
	p.add(Notification{Key: dedup, Action: ev.EventAction, Header: r.Header.Clone(), Body: body}, false)
	pdAnswer(w, http.StatusAccepted, PagerDutyEventAnswer{Status: "success", Message: "Event processed", DedupKey: dedup})
}

// check returns why ev is invalid, or "".
func (p *PagerDutyReceiver) check(ev pdEvent) string {
	switch {
	case ev.RoutingKey == "":
		return "'routing_key' is missing"
	case len(ev.RoutingKey) != 32:
		return "'routing_key' must be a 32 character integration key"
	case ev.RoutingKey != p.routingKey:
		return "'routing_key' is not an integration key of this service"
	case len(ev.DedupKey) > 255:
		return "'dedup_key' is longer than 255 characters"
	}
	switch ev.EventAction {
	case "trigger":
		pl := ev.Payload
		switch {
		case pl == nil:
			return "'payload' is missing"
		case pl.Summary == "":
			return "'payload.summary' is missing"
		case len(pl.Summary) > 1024:
			return "'payload.summary' is longer than 1024 characters"
		case pl.Source == "":
			return "'payload.source' is missing"
		case pl.Severity != "critical" && pl.Severity != "error" && pl.Severity != "warning" && pl.Severity != "info":
			return "'payload.severity' must be critical, error, warning or info"
		}
		if pl.Timestamp != "" {
			if _, err := time.Parse(time.RFC3339, pl.Timestamp); err != nil {
				if _, err := time.Parse("2006-01-02T15:04:05.000-0700", pl.Timestamp); err != nil {
					return "'payload.timestamp' is not an ISO 8601 timestamp"
				}
			}
		}
	case "acknowledge", "resolve":
		if ev.DedupKey == "" {
			return "'dedup_key' is required for " + ev.EventAction
		}
	case "":
		return "'event_action' is missing"
	default:
		return "'event_action' must be trigger, acknowledge or resolve"
	}
	return ""
}

// apply changes the alerts as PagerDuty documents.
func (p *PagerDutyReceiver) apply(ev pdEvent, dedup string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.open[dedup]
	switch ev.EventAction {
	case "trigger":
		if a == nil {
			a = &PagerDutyAlert{DedupKey: dedup, Status: "triggered", OpenedAt: time.Now()}
			p.alerts = append(p.alerts, a)
			p.open[dedup] = a
		}
		a.Triggers++
		a.Summary, a.Severity = ev.Payload.Summary, ev.Payload.Severity
	case "acknowledge":
		if a != nil {
			a.Status = "acknowledged"
		}
	case "resolve":
		if a != nil {
			a.Status, a.ResolvedAt = "resolved", time.Now()
			delete(p.open, dedup)
		}
	}
}

// ---------------------------------------------------------------------------
// Standard Webhooks + CloudEvents

// WebhookReceiver is an endpoint that consumes Standard Webhooks carrying
// CloudEvents in structured mode: POST /hooks/blackwell with Content-Type
// application/cloudevents+json and the headers webhook-id,
// webhook-timestamp and webhook-signature, checked with
// stdwebhook.Verify against its secret (timestamps more than 5 minutes off
// are refused). Answers: 204 when accepted (a webhook-id seen before is
// accepted again and marked Duplicate, as the spec asks consumers to
// deduplicate); 401 for a missing or bad signature or a stale timestamp;
// 415 for another content type; 400 for a body that is not a CloudEvent
// (id, source, type and specversion "1.0" are required strings, time an
// RFC 3339 timestamp when present); 404 for another path. With its
// APIFaults, 429 (with Retry-After) and 500.
type WebhookReceiver struct {
	APIFaults
	inbox
	srv    *apiServer
	secret string
}

// WebhookPath is the path the WebhookReceiver takes deliveries at.
const WebhookPath = "/hooks/blackwell"

// NewWebhookReceiver starts a receiver verifying with secret
// ("whsec_<base64>"; "": a generated one).
func NewWebhookReceiver(secret string, opts ReceiverOptions) (*WebhookReceiver, error) {
	if secret == "" {
		key := make([]byte, 24)
		_, _ = rand.Read(key)
		secret = stdwebhook.SecretPrefix + base64.StdEncoding.EncodeToString(key)
	}
	if _, err := stdwebhook.ParseSecret(secret); err != nil {
		return nil, fmt.Errorf("sim webhook receiver: %w", err)
	}
	wr := &WebhookReceiver{APIFaults: newAPIFaults(), inbox: newInbox(ReceiverWebhook, opts.OnReceive), secret: secret}
	srv, err := startAPIServer(opts.Addr, http.HandlerFunc(wr.handle), opts.Logger)
	if err != nil {
		return nil, fmt.Errorf("sim webhook receiver: %w", err)
	}
	wr.srv = srv
	return wr, nil
}

// URL is the endpoint.
func (wr *WebhookReceiver) URL() string { return wr.srv.url + WebhookPath }

// Secret is the signing secret the endpoint verifies with.
func (wr *WebhookReceiver) Secret() string { return wr.secret }

// Close stops the receiver.
func (wr *WebhookReceiver) Close() {
	wr.closeFaults()
	wr.srv.close()
}

func (wr *WebhookReceiver) handle(w http.ResponseWriter, r *http.Request) {
	kind, wait, ok := wr.take(w, r)
	if !ok {
		return
	}
	switch {
	case r.URL.Path != WebhookPath:
		http.NotFound(w, r)
		return
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	case kind == faultRateLimit:
		w.Header().Set("Retry-After", strconv.Itoa(int(max(1, (wait+time.Second-1)/time.Second))))
		http.Error(w, "Too Many Requests", http.StatusTooManyRequests)
		return
	case kind == faultServerError:
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/cloudevents+json" {
		http.Error(w, "structured-mode CloudEvents only (application/cloudevents+json)", http.StatusUnsupportedMediaType)
		return
	}
	body, ok := readBody(w, r, maxNotificationBody)
	if !ok {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	if err := stdwebhook.Verify([]string{wr.secret}, r.Header, body, time.Now()); err != nil {
		http.Error(w, "signature: "+err.Error(), http.StatusUnauthorized)
		return
	}
	typ, err := CheckCloudEvent(body)
	if err != nil {
		http.Error(w, "not a CloudEvent: "+err.Error(), http.StatusBadRequest)
		return
	}
	wr.add(Notification{Key: r.Header.Get(stdwebhook.HeaderID), Action: typ, Header: r.Header.Clone(), Body: body}, true)
	w.WriteHeader(http.StatusNoContent)
}

// CheckCloudEvent checks a structured-mode CloudEvents 1.0 JSON event and
// returns its type: the required attributes id, source, specversion
// ("1.0") and type are non-empty strings; time, when present, is RFC 3339;
// datacontenttype and subject, when present, are strings.
func CheckCloudEvent(body []byte) (string, error) {
	var ev map[string]json.RawMessage
	if err := json.Unmarshal(body, &ev); err != nil {
		return "", errors.New("not a JSON object")
	}
	str := func(k string, required bool) (string, error) {
		raw, ok := ev[k]
		if !ok {
			if required {
				return "", fmt.Errorf("%s is required", k)
			}
			return "", nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("%s is not a string", k)
		}
		if required && s == "" {
			return "", fmt.Errorf("%s is empty", k)
		}
		return s, nil
	}
	for _, k := range []string{"id", "source"} {
		if _, err := str(k, true); err != nil {
			return "", err
		}
	}
	if v, err := str("specversion", true); err != nil {
		return "", err
	} else if v != "1.0" {
		return "", fmt.Errorf("specversion %q, want 1.0", v)
	}
	typ, err := str("type", true)
	if err != nil {
		return "", err
	}
	for _, k := range []string{"datacontenttype", "subject", "time"} {
		if _, err := str(k, false); err != nil {
			return "", err
		}
	}
	if t, _ := str("time", false); t != "" {
		if _, err := time.Parse(time.RFC3339Nano, t); err != nil {
			return "", errors.New("time is not RFC 3339")
		}
	}
	return typ, nil
}

// ---------------------------------------------------------------------------
// SMTP

// SMTPReceiverOptions configure an SMTPReceiver.
type SMTPReceiverOptions struct {
	ReceiverOptions
	// STARTTLS offers STARTTLS with a self-signed certificate for
	// 127.0.0.1 and localhost (RootCAs trusts it).
	STARTTLS bool
	// Username and Password, when Password is set, make AUTH PLAIN
	// required before MAIL FROM (530 otherwise, 535 for bad credentials).
	// With STARTTLS, AUTH is offered only after it (as go-smtp does);
	// without, it is offered in clear, which clients accept on loopback only.
	Username, Password string
}

// SMTPReceiver is a mail server that accepts every message for every
// recipient (after AUTH when a password is set) and records it.
type SMTPReceiver struct {
	inbox
	opts SMTPReceiverOptions
	srv  *smtp.Server
	host string
	port int
	pool *x509.CertPool

	mu    sync.Mutex
	mails []Mail
}

// Mail is one message the SMTPReceiver accepted.
type Mail struct {
	From     string
	To       []string
	AuthUser string
	// TLS reports that the message came over STARTTLS.
	TLS  bool
	Data []byte
}

// NewSMTPReceiver starts a mail server on opts.Addr.
func NewSMTPReceiver(opts SMTPReceiverOptions) (*SMTPReceiver, error) {
	m := &SMTPReceiver{inbox: newInbox(ReceiverEmail, opts.OnReceive), opts: opts}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &smtpSession{m: m, conn: c}, nil
	}))
	srv.Domain = "mx.blackwell.localhost"
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	srv.MaxMessageBytes = 10 << 20
	srv.MaxRecipients = 100
	if opts.Logger != nil {
		srv.ErrorLog = slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn)
	}
	if opts.STARTTLS {
		cert, pool, err := selfSignedCertificate()
		if err != nil {
			return nil, fmt.Errorf("sim smtp receiver: %w", err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		m.pool = pool
	} else {
		srv.AllowInsecureAuth = true
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sim smtp receiver: listen on %s: %w", addr, err)
	}
	go func() { _ = srv.Serve(ln) }()
	m.srv = srv
	tcp := ln.Addr().(*net.TCPAddr)
	m.host, m.port = tcp.IP.String(), tcp.Port
	return m, nil
}

// Host is the server's address.
func (m *SMTPReceiver) Host() string { return m.host }

// Port is the server's port.
func (m *SMTPReceiver) Port() int { return m.port }

// RootCAs trusts the STARTTLS certificate (nil without STARTTLS).
func (m *SMTPReceiver) RootCAs() *x509.CertPool { return m.pool }

// Mails returns the accepted messages, oldest first.
func (m *SMTPReceiver) Mails() []Mail {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Mail(nil), m.mails...)
}

// Close stops the server.
func (m *SMTPReceiver) Close() { _ = m.srv.Close() }

type smtpSession struct {
	m    *SMTPReceiver
	conn *smtp.Conn
	user string
	cur  Mail
}

func (s *smtpSession) AuthMechanisms() []string {
	if s.m.opts.Password == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, password string) error {
		if username != s.m.opts.Username || password != s.m.opts.Password {
			return smtp.ErrAuthFailed
		}
		s.user = username
		return nil
	}), nil
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.m.opts.Password != "" && s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.cur = Mail{From: from, AuthUser: s.user}
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.cur.To = append(s.cur.To, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	got := s.cur
	got.Data = b
	_, got.TLS = s.conn.TLSConnectionState()
	n := Notification{Body: b}
	if msg, err := mail.ReadMessage(strings.NewReader(string(b))); err == nil {
		n.Header = map[string][]string(msg.Header)
		n.Key = msg.Header.Get("Message-ID")
	}
	s.m.mu.Lock()
	s.m.mails = append(s.m.mails, got)
	s.m.mu.Unlock()
	s.m.add(n, true)
	return nil
}

func (s *smtpSession) Reset()        { s.cur = Mail{} }
func (s *smtpSession) Logout() error { return nil }

// selfSignedCertificate is a certificate for 127.0.0.1, ::1 and localhost,
// valid for a day, and the pool that trusts it.
func selfSignedCertificate() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "blackwell sim smtp"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, nil
}

// ---------------------------------------------------------------------------
// NATS

// NATSReceiverOptions configure a NATSReceiver.
type NATSReceiverOptions struct {
	ReceiverOptions
	// URL is the NATS server (default nats://127.0.0.1:4222).
	URL string
	// Subject is the subject prefix; the receiver reads Subject + ".>".
	Subject string
	// Stream names the stream to create when none captures the subjects
	// (default: from the subject). A stream the receiver created is
	// deleted by Close.
	Stream string
	// Timeout bounds connecting and each JetStream request (default 3s).
	Timeout time.Duration
}

// NATSReceiver reads the messages a JetStream stream stores under a
// subject prefix on a real NATS server, from the moment it starts: what a
// JetStream consumer of blackwell.drift-events.> would see. A redelivery
// with the same Nats-Msg-Id inside the stream's duplicate window is
// dropped by the server and never reaches it.
type NATSReceiver struct {
	inbox
	nc      *nats.Conn
	js      jetstream.JetStream
	stream  string
	created bool
	cc      jetstream.ConsumeContext
	timeout time.Duration
}

// NewNATSReceiver connects to opts.URL and starts reading; it fails when
// the server does not answer or has no JetStream.
func NewNATSReceiver(ctx context.Context, opts NATSReceiverOptions) (_ *NATSReceiver, err error) {
	if opts.URL == "" {
		opts.URL = "nats://127.0.0.1:4222"
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 3 * time.Second
	}
	subj := strings.TrimSuffix(opts.Subject, ".")
	if subj == "" || strings.ContainsAny(subj, " \t\r\n*>") {
		return nil, fmt.Errorf("sim nats receiver: subject %q is not a subject prefix", opts.Subject)
	}
	nc, err := nats.Connect(opts.URL, nats.Name("blackwell-sim-receiver"), nats.Timeout(opts.Timeout))
	if err != nil {
		return nil, fmt.Errorf("sim nats receiver: connect: %w", err)
	}
	r := &NATSReceiver{inbox: newInbox(ReceiverNATS, opts.OnReceive), nc: nc, timeout: opts.Timeout}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	if r.js, err = jetstream.New(nc); err != nil {
		return nil, fmt.Errorf("sim nats receiver: jetstream: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	filter := subj + ".>"
	r.stream, err = r.js.StreamNameBySubject(ctx, filter)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		r.stream = opts.Stream
		if r.stream == "" {
			r.stream = streamName(subj)
		}
		_, err = r.js.CreateStream(ctx, jetstream.StreamConfig{
			Name: r.stream, Subjects: []string{filter}, Storage: jetstream.MemoryStorage,
			Duplicates: 2 * time.Minute, MaxAge: time.Hour, MaxMsgs: 100_000,
		})
		r.created = err == nil
	}
	if err != nil {
		return nil, fmt.Errorf("sim nats receiver: stream for %s: %w", filter, err)
	}
	st, err := r.js.Stream(ctx, r.stream)
	if err != nil {
		return nil, fmt.Errorf("sim nats receiver: stream %s: %w", r.stream, err)
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{filter}, DeliverPolicy: jetstream.DeliverNewPolicy})
	if err != nil {
		return nil, fmt.Errorf("sim nats receiver: consumer on %s: %w", r.stream, err)
	}
	r.cc, err = cons.Consume(func(msg jetstream.Msg) {
		n := Notification{Subject: msg.Subject(), Body: append([]byte(nil), msg.Data()...)}
		if h := msg.Headers(); h != nil {
			n.Header = map[string][]string(h)
			n.Key = h.Get(jetstream.MsgIDHeader)
		}
		r.add(n, true)
	})
	if err != nil {
		return nil, fmt.Errorf("sim nats receiver: consume %s: %w", r.stream, err)
	}
	return r, nil
}

// streamName is a stream name for a subject prefix: upper case, with the
// characters stream names may not hold replaced.
func streamName(subj string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
			return r
		}
		return '_'
	}, subj)
}

// Stream is the name of the stream the receiver reads.
func (r *NATSReceiver) Stream() string { return r.stream }

// Close stops reading, deletes the stream if the receiver created it, and
// disconnects.
func (r *NATSReceiver) Close() {
	if r.cc != nil {
		r.cc.Stop()
	}
	if r.created && r.js != nil {
		ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
		_ = r.js.DeleteStream(ctx, r.stream)
		cancel()
	}
	r.nc.Close()
}
