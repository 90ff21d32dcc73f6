// Package ingest is the Integration API gateway: it receives provider
// webhooks at /v1/webhooks/{provider}/{client_id}[/{stack_id}], verifies
// each with its provider's own signature scheme and the secrets the
// client's stacks declare, normalises it into the spec's event and
// content-cache records, commits both durably (deduplicated by the
// provider's delivery id), acknowledges only then, and asks for a
// reconcile pass of the stacks the event concerns.
//
// Every rejection (400, 401, 404, 413, 415, 429) writes nothing, is
// counted in blackwell_webhook_deliveries_total by provider and reason, and
// is logged (rate-limited) without secrets, signatures or bodies.
//
// Strangers learn nothing of the clients: a delivery for an unknown client
// or stack, a provider no stack binds, a client whose secret is not set,
// and any signature that does not verify (missing, malformed, stale,
// wrong) are answered alike, 401 with one message; the reason is in the
// metric's result label and the log. The body is read (bounded in size
// and time) before a delivery takes one of the MaxInFlight slots, so slow
// senders cannot hold the slots.
package ingest

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/blackwellio/blackwell/internal/erase"
	"github.com/blackwellio/blackwell/internal/ingest/webhook"
	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/provider/catalog"
	"github.com/blackwellio/blackwell/internal/store"
)

// Defaults of Options.
const (
	DefaultMaxBodyBytes = 1 << 20
	DefaultMaxInFlight  = 256
	DefaultRetention    = 30 * 24 * time.Hour
	DefaultBindingTTL   = 5 * time.Second
	DefaultTriggerEvery = time.Second
	// DefaultBodyTimeout bounds reading a delivery's body.
	DefaultBodyTimeout = 10 * time.Second
	// retryAfter is the Retry-After of a 429 or 503.
	retryAfter = time.Second
	// missReload: a delivery for a client or binding the cache does not
	// know reloads the client's bindings if they are older than this, so a
	// stack applied by another replica is found within a second.
	missReload = time.Second
)

// Options configure a Gateway.
type Options struct {
	// Store commits events and content (IngestEvents) and lists the
	// client's stacks. Required.
	Store store.Store
	// Trigger asks for a reconcile pass of a stack; called after the
	// commit of a new event for every stack it concerns. Passes are
	// coalesced by the reconciler's queue.
	Trigger func(clientID, stackID string)
	// Getenv resolves ${VAR} references of webhook secrets (default: none
	// resolve).
	Getenv func(string) (string, bool)
	// Registerer receives the gateway's metrics (default: not exported).
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	Now        func() time.Time
	// MaxBodyBytes bounds a delivery's body (default 1 MiB): larger is 413.
	MaxBodyBytes int64
	// MaxInFlight bounds the deliveries received at once (default 256):
	// more is 429 with Retry-After.
	MaxInFlight int
	// BodyTimeout bounds reading a delivery's body, which happens before
	// the delivery takes a slot (default 10s): a slower body is 400.
	BodyTimeout time.Duration
	// Retention is how long events are kept: ttl_timestamp is the receipt
	// time plus Retention (default 30 days).
	Retention time.Duration
	// BindingTTL bounds how long a client's resolved bindings are reused
	// without a look at the store (default 5s).
	BindingTTL time.Duration
	// Providers are the providers whose deliveries the gateway receives
	// (default catalog.Providers()).
	Providers []provider.Descriptor
	// TriggerInterval paces the passes deliveries ask for: at most one
	// Trigger per stack per interval, the first at once, later ones folded
	// into one at the interval's end (default 1s; negative: every event
	// triggers).
	TriggerInterval time.Duration
	// OnDelivery, when set, is told every delivery's answer status (200,
	// or the refusal's): the refusal streaks forecasts read
	// (forecast.RefusalLog). Keep it quick.
	OnDelivery func(provider, clientID string, h http.Header, status int, at time.Time)
}

// Gateway receives webhooks. Its ServeWebhook is mounted by the API.
type Gateway struct {
	opts      Options
	log       *slog.Logger
	now       func() time.Time
	providers map[string]provider.Descriptor
	names     string // the providers' names, for the 404's message
	bindings  *bindingCache
	slots     chan struct{}
	m         *Metrics
	logLimit  *rate.Limiter
	pacer     *pacer
	mu        sync.Mutex
	dropped   int // rejection logs suppressed by logLimit
}

