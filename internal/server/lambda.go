package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/ingest"
	"github.com/blackwellio/blackwell/internal/notify"
	"github.com/blackwellio/blackwell/internal/provider/catalog"
	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
)

// LambdaOptions are what blackwell lambda runs on: an open store and the
// parsed config (applied once, when the function's environment starts).
type LambdaOptions struct {
	Store  store.Store
	Config *config.Config
	// ConfigSource names the config in the desired-state history
	// ("config:PATH").
	ConfigSource string
	// WebhookMaxBody bounds a delivery (default ingest's).
	WebhookMaxBody int64
	// EventRetention is how long events are kept (default ingest's).
	EventRetention time.Duration
	// Once has the rest of the reconciler's parts; its Store and State
	// are set here.
	Once OnceOptions
	// Channels overrides the notification channels' endpoints (tests);
	// Once.Egress is applied to them.
	Channels notify.ChannelOptions
	// NotifyDrain bounds how long a scheduled invocation waits for its
	// notifications to be delivered (default 20s); what is not delivered
	// by then stays in the outbox for the next invocation.
	NotifyDrain time.Duration
}

// Lambda is the handler of blackwell lambda (aws-lambda-go's
// lambda.Handler). An EventBridge scheduled event ("detail-type":
// "Scheduled Event") runs reconcile --once over every stack, then the
// notification feed once (notify); an HTTP
// request in the payload format 2.0 of API Gateway HTTP APIs and of
// function URLs is a webhook delivery, received by the ingest gateway as
// serve receives it (POST /v1/webhooks/PROVIDER/CLIENT[/STACK]) and
// committed before the answer. The stacks a delivery concerns are passed
// by the next scheduled invocation: nothing runs after the answer, since
// Lambda freezes the environment once the handler returns.
type Lambda struct {
	opts    LambdaOptions
	log     *slog.Logger
	once    *Once
	gateway *ingest.Gateway
	mux     *http.ServeMux
}

// ScheduleResult is the answer to a scheduled invocation.
type ScheduleResult struct {
	Stacks  int      `json:"stacks"`
	Drifted int      `json:"drifted"`
	Healed  int      `json:"healed"`
	Failed  []string `json:"failed"` // CLIENT/STACK of each failed pass
}

// NewLambda checks that the config's channels build, applies the config,
// if any, and assembles the handler.
func NewLambda(ctx context.Context, o LambdaOptions) (*Lambda, error) {
	if o.Once.Logger == nil {
		o.Once.Logger = slog.New(slog.DiscardHandler)
	}
	if o.NotifyDrain <= 0 {
		o.NotifyDrain = 20 * time.Second
	}
	svc := state.New(o.Store, state.Options{Logger: o.Once.Logger})
	if o.Config != nil {
		// As serve: channels that would not build refuse the config
		// before any of it is applied.
		if err := CheckChannels(o.Config, egressChannels(o.Channels, o.Once.Egress)); err != nil {
			return nil, err
		}
		if _, err := svc.Apply(ctx, o.Config, o.ConfigSource); err != nil {
			return nil, fmt.Errorf("apply %s: %w", strings.TrimPrefix(o.ConfigSource, "config:"), err)
		}
	}
	o.Once.Store, o.Once.State = o.Store, svc
	l := &Lambda{opts: o, log: o.Once.Logger, once: NewOnce(o.Once)}
	l.gateway = ingest.New(ingest.Options{
		Providers: catalog.Providers(), Store: o.Store, Getenv: o.Once.Getenv,
		Registerer: prometheus.NewRegistry(), Logger: l.log,
		MaxBodyBytes: o.WebhookMaxBody, Retention: o.EventRetention,
		Trigger: func(clientID, stackID string) {}, // the next schedule passes it
	})
	l.mux = http.NewServeMux()
	for _, p := range []string{"POST /v1/webhooks/{provider}/{client_id}", "POST /v1/webhooks/{provider}/{client_id}/{stack_id}"} {
		l.mux.HandleFunc(p, l.receive)
	}
	l.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeLambdaError(w, http.StatusNotFound, "not_found", "this function receives webhooks only: POST /v1/webhooks/PROVIDER/CLIENT[/STACK]")
	})
	return l, nil
}

// lambdaEvent is what tells the payloads apart.
type lambdaEvent struct {
	DetailType     string `json:"detail-type"`
	RequestContext struct {
		HTTP struct {
			Method string `json:"method"`
		} `json:"http"`
	} `json:"requestContext"`
}

// Invoke handles one invocation (lambda.Handler).
func (l *Lambda) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	var ev lambdaEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, fmt.Errorf("lambda payload is not JSON: %w", err)
	}
	switch {
	case ev.DetailType == "Scheduled Event":
		res, err := l.Scheduled(ctx)
		if err != nil {
			return nil, err
		}
		return json.Marshal(res)
	case ev.RequestContext.HTTP.Method != "":
		var req events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(payload, &req); err != nil {
			return nil, fmt.Errorf("lambda HTTP payload: %w", err)
		}
		return json.Marshal(l.HTTP(ctx, req))
	}
	return nil, errors.New(`lambda payload is neither an EventBridge scheduled event ("detail-type": "Scheduled Event") nor an HTTP request (payload format 2.0)`)
}

