package server

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/notify"
	"github.com/blackwellio/blackwell/internal/stdwebhook"
	"github.com/blackwellio/blackwell/internal/store"
)

const lambdaSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// setupLambda is a Lambda over a new SQLite store holding one stack (a
// healthy site and a generic CMS that signs its webhooks).
func setupLambda(t testing.TB) (*Lambda, store.Store) {
	t.Helper()
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") }))
	t.Cleanup(site.Close)
	getenv := func(k string) (string, bool) { return lambdaSecret, k == "CMS_SECRET" }
	cfg, err := config.Parse("blackwell.yaml", fmt.Appendf(nil, `apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: site, environment: prod}
spec:
  providers:
    cms: {name: generic, webhook_secret: "${CMS_SECRET}"}
  resources:
    home: {probe: http, url: %q, expect_status: 200}
`, site.URL), getenv)
	require.NoError(t, err)
	st, err := OpenStore(t.Context(), "sqlite://"+filepath.Join(t.TempDir(), "blackwell.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	l, err := NewLambda(t.Context(), LambdaOptions{Store: st, Config: cfg, ConfigSource: "config:blackwell.yaml",
		Once: OnceOptions{Getenv: getenv, Logger: slog.New(slog.DiscardHandler)}})
	require.NoError(t, err)
	return l, st
}

// TestLambdaScheduledEventRunsAPass: an EventBridge scheduled event runs a
// pass of every stack, recorded in the store.
func TestLambdaScheduledEventRunsAPass(t *testing.T) {
	t.Parallel()
	l, st := setupLambda(t)
	before, _, err := st.ListReconciliations(t.Context(), "acme", "site", "", 10)
	require.NoError(t, err)
	require.Empty(t, before)

	scheduled := `{"version":"0","id":"53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa","detail-type":"Scheduled Event",
"source":"aws.events","account":"123456789012","time":"2026-12-07T20:00:00Z","region":"eu-west-1",
"resources":["arn:aws:events:eu-west-1:123456789012:rule/blackwell-schedule"],"detail":{}}`
	out, err := l.Invoke(t.Context(), []byte(scheduled))
	require.NoError(t, err)
	var res ScheduleResult
	require.NoError(t, json.Unmarshal(out, &res))
	require.Equal(t, ScheduleResult{Stacks: 1, Failed: []string{}}, res)

	after, _, err := st.ListReconciliations(t.Context(), "acme", "site", "", 10)
	require.NoError(t, err)
	require.Len(t, after, 1)
	require.Equal(t, store.ResultSuccess, after[0].Status, after[0].Errors)
}

// TestLambdaReceivesASignedWebhook: a function-URL request carrying a
// signed delivery is committed and answered with the receipt; a bad
// signature is refused as serve refuses it, and a path that is not a
// receiver is 404.
func TestLambdaReceivesASignedWebhook(t *testing.T) {
	t.Parallel()
	l, st := setupLambda(t)
	body := []byte(`{"event_type":"content.updated","content_id":"post-1","content_type":"post"}`)
	key, err := stdwebhook.ParseSecret(lambdaSecret)
	require.NoError(t, err)
	now := time.Now()
	req := func(path, signature string) events.APIGatewayV2HTTPRequest {
		var r events.APIGatewayV2HTTPRequest
		r.Version, r.RawPath, r.Body = "2.0", path, string(body)
		r.Headers = map[string]string{"content-type": "application/json", "webhook-id": "msg_1",
			"webhook-timestamp": strconv.FormatInt(now.Unix(), 10), "webhook-signature": signature}
		r.RequestContext.Stage, r.RequestContext.DomainName = "$default", "abc.lambda-url.eu-west-1.on.aws"
		r.RequestContext.HTTP.Method, r.RequestContext.HTTP.SourceIP = http.MethodPost, "203.0.113.7"
		return r
	}
	invoke := func(r events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
		raw, err := json.Marshal(r)
		require.NoError(t, err)
		out, err := l.Invoke(t.Context(), raw)
		require.NoError(t, err)
		var resp events.APIGatewayV2HTTPResponse
		require.NoError(t, json.Unmarshal(out, &resp))
		return resp
	}

	resp := invoke(req("/v1/webhooks/generic/acme/site", "v1,AAAA"))
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, resp.Body)
	require.Contains(t, resp.Body, `"code":`)

	resp = invoke(req("/v1/webhooks/generic/acme/site", key.Sign("msg_1", now, body)))
	require.Equal(t, http.StatusOK, resp.StatusCode, resp.Body)
	require.Equal(t, "application/json", resp.Headers["Content-Type"])
	evs, _, err := st.ListEvents(t.Context(), store.EventQuery{ClientID: "acme"})
	require.NoError(t, err)
	require.Len(t, evs, 1)
	require.Equal(t, "content.updated", evs[0].EventType)
	require.Equal(t, "post-1", evs[0].ContentID)

	resp = invoke(req("/v1/stacks", key.Sign("msg_1", now, body)))
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	_, err = l.Invoke(t.Context(), []byte(`{"Records":[]}`))
	require.ErrorContains(t, err, "neither an EventBridge scheduled event")
}