// New returns a Gateway.
func New(opts Options) *Gateway {
	if opts.Getenv == nil {
		opts.Getenv = func(string) (string, bool) { return "", false }
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = DefaultMaxInFlight
	}
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.BodyTimeout <= 0 {
		opts.BodyTimeout = DefaultBodyTimeout
	}
	if opts.BindingTTL <= 0 {
		opts.BindingTTL = DefaultBindingTTL
	}
	if opts.Providers == nil {
		opts.Providers = catalog.Providers()
	}
	if opts.Trigger == nil {
		opts.Trigger = func(string, string) {}
	}
	if opts.TriggerInterval == 0 {
		opts.TriggerInterval = DefaultTriggerEvery
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	g := &Gateway{
		opts:      opts,
		log:       opts.Logger,
		now:       opts.Now,
		providers: map[string]provider.Descriptor{},
		bindings:  newBindingCache(opts.Store, opts.Getenv, opts.Now, opts.BindingTTL, opts.Logger),
		slots:     make(chan struct{}, opts.MaxInFlight),
		logLimit:  rate.NewLimiter(rate.Limit(5), 20),
		pacer:     newPacer(opts.TriggerInterval, opts.Now, opts.Trigger),
	}
	var names []string
	for _, p := range opts.Providers {
		g.providers[p.Name] = p
		names = append(names, p.Name)
	}
	g.names = strings.Join(names, ", ")
	g.m = NewMetrics(opts.Registerer, names)
	return g
}

// Invalidate drops what the gateway caches of a client's bindings; call it
// when a stack's desired state changes (state.Options.OnChange).
func (g *Gateway) Invalidate(clientID, stackID string) {
	_ = stackID
	g.bindings.invalidate(clientID)
}

// Error is a rejected delivery: the status and code it is answered with,
// and a message safe to show the sender. The API writes it as its JSON
// error answer (HTTPStatus, ErrorCode, RetryAfter).
type Error struct {
	Status  int
	Code    string
	Message string
	// Retry is the Retry-After of a 429 or 503; zero for others.
	Retry  time.Duration
	result string
	// detail is the reason for the log when Message hides it (unverified).
	detail string
}

func (e *Error) Error() string { return e.Message }

// HTTPStatus is the answer's status.
func (e *Error) HTTPStatus() int { return e.Status }

// ErrorCode is the answer's error code.
func (e *Error) ErrorCode() string { return e.Code }

// RetryAfter is the answer's Retry-After, zero for none.
func (e *Error) RetryAfter() time.Duration { return e.Retry }

func reject(status int, code, result, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...), result: result}
}

// unverifiedMessage is the one answer to every delivery stopped before its
// signature verified, whatever the reason.
const unverifiedMessage = "the delivery could not be verified"

// unverified is a delivery stopped before its signature verified: answered
// alike whatever the reason (result and detail), which only the metric and
// the log show.
func unverified(result, format string, args ...any) *Error {
	e := reject(http.StatusUnauthorized, "unauthorized", result, unverifiedMessage)
	e.detail = fmt.Sprintf(format, args...)
	return e
}

// Receipt is the answer to an acknowledged delivery.
type Receipt struct {
	EventID string `json:"event_id"`
	// Duplicate: the event was stored by an earlier delivery; nothing was
	// written this time.
	Duplicate bool `json:"duplicate"`
	// Triggered are the stacks ("client/stack") a pass was asked for
	// (at once, or at the end of the stack's trigger interval).
	Triggered []string `json:"triggered,omitempty"`
	// Privacy is what a privacy request erased (or found, for a data
	// request): counts and a digest, never the data.
	Privacy *erase.Report `json:"privacy,omitempty"`
}

