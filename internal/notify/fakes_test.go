package notify_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/notify"
	"github.com/blackwellio/blackwell/internal/stdwebhook"
)

// answer is what a fake receiver says to one request.
type answer struct {
	status int
	header http.Header
	body   string
}

// received is one request a fake got.
type received struct {
	header http.Header
	body   []byte
	at     time.Time
}

// fakeHTTP is an httptest server that records requests and answers from a
// script (the last answer repeats); the protocol check runs first and its
// error answer, if any, wins.
type fakeHTTP struct {
	srv *httptest.Server

	mu      sync.Mutex
	reqs    []received
	answers []answer
	got     chan struct{}
}

func newFakeHTTP(t *testing.T, path string, check func(r *http.Request, body []byte) *answer, answers ...answer) *fakeHTTP {
	t.Helper()
	f := &fakeHTTP{answers: answers, got: make(chan struct{}, 1024)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+path, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		a := check(r, body)
		f.mu.Lock()
		f.reqs = append(f.reqs, received{header: r.Header.Clone(), body: body, at: time.Now()})
		if a == nil {
			a = &f.answers[0]
			if len(f.answers) > 1 {
				f.answers = f.answers[1:]
			}
		}
		f.mu.Unlock()
		for k, vs := range a.header {
			w.Header()[k] = vs
		}
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
		f.got <- struct{}{}
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeHTTP) requests() []received {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]received(nil), f.reqs...)
}

// waitRequests waits until the fake has answered n requests.
func (f *fakeHTTP) waitRequests(t *testing.T, n int) []received {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for len(f.requests()) < n {
		select {
		case <-f.got:
		case <-deadline:
			t.Fatalf("fake got %d requests, want %d", len(f.requests()), n)
		}
	}
	return f.requests()
}

// newFakeSlack speaks Slack's incoming-webhook protocol
// (api.slack.com/messaging/webhooks; error codes from the changelog of
// 2016-05-17): POST JSON to /services/T…/B…/secret; a body without text or
// blocks is 400 invalid_payload, a malformed blocks array 400
// invalid_blocks; success is 200 "ok". The answers script the rest.
func newFakeSlack(t *testing.T, answers ...answer) (*fakeHTTP, string) {
	if len(answers) == 0 {
		answers = []answer{{status: 200, body: "ok"}}
	}
	f := newFakeHTTP(t, "/services/T000/B000/XXXXSECRETXXXX", func(r *http.Request, body []byte) *answer {
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			return &answer{status: 400, body: "invalid_payload"}
		}
		var msg struct {
			Text   string            `json:"text"`
			Blocks []json.RawMessage `json:"blocks"`
		}
		if json.Unmarshal(body, &msg) != nil || (msg.Text == "" && len(msg.Blocks) == 0) {
			return &answer{status: 400, body: "invalid_payload"}
		}
		for _, b := range msg.Blocks {
			var blk struct {
				Type string `json:"type"`
			}
			if json.Unmarshal(b, &blk) != nil || blk.Type == "" {
				return &answer{status: 400, body: "invalid_blocks"}
			}
		}
		return nil
	}, answers...)
	return f, f.srv.URL + "/services/T000/B000/XXXXSECRETXXXX"
}

// newFakePagerDuty speaks Events API v2 (PagerDuty developer docs,
// events-API-v2 Overview and Trigger Events; go-pagerduty event_v2.go):
// POST JSON to /v2/enqueue; a 32-character routing key, an event_action of
// trigger, acknowledge or resolve, a payload with summary, source and a
// severity of critical, error, warning or info for a trigger, and a
// dedup_key for acknowledge and resolve; else 400 "invalid event". A valid
// event is 202 {"status":"success","message":"Event processed","dedup_key"}.
func newFakePagerDuty(t *testing.T, answers ...answer) *fakeHTTP {
	return newFakeHTTP(t, "/v2/enqueue", func(r *http.Request, body []byte) *answer {
		var ev struct {
			RoutingKey  string `json:"routing_key"`
			EventAction string `json:"event_action"`
			DedupKey    string `json:"dedup_key"`
			Payload     *struct {
				Summary  string `json:"summary"`
				Source   string `json:"source"`
				Severity string `json:"severity"`
			} `json:"payload"`
		}
		invalid := &answer{status: 400, header: http.Header{"Content-Type": {"application/json"}},
			body: `{"status":"invalid event","message":"Event object is invalid","errors":["invalid"]}`}
		if json.Unmarshal(body, &ev) != nil || len(ev.RoutingKey) != 32 || len(ev.DedupKey) > 255 {
			return invalid
		}
		switch ev.EventAction {
		case "trigger":
			if ev.Payload == nil || ev.Payload.Summary == "" || len(ev.Payload.Summary) > 1024 || ev.Payload.Source == "" ||
				!strings.Contains(" critical error warning info ", " "+ev.Payload.Severity+" ") {
				return invalid
			}
		case "acknowledge", "resolve":
			if ev.DedupKey == "" {
				return invalid
			}
		default:
			return invalid
		}
		return nil
	}, answersOrDefault(answers)...)
}