// TestLambdaScheduledEventNotifies: a drift confirmed by a scheduled pass
// (the site failing after a pass saw it healthy) is delivered to the
// config's channel before the invocation returns, and once only: the next
// invocation sends nothing new.
func TestLambdaScheduledEventNotifies(t *testing.T) {
	t.Parallel()
	var failing atomic.Bool
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(site.Close)
	got := make(chan notify.CloudEvent, 16)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev notify.CloudEvent
		if json.NewDecoder(r.Body).Decode(&ev) == nil {
			got <- ev
		}
	}))
	t.Cleanup(receiver.Close)
	cfg, err := config.Parse("blackwell.yaml", fmt.Appendf(nil, `apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: site, environment: prod}
spec:
  resources:
    home: {probe: http, url: %q, expect_status: 200}
---
apiVersion: blackwell.io/v1
kind: ReconciliationPolicy
metadata: {client_id: acme}
spec:
  confirmation: {observations: 1}
  notifications:
    channels: [{type: webhook, url: %q, severity_threshold: low}]
`, site.URL, receiver.URL), nil)
	require.NoError(t, err)
	st, err := OpenStore(t.Context(), "sqlite://"+filepath.Join(t.TempDir(), "blackwell.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	l, err := NewLambda(t.Context(), LambdaOptions{Store: st, Config: cfg, ConfigSource: "config:blackwell.yaml",
		Once: OnceOptions{Logger: slog.New(slog.DiscardHandler)}, NotifyDrain: time.Minute})
	require.NoError(t, err)

	res, err := l.Scheduled(t.Context())
	require.NoError(t, err)
	require.Equal(t, ScheduleResult{Stacks: 1, Failed: []string{}}, res)
	require.Empty(t, got)

	failing.Store(true)
	res, err = l.Scheduled(t.Context())
	require.NoError(t, err)
	require.Equal(t, 1, res.Drifted, "%+v", res)
	require.Len(t, got, 1, "delivered before the invocation returned")
	ev := <-got
	require.Equal(t, notify.CloudEventTypePrefix+string(notify.KindDetected), ev.Type)
	require.Equal(t, "acme", ev.Data.ClientID)
	require.Equal(t, "site", ev.Data.StackID)

	_, err = l.Scheduled(t.Context())
	require.NoError(t, err)
	require.Empty(t, got, "a drift still open is not announced again")
}

// FuzzLambdaHTTP: whatever request a function URL or API Gateway hands
// over (any method, path, headers, body, base64 or not) is answered with
// a status, never a panic.
func FuzzLambdaHTTP(f *testing.F) {
	l, _ := setupLambda(f)
	for _, seed := range []string{
		`{"version":"2.0","rawPath":"/v1/webhooks/generic/acme/site","headers":{"webhook-id":"msg_1"},"body":"{}","requestContext":{"http":{"method":"POST"},"stage":"$default"}}`,
		`{"version":"2.0","rawPath":"/prod/v1/webhooks/shopify/acme","rawQueryString":"a=%zz","body":"e30=","isBase64Encoded":true,"requestContext":{"http":{"method":"POST"},"stage":"prod"}}`,
		`{"version":"2.0","rawPath":"","body":"!!","isBase64Encoded":true,"requestContext":{"http":{"method":"GET"}}}`,
		`{"version":"2.0","rawPath":"/v1/webhooks/generic/acme/site","cookies":["a=b"],"headers":{"content-length":"-1"},"requestContext":{"http":{"method":"BAD METHOD"}}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		var req events.APIGatewayV2HTTPRequest
		if json.Unmarshal(payload, &req) != nil {
			return
		}
		resp := l.HTTP(t.Context(), req)
		if resp.StatusCode < 100 || resp.StatusCode > 599 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
}

// TestNewLambdaRefusesChannelsThatDoNotBuild: as serve, a config whose
// channels cannot be built is refused before anything is applied.
func TestNewLambdaRefusesChannelsThatDoNotBuild(t *testing.T) {
	t.Parallel()
	getenv := func(k string) (string, bool) { return "not-whsec", k == "HOOK_SECRET" }
	cfg, err := config.Parse("blackwell.yaml", []byte(`apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: site, environment: prod}
---
apiVersion: blackwell.io/v1
kind: ReconciliationPolicy
metadata: {client_id: acme}
spec:
  notifications:
    channels: [{type: webhook, url: "https://hooks.example/x", secret: "${HOOK_SECRET}"}]
`), getenv)
	require.NoError(t, err)
	st, err := OpenStore(t.Context(), "sqlite://"+filepath.Join(t.TempDir(), "blackwell.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	_, err = NewLambda(t.Context(), LambdaOptions{Store: st, Config: cfg, ConfigSource: "config:blackwell.yaml",
		Once: OnceOptions{Getenv: getenv, Logger: slog.New(slog.DiscardHandler)}})
	require.ErrorContains(t, err, "notification channels")
	states, err := store.AllStates(t.Context(), st, "")
	require.NoError(t, err)
	require.Empty(t, states, "nothing applied")
}