// runPrivacy runs a privacy request (docs/DATA.md): an erasure, or a data
// request whose answer is the audit entry and the log line. A failure is
// 503: the provider retries, and the retry runs it again.
func (g *Gateway) runPrivacy(ctx context.Context, provider string, p Privacy, receipt *Receipt) error {
	er := &erase.Eraser{Store: g.opts.Store, Now: g.now}
	run := er.Find
	if p.Erase {
		run = er.Erase
	}
	rep, err := run(ctx, p.Request)
	if err != nil {
		g.log.Error("privacy request failed", "provider", provider, "client_id", p.Request.ClientID, "event_id", receipt.EventID, "error", err)
		e := reject(http.StatusServiceUnavailable, "unavailable", ResultStoreUnavailable, "the privacy request could not be completed; retry later")
		e.Retry = retryAfter
		return e
	}
	g.log.Info("privacy request", "provider", provider, "client_id", p.Request.ClientID, "event_id", receipt.EventID,
		"erase", p.Erase, "scope", rep.Scope, "events", rep.Events, "content", rep.Content, "outbox", rep.Outbox, "sha256", rep.SHA256)
	receipt.Privacy = &rep
	return nil
}

// ServeWebhook receives one delivery for provider, client and optionally
// stack (the path values of the route). It answers 200 with a Receipt once
// the event is committed, or returns an *Error, having written nothing.
func (g *Gateway) ServeWebhook(w http.ResponseWriter, r *http.Request, provider, clientID, stackID string) error {
	start := g.now()
	label := provider
	if _, ok := g.providers[provider]; !ok {
		label = unknownProvider
	}
	receipt, err := g.receive(w, r, provider, clientID, stackID, start)
	var rej *Error
	if on := g.opts.OnDelivery; on != nil && label != unknownProvider {
		status := http.StatusOK
		switch {
		case errors.As(err, &rej):
			status = rej.Status
		case err != nil:
			status = http.StatusInternalServerError
		}
		on(provider, clientID, r.Header, status, start)
	}
	if err != nil && !errors.As(err, &rej) {
		// Not one of ours: a bug. Count it as a store problem (the only
		// other failure) and let the API answer 500.
		g.m.deliveries.WithLabelValues(label, ResultStoreUnavailable).Inc()
		return err
	}
	if rej != nil {
		g.m.deliveries.WithLabelValues(label, rej.result).Inc()
		g.logRejection(r, w.Header().Get("X-Request-Id"), label, clientID, stackID, rej)
		return rej
	}
	result := ResultAccepted
	if receipt.Duplicate {
		result = ResultDuplicate
	}
	g.m.deliveries.WithLabelValues(label, result).Inc()
	g.m.ack.WithLabelValues(label).Observe(g.now().Sub(start).Seconds())
	body, err := json.Marshal(receipt)
	if err != nil {
		return fmt.Errorf("encode receipt: %w", err)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(body, '\n'))
	return nil
}

// matched is a delivery's bindings: the stacks binding the provider and
// their secrets, and every stack of the client.
type matched struct {
	match
	all []string
}

// match finds the stacks of the client that bind provider (stackID alone
// when set): unverified (401, like a bad signature) when the client is
// unknown or none binds it.
func (g *Gateway) match(ctx context.Context, provider, clientID, stackID string) (matched, error) {
	b, err := g.bindings.get(ctx, clientID, 0)
	if err == nil {
		if _, ok := find(b, provider, stackID); !ok {
			// Maybe applied a moment ago elsewhere: look once more.
			b, err = g.bindings.get(ctx, clientID, missReload)
		}
	}
	if err != nil {
		g.log.Error("webhook bindings unavailable", "provider", provider, "client_id", clientID, "error", err)
		e := reject(http.StatusServiceUnavailable, "unavailable", ResultBindingUnavailable, "the stack store is unavailable; retry later")
		e.Retry = retryAfter
		return matched{}, e
	}
	m, ok := find(b, provider, stackID)
	if !ok {
		switch {
		case b == nil:
			return matched{}, unverified(ResultNotFound, "unknown client %q", clip(clientID))
		case stackID != "":
			if _, exists := b.stacks[stackID]; !exists {
				return matched{}, unverified(ResultNotFound, "unknown stack %s/%s", clientID, clip(stackID))
			}
			return matched{}, unverified(ResultNotFound, "stack %s/%s does not bind provider %s", clientID, stackID, provider)
		default:
			return matched{}, unverified(ResultNotFound, "no stack of client %s binds provider %s", clientID, provider)
		}
	}
	return matched{match: m, all: b.ordered}, nil
}