func answersOrDefault(a []answer) []answer {
	if len(a) > 0 {
		return a
	}
	return []answer{{status: 202, header: http.Header{"Content-Type": {"application/json"}},
		body: `{"status":"success","message":"Event processed","dedup_key":"x"}`}}
}

// newFakeWebhookReceiver is a Standard Webhooks receiver of CloudEvents in
// structured mode: 415 for another content type, 401 for a bad signature,
// 400 for an event missing a required attribute; else the script (204).
func newFakeWebhookReceiver(t *testing.T, secret string, now func() time.Time, answers ...answer) (*fakeHTTP, string) {
	if len(answers) == 0 {
		answers = []answer{{status: 204}}
	}
	f := newFakeHTTP(t, "/hooks/blackwell", func(r *http.Request, body []byte) *answer {
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/cloudevents+json") {
			return &answer{status: 415}
		}
		if stdwebhook.Verify([]string{secret}, r.Header, body, now()) != nil {
			return &answer{status: 401, body: "bad signature"}
		}
		var ev map[string]any
		if json.Unmarshal(body, &ev) != nil {
			return &answer{status: 400}
		}
		for _, k := range []string{"id", "source", "specversion", "type"} {
			if s, _ := ev[k].(string); s == "" {
				return &answer{status: 400, body: "missing " + k}
			}
		}
		if ev["specversion"] != "1.0" {
			return &answer{status: 400}
		}
		return nil
	}, answers...)
	return f, f.srv.URL + "/hooks/blackwell?access_token=QUERYSECRET"
}

// testDrift is a confirmed drift.
func testDrift(id string, sev drift.Severity) drift.Drift {
	at := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	return drift.Drift{
		ID: id, ClientID: "acme-corp", StackID: "cms-ecom-prod", Code: drift.WebhookBroken,
		Type: drift.TypeIntegration, Component: "shopify.products/update",
		Expected: map[string]any{"topic": "products/update", "address": "https://blackwell.example/v1/webhooks/shopify/acme-corp"},
		Observed: nil, Severity: sev, DetectedAt: at, FirstSeen: at, LastSeen: at, Observations: 2, Confirmed: true,
	}
}

// testMessage is a detected message for drift id.
func testMessage(id string, sev drift.Severity) notify.Message {
	d := testDrift(id, sev)
	return notify.Message{
		ClientID: d.ClientID, StackID: d.StackID, DriftType: d.Type, Expected: d.Expected, Observed: d.Observed,
		Severity: sev, Timestamp: d.DetectedAt, AutoHealAttempted: true, ReconciliationID: "rec-42",
		DriftID: id, Code: d.Code, Component: d.Component, Kind: notify.KindDetected, Sequence: 1,
		IdempotencyKey: notify.IdempotencyKey(id, notify.KindDetected, 1),
		DashboardURL:   notify.DashboardLink("https://blackwell.example", d.ClientID, d.StackID, id),
		Action:         "Recreated the webhook subscription.",
	}
}

// logBuffer is a logger writing JSON lines to a buffer, for asserting that
// secrets stay out of logs.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newLogBuffer() (*logBuffer, *slog.Logger) {
	l := &logBuffer{}
	return l, slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func requireNoSecret(t *testing.T, s string, secrets ...string) {
	t.Helper()
	for _, sec := range secrets {
		require.NotContains(t, s, sec)
	}
}