// Scheduled runs reconcile --once over every stack. A failed pass is
// reported in the result, not as an error: EventBridge would retry the
// whole run.
func (l *Lambda) Scheduled(ctx context.Context) (ScheduleResult, error) {
	res := ScheduleResult{Failed: []string{}}
	keys, err := l.once.Keys(ctx, "", "")
	if errors.Is(err, ErrNoStacks) {
		return res, nil
	}
	if err != nil {
		return res, err
	}
	results, err := l.once.Run(ctx, keys)
	if err != nil {
		return res, err
	}
	if err := l.notify(ctx); err != nil {
		// The passes are committed; their notifications wait in the
		// audit log for the next invocation.
		l.log.WarnContext(ctx, "notifications not sent", "error", err)
	}
	res.Stacks = len(keys)
	for _, k := range keys {
		r := results[k]
		if r.Status == store.ResultFailed {
			res.Failed = append(res.Failed, k)
			l.log.WarnContext(ctx, "scheduled pass failed", "client_id", r.ClientID, "stack_id", r.StackID, "errors", r.Errors)
		}
		if r.DriftDetected {
			res.Drifted++
		}
		if r.AutoHealAttempted {
			res.Healed++
		}
	}
	slices.Sort(res.Failed)
	return res, nil
}

// notify runs the notification feed once: the config's channels, the
// audit entries of the passes (and reminders due), their deliveries sent
// within NotifyDrain. The feed and its channels last one invocation, so
// that nothing runs while Lambda freezes the environment.
func (l *Lambda) notify(ctx context.Context) error {
	if l.opts.Config == nil {
		return nil // channels come from the config file only
	}
	ns, err := newNotifications(prometheus.NewRegistry(), l.log, l.opts.Once.PublicURL, l.opts.Store, nil, predictPolicy(l.opts.Once.State))
	if err != nil {
		return err
	}
	// Its own feed, whose dispatcher's drain at Stop is NotifyDrain.
	ns.feed = notify.NewFeed(notify.FeedOptions{Store: l.opts.Store, DashboardURL: l.opts.Once.PublicURL,
		Logger: l.log, DrainTimeout: l.opts.NotifyDrain})
	ns.channels = egressChannels(l.opts.Channels, l.opts.Once.Egress)
	ns.agreement = channelAgreement{replica: "lambda", others: liveOthers(l.opts.Store, "lambda")}
	if err := ns.feed.Load(ctx); err != nil {
		return err
	}
	if err := ns.checkChannelsAtStart(ctx, l.opts.Config); err != nil {
		return err
	}
	if err := ns.Configure(ctx, l.opts.Config); err != nil {
		return err
	}
	defer func() {
		drain, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.opts.NotifyDrain)
		defer cancel()
		_ = ns.feed.Stop(drain)
	}()
	if err := ns.feed.Tick(ctx); err != nil {
		return err
	}
	for {
		n, err := ns.feed.Poll(ctx)
		if err != nil || n == 0 {
			return err
		}
	}
}

// HTTP serves an HTTP request of API Gateway (HTTP API) or a function URL.
func (l *Lambda) HTTP(ctx context.Context, req events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	r, err := lambdaRequest(ctx, req)
	w := &lambdaResponse{header: http.Header{}}
	if err != nil {
		writeLambdaError(w, http.StatusBadRequest, "bad_request", err.Error())
	} else {
		l.mux.ServeHTTP(w, r)
	}
	out := events.APIGatewayV2HTTPResponse{StatusCode: w.status, Headers: map[string]string{}, Body: w.body.String()}
	if out.StatusCode == 0 {
		out.StatusCode = http.StatusOK
	}
	for k, vs := range w.header {
		out.Headers[k] = strings.Join(vs, ",")
	}
	return out
}

// lambdaRequest is req as an *http.Request. A path under a named stage
// (/prod/v1/...) loses the stage.
func lambdaRequest(ctx context.Context, req events.APIGatewayV2HTTPRequest) (*http.Request, error) {
	body := []byte(req.Body)
	if req.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(req.Body)
		if err != nil {
			return nil, fmt.Errorf("body: %w", err)
		}
		body = b
	}
	path := req.RawPath
	if st := req.RequestContext.Stage; st != "" && st != "$default" {
		path = strings.TrimPrefix(path, "/"+st)
	}
	target := path
	if req.RawQueryString != "" {
		target += "?" + req.RawQueryString
	}
	r, err := http.NewRequestWithContext(ctx, req.RequestContext.HTTP.Method, target, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range req.Headers {
		r.Header.Set(k, v) // API Gateway joins repeated headers with commas
	}
	if len(req.Cookies) > 0 {
		r.Header.Set("Cookie", strings.Join(req.Cookies, "; "))
	}
	r.Host = req.RequestContext.DomainName
	r.RemoteAddr = net.JoinHostPort(req.RequestContext.HTTP.SourceIP, "0")
	r.ContentLength = int64(len(body))
	return r, nil
}

// receive hands a delivery to the gateway; a rejection is answered as the
// API answers it ({"error":{"code","message"}}).
func (l *Lambda) receive(w http.ResponseWriter, r *http.Request) {
	err := l.gateway.ServeWebhook(w, r, r.PathValue("provider"), r.PathValue("client_id"), r.PathValue("stack_id"))
	var rej *ingest.Error
	switch {
	case err == nil:
	case errors.As(err, &rej):
		if rej.Retry > 0 {
			w.Header().Set("Retry-After", fmt.Sprint(int(max(time.Second, rej.Retry).Seconds())))
		}
		writeLambdaError(w, rej.Status, rej.Code, rej.Message)
	default:
		l.log.ErrorContext(r.Context(), "webhook delivery failed", "error", err)
		writeLambdaError(w, http.StatusInternalServerError, "internal", "internal error")
	}
}

func writeLambdaError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// lambdaResponse is the http.ResponseWriter of one invocation.
type lambdaResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *lambdaResponse) Header() http.Header { return w.header }

func (w *lambdaResponse) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *lambdaResponse) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}