func find(b *clientBindings, provider, stackID string) (match, bool) {
	if b == nil {
		return match{}, false
	}
	return b.find(provider, stackID)
}

// checkMediaType accepts application/json and application/*+json
// (Contentful sends application/vnd.contentful.management.v1+json).
func checkMediaType(ct string) error {
	if ct == "" {
		return reject(http.StatusUnsupportedMediaType, "unsupported_media_type", ResultUnsupportedMedia, "Content-Type is required: application/json")
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || !(mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
		return reject(http.StatusUnsupportedMediaType, "unsupported_media_type", ResultUnsupportedMedia, "the body must be application/json, not %q", clip(ct))
	}
	return nil
}

// unknownSecret is the secret an unknown client's delivery is checked
// against (it verifies nothing), so that its answer costs the same time.
const unknownSecret = "blackwell-no-such-client"

// readBody reads the whole body, bounded by MaxBodyBytes and BodyTimeout
// (a read deadline on the connection, where the server allows one).
func (g *Gateway) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	max := g.opts.MaxBodyBytes
	tooLarge := func() error {
		return reject(http.StatusRequestEntityTooLarge, "too_large", ResultTooLarge, "the body is larger than %d bytes", max)
	}
	if r.ContentLength > max {
		return nil, tooLarge()
	}
	g.m.receiving.Inc()
	defer g.m.receiving.Dec()
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(g.now().Add(g.opts.BodyTimeout)); err == nil {
		defer func() { _ = rc.SetReadDeadline(time.Time{}) }()
	}
	size := 512
	if r.ContentLength > 0 {
		size = int(r.ContentLength) + 1 // +1: ReadFrom stops without growing
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, max)); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge()
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, reject(http.StatusBadRequest, "bad_request", ResultMalformed, "the body did not arrive within %s", g.opts.BodyTimeout)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) || r.Context().Err() != nil {
			return nil, reject(http.StatusBadRequest, "bad_request", ResultMalformed, "the body was cut short")
		}
		return nil, reject(http.StatusBadRequest, "bad_request", ResultMalformed, "reading the body: %v", err)
	}
	return buf.Bytes(), nil
}

// verifyError maps a provider's verification error: all are answered
// alike (unverified), the result says which.
func verifyError(err error) *Error {
	switch {
	case errors.Is(err, webhook.ErrMissingSignature):
		return unverified(ResultMissingSignature, "%s", err)
	case errors.Is(err, webhook.ErrBadSignature):
		return unverified(ResultBadSignature, "signature does not verify with any active secret")
	case errors.Is(err, webhook.ErrMismatch):
		return unverified(ResultBadSignature, "%s", err)
	case errors.Is(err, webhook.ErrStale):
		return unverified(ResultStale, "%s", err)
	default:
		return unverified(ResultMalformed, "%s", err)
	}
}

// logRejection logs a rejected delivery without secrets, signatures or
// body, at most a few per second (the rest are counted and reported with
// the next line).
func (g *Gateway) logRejection(r *http.Request, requestID, provider, clientID, stackID string, e *Error) {
	if !g.logLimit.Allow() {
		g.mu.Lock()
		g.dropped++
		g.mu.Unlock()
		return
	}
	g.mu.Lock()
	dropped := g.dropped
	g.dropped = 0
	g.mu.Unlock()
	level := slog.LevelInfo
	if e.Status >= 500 {
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.String("provider", provider), slog.String("client_id", clip(clientID)), slog.String("stack_id", clip(stackID)),
		slog.Int("status", e.Status), slog.String("result", e.result), slog.String("reason", cmp.Or(e.detail, e.Message)),
		slog.String("request_id", requestID),
	}
	if dropped > 0 {
		attrs = append(attrs, slog.Int("suppressed_since_last", dropped))
	}
	g.log.LogAttrs(r.Context(), level, "webhook rejected", attrs...)
}

// clip shortens a caller-supplied value for a message or log.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
