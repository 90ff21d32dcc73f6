package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/state"
	"github.com/blackwellio/blackwell/internal/store"
	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// testEnv resolves the secret references of testdata/blackwell.yaml.
func testEnv(name string) (string, bool) {
	switch name {
	case "SANITY_TOKEN", "SANITY_WEBHOOK_SECRET":
		return "secret-" + strings.ToLower(name), true
	case "NETLIFY_BUILD_HOOK":
		return "https://api.netlify.com/build_hooks/abc", true
	}
	return "", false
}

// fakeReconciler is a Reconciler of function fields; nil fields record
// triggers, answer a successful result and report nothing in flight.
type fakeReconciler struct {
	mu       sync.Mutex
	triggers []string

	wait     func(ctx context.Context, clientID, stackID, trigger string) (store.ReconciliationResult, error)
	inFlight func(clientID, stackID string) bool
}

func (f *fakeReconciler) Trigger(clientID, stackID, trigger string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.triggers = append(f.triggers, clientID+"/"+stackID+" "+trigger)
}

func (f *fakeReconciler) ReconcileWait(ctx context.Context, clientID, stackID, trigger string) (store.ReconciliationResult, error) {
	if f.wait != nil {
		return f.wait(ctx, clientID, stackID, trigger)
	}
	t := time.Date(2025, 10, 10, 4, 0, 0, 0, time.UTC)
	return store.ReconciliationResult{
		ReconciliationID: "recon-" + stackID, ClientID: clientID, StackID: stackID, Trigger: trigger,
		StartedAt: t, CompletedAt: t.Add(time.Second), Status: store.ResultSuccess, StateVersion: "v1.0.0",
	}, nil
}

func (f *fakeReconciler) InFlight(clientID, stackID string) bool {
	if f.inFlight != nil {
		return f.inFlight(clientID, stackID)
	}
	return false
}

func (f *fakeReconciler) triggered() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.triggers...)
}

// fixture is a server over a fresh SQLite store and its collaborators.
type fixture struct {
	// bootstrap is the server's bootstrap token, which do sends unless
	// the request names its own Authorization (empty: send none).
	bootstrap string
	srv       *Server
	store     store.Store
	state     *state.Service
	rec       *fakeReconciler
	logs      *bytes.Buffer
	now       time.Time
}

// setup returns a server over an empty store; opts may change the options
// before the server is built.
func setup(t *testing.T, opts ...func(*Options)) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "blackwell.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	f := &fixture{store: st, rec: &fakeReconciler{}, logs: &bytes.Buffer{}, now: time.Date(2025, 10, 10, 4, 0, 0, 0, time.UTC)}
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: f.logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.state = state.New(st, state.Options{Logger: logger, Now: func() time.Time { return f.now }})
	f.bootstrap = testBootstrap
	o := Options{
		Store: st, State: f.state, Reconciler: f.rec, Logger: logger, Version: "test",
		Now: func() time.Time { return f.now }, Getenv: testEnv, BootstrapToken: testBootstrap,
	}
	for _, fn := range opts {
		fn(&o)
	}
	f.srv = New(o)
	return f
}

// lockedWriter serialises writes to a buffer shared by handlers.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// seed applies testdata/blackwell.yaml: acme-corp/{cms-ecom-prod,
// status-page}, globex/site, and a client policy for acme-corp.
func (f *fixture) seed(t *testing.T) {
	t.Helper()
	data, err := os.ReadFile("testdata/blackwell.yaml")
	require.NoError(t, err)
	cfg, err := config.Parse("blackwell.yaml", data, testEnv)
	require.NoError(t, err)
	_, err = f.state.Apply(context.Background(), cfg, "test")
	require.NoError(t, err)
}

// seedDrift commits a pass of a stack that leaves the drifts open.
func (f *fixture) seedDrift(t *testing.T, clientID, stackID string, drifts ...drift.Drift) {
	t.Helper()
	ctx := context.Background()
	rec, err := f.store.GetState(ctx, clientID, stackID)
	require.NoError(t, err)
	for i := range drifts {
		d := &drifts[i]
		d.ClientID, d.StackID = clientID, stackID
		cl, ok := drift.Classify(d.Code)
		require.True(t, ok, d.Code)
		d.Type = cl.Type
		if d.Severity == "" {
			d.Severity = cl.Severity
		}
		d.ID = drift.ID(clientID, stackID, d.Type, d.Component)
		d.DetectedAt, d.FirstSeen, d.LastSeen = f.now, f.now, f.now
		d.Observations = 1
	}
	now := f.now
	rec.Status = store.StatusDriftDetected
	rec.LastVerified = &now
	rec.DriftDetails = nil
	for _, d := range drifts {
		if d.Confirmed {
			rec.DriftDetails = append(rec.DriftDetails, d)
		}
	}
	_, err = f.store.CommitPass(ctx, store.Pass{
		State:  rec,
		Drifts: drifts,
		Result: store.ReconciliationResult{
			ReconciliationID: fmt.Sprintf("recon-%s-%d", stackID, len(drifts)), ClientID: clientID, StackID: stackID,
			Trigger: "schedule", StartedAt: now, CompletedAt: now.Add(time.Second), Status: store.ResultSuccess,
			DriftDetected: len(drifts) > 0, DriftCount: len(drifts), StateVersion: rec.StateVersion,
		},
	})
	require.NoError(t, err)
}

// testBootstrap is the bootstrap token of test servers.
const testBootstrap = "bwb_test-bootstrap-token"

// do sends a request to the server as a local client does (Host
// 127.0.0.1:8080) with the bootstrap token; header is pairs of name and
// value.
func (f *fixture) do(t *testing.T, method, target, body string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	req.Host = "127.0.0.1:8080"
	req.RemoteAddr = "127.0.0.1:50000"
	if f.bootstrap != "" {
		req.Header.Set("Authorization", "Bearer "+f.bootstrap)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	f.srv.ServeHTTP(w, req)
	return w
}

// decodeAs decodes a JSON answer and checks its status.
func decodeAs[T any](t *testing.T, w *httptest.ResponseRecorder, status int) T {
	t.Helper()
	require.Equal(t, status, w.Code, "body: %s", w.Body.String())
	require.Equal(t, "application/json", w.Header().Get("Content-Type"))
	var v T
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &v), w.Body.String())
	return v
}

type errorAnswer struct {
	Error struct {
		Code    string    `json:"code"`
		Message string    `json:"message"`
		Details []problem `json:"details"`
	} `json:"error"`
}

// requireError checks a JSON error answer and returns it.
func requireError(t *testing.T, w *httptest.ResponseRecorder, status int, code string) errorAnswer {
	t.Helper()
	e := decodeAs[errorAnswer](t, w, status)
	require.Equal(t, code, e.Error.Code, w.Body.String())
	require.NotEmpty(t, e.Error.Message)
	// Exactly the documented shape: one key "error" at the top.
	var raw map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &raw))
	require.Len(t, raw, 1)
	return e
}

var timestampRE = regexp.MustCompile(`"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)"`)

// golden compares a JSON answer, indented and with timestamps replaced,
// with testdata/NAME.golden (rewritten with -update).
func golden(t *testing.T, name string, body []byte) {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, json.Indent(&buf, body, "", "  "))
	got := timestampRE.ReplaceAll(buf.Bytes(), []byte(`"<time>"`))
	path := filepath.Join("testdata", name+".golden")
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create it")
	require.Equal(t, string(want), string(got))
}

func TestHealthEndpoints(t *testing.T) {
	t.Parallel()
	ready := errors.New("store unreachable")
	f := setup(t, func(o *Options) {
		o.Ready = func(context.Context) error { return ready }
		o.Metrics = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, "blackwell_up 1\n")
		})
	})
	h := decodeAs[map[string]string](t, f.do(t, "GET", "/healthz", ""), http.StatusOK)
	require.Equal(t, "ok", h["status"])

	e := requireError(t, f.do(t, "GET", "/readyz", ""), http.StatusServiceUnavailable, codeNotReady)
	require.NotContains(t, e.Error.Message, "store unreachable", "the cause is logged, not answered")
	require.Contains(t, f.logs.String(), "store unreachable")

	w := f.do(t, "GET", "/metrics", "")
	require.Equal(t, http.StatusOK, w.Code)
	require.Equal(t, "blackwell_up 1\n", w.Body.String())

	doc := decodeAs[map[string]any](t, f.do(t, "GET", "/v1/openapi.json", ""), http.StatusOK)
	require.Equal(t, "3.1.0", doc["openapi"])

	g := setup(t) // no Ready, no Metrics
	decodeAs[map[string]string](t, g.do(t, "GET", "/readyz", ""), http.StatusOK)
	requireError(t, g.do(t, "GET", "/metrics", ""), http.StatusNotFound, codeNotFound)
}

func TestUnknownRoutesAnswerJSON(t *testing.T) {
	t.Parallel()
	f := setup(t)
	requireError(t, f.do(t, "GET", "/v1/nope", ""), http.StatusNotFound, codeNotFound)
	requireError(t, f.do(t, "GET", "/nope", ""), http.StatusNotFound, codeNotFound)
	requireError(t, f.do(t, "GET", "/ui/nope.js", ""), http.StatusNotFound, codeNotFound)
	requireError(t, f.do(t, "GET", "/ui/a/b.js", ""), http.StatusNotFound, codeNotFound)

	w := f.do(t, "DELETE", "/v1/stacks", "")
	requireError(t, w, http.StatusMethodNotAllowed, codeMethodNotAllowed)
	require.Contains(t, w.Header().Get("Allow"), "GET")

	w = f.do(t, "POST", "/v1/clients/acme-corp/drift", "")
	requireError(t, w, http.StatusMethodNotAllowed, codeMethodNotAllowed)
	require.NotEmpty(t, w.Header().Get(requestIDHeader))
}

func TestListStacksPaginates(t *testing.T) {
	t.Parallel()
	f := setup(t)
	w := f.do(t, "GET", "/v1/stacks", "")
	require.Equal(t, http.StatusOK, w.Code)
	require.JSONEq(t, `{"items":[],"next_cursor":""}`, w.Body.String())

	f.seed(t)
	page := decodeAs[list[store.StateRecord]](t, f.do(t, "GET", "/v1/stacks?limit=2", ""), http.StatusOK)
	require.Len(t, page.Items, 2)
	require.NotEmpty(t, page.NextCursor)
	require.Equal(t, "acme-corp/cms-ecom-prod", page.Items[0].Key())
	require.Equal(t, "acme-corp/status-page", page.Items[1].Key())

	next := decodeAs[list[store.StateRecord]](t, f.do(t, "GET", "/v1/stacks?limit=2&cursor="+page.NextCursor, ""), http.StatusOK)
	require.Len(t, next.Items, 1)
	require.Equal(t, "globex/site", next.Items[0].Key())
	require.Empty(t, next.NextCursor)

	only := decodeAs[list[store.StateRecord]](t, f.do(t, "GET", "/v1/stacks?client_id=globex", ""), http.StatusOK)
	require.Len(t, only.Items, 1)

	for _, q := range []string{"limit=0", "limit=1001", "limit=x", "cursor=not-a-cursor"} {
		requireError(t, f.do(t, "GET", "/v1/stacks?"+q, ""), http.StatusBadRequest, codeBadRequest)
	}
}

func TestGetStack(t *testing.T) {
	t.Parallel()
	var inFlight sync.Map
	f := setup(t)
	f.rec.inFlight = func(c, s string) bool { _, ok := inFlight.Load(c + "/" + s); return ok }
	f.seed(t)

	w := f.do(t, "GET", "/v1/stacks/acme-corp/cms-ecom-prod", "")
	rec := decodeAs[store.StateRecord](t, w, http.StatusOK)
	require.Equal(t, "v1.0.0", rec.StateVersion)
	require.True(t, rec.ReconciliationPolicy.AutoHeal, "the client policy governs the stack")
	require.NotContains(t, w.Body.String(), "secret-sanity", "secret values never reach answers")
	golden(t, "stack", w.Body.Bytes())

	inFlight.Store("acme-corp/cms-ecom-prod", true)
	rec = decodeAs[store.StateRecord](t, f.do(t, "GET", "/v1/stacks/acme-corp/cms-ecom-prod", ""), http.StatusOK)
	require.Equal(t, store.StatusReconciling, rec.Status)

	e := requireError(t, f.do(t, "GET", "/v1/stacks/acme-corp/nope", ""), http.StatusNotFound, codeNotFound)
	require.Equal(t, "stack acme-corp/nope not found", e.Error.Message)
}

func TestPatchStack(t *testing.T) {
	t.Parallel()
	f := setup(t, func(o *Options) { o.MaxBodyBytes = 4096 })
	f.seed(t)
	spec := `{"spec": {"resources": {"page": {"probe": "http", "url": "https://status.acme.example/v2", "timeout": "2s"}}}, "environment": "staging"}`
	rec := decodeAs[store.StateRecord](t, f.do(t, "PATCH", "/v1/stacks/acme-corp/status-page", spec), http.StatusOK)
	require.Equal(t, "v1.1.0", rec.StateVersion)
	require.Equal(t, "staging", rec.Environment)
	require.Equal(t, []string{"v1.0.0"}, rec.PreviousVersions)
	require.Contains(t, string(rec.Desired), "https://status.acme.example/v2")
	require.True(t, rec.ReconciliationPolicy.AutoHeal, "the stored client policy is kept")

	// The same spec again changes nothing.
	rec = decodeAs[store.StateRecord](t, f.do(t, "PATCH", "/v1/stacks/acme-corp/status-page", spec), http.StatusOK)
	require.Equal(t, "v1.1.0", rec.StateVersion)

	requireError(t, f.do(t, "PATCH", "/v1/stacks/acme-corp/nope", spec), http.StatusNotFound, codeNotFound)
	requireError(t, f.do(t, "PATCH", "/v1/stacks/acme-corp/status-page", `{"spec": {`), http.StatusBadRequest, codeBadRequest)
	requireError(t, f.do(t, "PATCH", "/v1/stacks/acme-corp/status-page", `{"spec": {}, "colour": "red"}`), http.StatusBadRequest, codeBadRequest)
	requireError(t, f.do(t, "PATCH", "/v1/stacks/acme-corp/status-page", spec, "Content-Type", "text/plain"), http.StatusUnsupportedMediaType, codeUnsupportedMedia)
	requireError(t, f.do(t, "PATCH", "/v1/stacks/acme-corp/status-page", `{}`), http.StatusUnprocessableEntity, codeInvalid)
	requireError(t, f.do(t, "PATCH", "/v1/stacks/acme-corp/status-page", `{"spec": {"x": "`+strings.Repeat("a", 5000)+`"}}`), http.StatusRequestEntityTooLarge, codeTooLarge)

	e := requireError(t, f.do(t, "PATCH", "/v1/stacks/acme-corp/status-page",
		`{"spec": {"resources": {"page": {"probe": "carrier-pigeon"}}, "content_typez": []}}`), http.StatusUnprocessableEntity, codeInvalidConfig)
	require.Len(t, e.Error.Details, 2, "%+v", e.Error.Details)
	for _, d := range e.Error.Details {
		require.Equal(t, "request", d.File)
		require.Positive(t, d.Line)
		require.Positive(t, d.Column)
	}
	rec = decodeAs[store.StateRecord](t, f.do(t, "GET", "/v1/stacks/acme-corp/status-page", ""), http.StatusOK)
	require.Equal(t, "v1.1.0", rec.StateVersion, "an invalid spec applies nothing")
}

func TestVersionsAndRollback(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.seed(t)
	spec := `{"spec": {"resources": {"page": {"probe": "http", "url": "https://status.acme.example/v2"}}}}`
	decodeAs[store.StateRecord](t, f.do(t, "PATCH", "/v1/stacks/acme-corp/status-page", spec), http.StatusOK)

	versions := decodeAs[list[store.DesiredVersion]](t, f.do(t, "GET", "/v1/stacks/acme-corp/status-page/versions", ""), http.StatusOK)
	require.Len(t, versions.Items, 2)
	require.Equal(t, "v1.1.0", versions.Items[0].Version)
	require.Equal(t, "bootstrap", versions.Items[0].CreatedBy)
	require.Empty(t, versions.NextCursor)

	first := decodeAs[list[store.DesiredVersion]](t, f.do(t, "GET", "/v1/stacks/acme-corp/status-page/versions?limit=1", ""), http.StatusOK)
	require.Len(t, first.Items, 1)
	second := decodeAs[list[store.DesiredVersion]](t, f.do(t, "GET", "/v1/stacks/acme-corp/status-page/versions?limit=1&cursor="+first.NextCursor, ""), http.StatusOK)
	require.Equal(t, "v1.0.0", second.Items[0].Version)
	require.Empty(t, second.NextCursor)
	requireError(t, f.do(t, "GET", "/v1/stacks/acme-corp/status-page/versions?cursor=zz", ""), http.StatusBadRequest, codeBadRequest)
	requireError(t, f.do(t, "GET", "/v1/stacks/acme-corp/nope/versions", ""), http.StatusNotFound, codeNotFound)

	res := decodeAs[rollbackAnswer](t, f.do(t, "POST", "/v1/stacks/acme-corp/status-page/rollback", `{"version":"v1.0.0"}`), http.StatusOK)
	require.True(t, res.Changed)
	require.Equal(t, "v1.2.0", res.Version)
	require.Equal(t, "v1.0.0", res.RestoredVersion)
	rec := decodeAs[store.StateRecord](t, f.do(t, "GET", "/v1/stacks/acme-corp/status-page", ""), http.StatusOK)
	require.Equal(t, versions.Items[1].Hash, rec.DesiredHash)

	e := requireError(t, f.do(t, "POST", "/v1/stacks/acme-corp/status-page/rollback", `{"version":"1.0"}`), http.StatusUnprocessableEntity, codeInvalid)
	require.Contains(t, e.Error.Message, `"1.0" is not a version like v1.2.0`)
	requireError(t, f.do(t, "POST", "/v1/stacks/acme-corp/status-page/rollback", ``), http.StatusUnprocessableEntity, codeInvalid)
	e = requireError(t, f.do(t, "POST", "/v1/stacks/acme-corp/status-page/rollback", `{"version":"v9.0.0"}`), http.StatusNotFound, codeNotFound)
	require.Equal(t, "version v9.0.0 of stack acme-corp/status-page not found", e.Error.Message)
	requireError(t, f.do(t, "POST", "/v1/stacks/acme-corp/nope/rollback", `{"version":"v1.0.0"}`), http.StatusNotFound, codeNotFound)
	requireError(t, f.do(t, "POST", "/v1/stacks/acme-corp/status-page/rollback", `{"version":1}`), http.StatusBadRequest, codeBadRequest)

	audit := decodeAs[list[store.AuditEntry]](t, f.do(t, "GET", "/v1/audit?action=rollback", ""), http.StatusOK)
	require.Len(t, audit.Items, 1)
	require.Equal(t, "bootstrap", audit.Items[0].TriggeredBy)
}

func TestApplyConfig(t *testing.T) {
	t.Parallel()
	f := setup(t, func(o *Options) { o.MaxBodyBytes = 8192 })
	data, err := os.ReadFile("testdata/blackwell.yaml")
	require.NoError(t, err)

	w := f.do(t, "POST", "/v1/config", string(data), "Content-Type", "application/yaml", filenameHeader, "blackwell.yaml")
	res := decodeAs[list[store.ApplyResult]](t, w, http.StatusOK)
	require.Len(t, res.Items, 3)
	for _, r := range res.Items {
		require.True(t, r.Created)
		require.Equal(t, "v1.0.0", r.Version)
	}
	golden(t, "apply", w.Body.Bytes())

	// Applying the same file again changes nothing.
	res = decodeAs[list[store.ApplyResult]](t, f.do(t, "POST", "/v1/config", string(data), "Content-Type", "text/yaml; charset=utf-8"), http.StatusOK)
	for _, r := range res.Items {
		require.False(t, r.Changed)
	}

	requireError(t, f.do(t, "POST", "/v1/config", string(data), "Content-Type", "text/plain"), http.StatusUnsupportedMediaType, codeUnsupportedMedia)
	// JSON is YAML: a config sent as JSON is taken.
	w = f.do(t, "POST", "/v1/config", `{"apiVersion": "blackwell.io/v1", "kind": "Stack", "metadata": {"client_id": "json", "stack_id": "s"}, "spec": {"resources": {"site": {"probe": "http", "url": "https://json.example"}}}}`)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	big := string(data) + "\n# " + strings.Repeat("x", 8192) + "\n"
	requireError(t, f.do(t, "POST", "/v1/config", big, "Content-Type", "application/yaml"), http.StatusRequestEntityTooLarge, codeTooLarge)
}

func TestApplyInvalidConfigAppliesNothing(t *testing.T) {
	t.Parallel()
	f := setup(t)
	data, err := os.ReadFile("testdata/blackwell.yaml")
	require.NoError(t, err)
	// A good document, then a broken one: neither is applied.
	bad := string(data) + `---
apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: initech, stack_id: site}
spec:
  resources:
    site: {probe: telepathy}
`
	w := f.do(t, "POST", "/v1/config", bad, "Content-Type", "application/x-yaml", filenameHeader, "configs/blackwell.yaml")
	e := requireError(t, w, http.StatusUnprocessableEntity, codeInvalidConfig)
	require.Equal(t, "1 problem", e.Error.Message)
	require.Len(t, e.Error.Details, 1)
	d := e.Error.Details[0]
	require.Equal(t, "configs/blackwell.yaml", d.File)
	require.Equal(t, strings.Count(bad[:strings.Index(bad, "telepathy")], "\n")+1, d.Line)
	require.Positive(t, d.Column)
	require.Contains(t, d.Message, "telepathy")
	golden(t, "invalid_config", w.Body.Bytes())

	w = f.do(t, "POST", "/v1/config", "kind: [", "Content-Type", "application/yaml")
	requireError(t, w, http.StatusUnprocessableEntity, codeInvalidConfig)
	// text/plain is what a browser posts from any page: refused unread.
	w = f.do(t, "POST", "/v1/config", "kind: [", "Content-Type", "text/plain")
	requireError(t, w, http.StatusUnsupportedMediaType, codeUnsupportedMedia)

	stacks := decodeAs[list[store.StateRecord]](t, f.do(t, "GET", "/v1/stacks", ""), http.StatusOK)
	require.Empty(t, stacks.Items)
	audit := decodeAs[list[store.AuditEntry]](t, f.do(t, "GET", "/v1/audit", ""), http.StatusOK)
	for _, e := range audit.Items {
		// Only the record of the refused write (text/plain).
		require.Equal(t, "write_refused", e.Action)
		require.False(t, e.Success)
	}
	_, err = f.store.GetPolicy(context.Background(), "acme-corp", "")
	require.ErrorIs(t, err, store.ErrNotFound)
}

func TestReconcile(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.seed(t)

	acc := decodeAs[accepted](t, f.do(t, "POST", "/v1/clients/acme-corp/reconcile", ""), http.StatusAccepted)
	require.Equal(t, []string{"acme-corp/cms-ecom-prod", "acme-corp/status-page"}, acc.Accepted)
	acc = decodeAs[accepted](t, f.do(t, "POST", "/v1/stacks/globex/site/reconcile", ""), http.StatusAccepted)
	require.Equal(t, []string{"globex/site"}, acc.Accepted)
	require.Equal(t, []string{"acme-corp/cms-ecom-prod manual", "acme-corp/status-page manual", "globex/site manual"}, f.rec.triggered())

	res := decodeAs[store.ReconciliationResult](t, f.do(t, "POST", "/v1/stacks/globex/site/reconcile?wait=30s", ""), http.StatusOK)
	require.Equal(t, "recon-site", res.ReconciliationID)
	results := decodeAs[list[store.ReconciliationResult]](t, f.do(t, "POST", "/v1/clients/acme-corp/reconcile?wait=1m", ""), http.StatusOK)
	require.Len(t, results.Items, 2)
	require.Equal(t, "cms-ecom-prod", results.Items[0].StackID)
	require.Equal(t, "status-page", results.Items[1].StackID)

	for _, q := range []string{"wait=soon", "wait=6m", "wait=-1s"} {
		requireError(t, f.do(t, "POST", "/v1/clients/acme-corp/reconcile?"+q, ""), http.StatusBadRequest, codeBadRequest)
	}
	requireError(t, f.do(t, "POST", "/v1/clients/nobody/reconcile", ""), http.StatusNotFound, codeNotFound)
	requireError(t, f.do(t, "POST", "/v1/clients/nobody/reconcile?wait=1s", ""), http.StatusNotFound, codeNotFound)
	requireError(t, f.do(t, "POST", "/v1/stacks/acme-corp/nope/reconcile", ""), http.StatusNotFound, codeNotFound)
}

func TestReconcileWaitTimesOut(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.rec.wait = func(ctx context.Context, _, _, _ string) (store.ReconciliationResult, error) {
		<-ctx.Done()
		return store.ReconciliationResult{}, ctx.Err()
	}
	f.seed(t)
	requireError(t, f.do(t, "POST", "/v1/stacks/globex/site/reconcile?wait=10ms", ""), http.StatusGatewayTimeout, codeTimeout)
	requireError(t, f.do(t, "POST", "/v1/clients/acme-corp/reconcile?wait=10ms", ""), http.StatusGatewayTimeout, codeTimeout)
}

func TestReconcileWithoutLoop(t *testing.T) {
	t.Parallel()
	f := setup(t, func(o *Options) { o.Reconciler = nil })
	f.seed(t)
	requireError(t, f.do(t, "POST", "/v1/stacks/globex/site/reconcile", ""), http.StatusServiceUnavailable, codeUnavailable)
	rec := decodeAs[store.StateRecord](t, f.do(t, "GET", "/v1/stacks/globex/site", ""), http.StatusOK)
	require.Equal(t, store.StatusReconciling, rec.Status, "no pass yet: a new stack is reconciling")
}

func TestReconciliationHistory(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.seed(t)
	f.seedDrift(t, "acme-corp", "cms-ecom-prod")
	f.now = f.now.Add(time.Minute)
	f.seedDrift(t, "acme-corp", "status-page", drift.Drift{Code: drift.ResourceUnhealthy, Component: "page", Expected: "healthy", Observed: "503", Confirmed: true})

	all := decodeAs[list[store.ReconciliationResult]](t, f.do(t, "GET", "/v1/clients/acme-corp/reconciliations", ""), http.StatusOK)
	require.Len(t, all.Items, 2)
	require.Equal(t, "status-page", all.Items[0].StackID, "newest first")

	page := decodeAs[list[store.ReconciliationResult]](t, f.do(t, "GET", "/v1/clients/acme-corp/reconciliations?limit=1", ""), http.StatusOK)
	require.Len(t, page.Items, 1)
	require.NotEmpty(t, page.NextCursor)
	rest := decodeAs[list[store.ReconciliationResult]](t, f.do(t, "GET", "/v1/clients/acme-corp/reconciliations?limit=1&cursor="+page.NextCursor, ""), http.StatusOK)
	require.Equal(t, "cms-ecom-prod", rest.Items[0].StackID)

	one := decodeAs[list[store.ReconciliationResult]](t, f.do(t, "GET", "/v1/clients/acme-corp/reconciliations?stack_id=cms-ecom-prod", ""), http.StatusOK)
	require.Len(t, one.Items, 1)

	requireError(t, f.do(t, "GET", "/v1/clients/nobody/reconciliations", ""), http.StatusNotFound, codeNotFound)
	requireError(t, f.do(t, "GET", "/v1/clients/acme-corp/reconciliations?limit=-1", ""), http.StatusBadRequest, codeBadRequest)
}

func TestDriftStatus(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.seed(t)

	st := decodeAs[DriftStatus](t, f.do(t, "GET", "/v1/clients/acme-corp/drift", ""), http.StatusOK)
	require.False(t, st.HasDrift)
	require.Nil(t, st.LastDetected)
	require.Empty(t, st.DriftDetails)

	f.seedDrift(t, "acme-corp", "cms-ecom-prod",
		drift.Drift{Code: drift.WebhookBroken, Component: "cms-content", Expected: map[string]any{"topics": []string{"create"}}, Observed: "missing", Confirmed: true},
		drift.Drift{Code: drift.ContentStale, Component: "page", Expected: "built", Observed: "stale"},
	)
	f.seedDrift(t, "acme-corp", "status-page",
		drift.Drift{Code: drift.ResourceMissing, Component: "page", Expected: "healthy", Observed: "missing", Confirmed: true},
	)
	w := f.do(t, "GET", "/v1/clients/acme-corp/drift", "")
	st = decodeAs[DriftStatus](t, w, http.StatusOK)
	require.True(t, st.HasDrift)
	require.Equal(t, 2, st.DriftCount)
	require.Len(t, st.DriftDetails, 2)
	require.NotNil(t, st.LastDetected)
	require.True(t, st.AutoHealEligible, "webhook_broken is allowed by the client policy")
	golden(t, "drift", w.Body.Bytes())

	st = decodeAs[DriftStatus](t, f.do(t, "GET", "/v1/clients/acme-corp/drift?all=true", ""), http.StatusOK)
	require.Equal(t, 2, st.DriftCount, "pending drift is listed, not counted")
	require.Len(t, st.DriftDetails, 3)

	// resource_missing is not in allowed_drift_types.
	f.seedDrift(t, "acme-corp", "cms-ecom-prod")
	st = decodeAs[DriftStatus](t, f.do(t, "GET", "/v1/clients/acme-corp/drift", ""), http.StatusOK)
	require.Equal(t, 1, st.DriftCount)
	require.False(t, st.AutoHealEligible)

	requireError(t, f.do(t, "GET", "/v1/clients/nobody/drift", ""), http.StatusNotFound, codeNotFound)
	requireError(t, f.do(t, "GET", "/v1/clients/acme-corp/drift?all=maybe", ""), http.StatusBadRequest, codeBadRequest)
}

func TestAckDrift(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.seed(t)
	d := drift.Drift{Code: drift.ResourceUnhealthy, Component: "site", Expected: "healthy", Observed: "500", Confirmed: true}
	f.seedDrift(t, "acme-corp", "cms-ecom-prod", d)
	id := drift.ID("acme-corp", "cms-ecom-prod", drift.TypeResource, "site")

	// A reason is required, and only one of the three: nothing is
	// acknowledged without one.
	for body, want := range map[string]string{
		``:                                    `an acknowledgement needs a reason: one of false_positive, accepted, fixed_by_hand`,
		`{"by":"jo"}`:                         `an acknowledgement needs a reason: one of false_positive, accepted, fixed_by_hand`,
		`{"by":"jo","reason":"known outage"}`: `unknown acknowledgement reason "known outage": want one of false_positive, accepted, fixed_by_hand (free text goes in the note)`,
	} {
		e := requireError(t, f.do(t, "POST", "/v1/clients/acme-corp/drift/"+id+"/ack", body), http.StatusUnprocessableEntity, codeInvalid)
		require.Equal(t, want, e.Error.Message, body)
	}
	st := decodeAs[DriftStatus](t, f.do(t, "GET", "/v1/clients/acme-corp/drift", ""), http.StatusOK)
	require.False(t, st.DriftDetails[0].Acknowledged, "a refused acknowledgement changes nothing")

	got := decodeAs[drift.Drift](t, f.do(t, "POST", "/v1/clients/acme-corp/drift/"+id+"/ack", `{"by":"jo","reason":"false_positive","note":"known outage"}`), http.StatusOK)
	require.True(t, got.Acknowledged)
	require.Equal(t, "jo", got.AcknowledgedBy)

	audit := decodeAs[list[store.AuditEntry]](t, f.do(t, "GET", "/v1/audit?client_id=acme-corp&action=drift_acknowledged", ""), http.StatusOK)
	require.Len(t, audit.Items, 1)
	require.Equal(t, id, audit.Items[0].DriftID)
	require.Equal(t, "jo", audit.Items[0].TriggeredBy)
	var changes struct {
		Reason, Note, Code string
		FirstSeen          time.Time `json:"first_seen"`
	}
	require.NoError(t, json.Unmarshal(audit.Items[0].ChangesMade, &changes))
	require.Equal(t, "false_positive", changes.Reason)
	require.Equal(t, "known outage", changes.Note)
	require.Equal(t, "resource_unhealthy", changes.Code)
	require.True(t, got.FirstSeen.Equal(changes.FirstSeen), "the entry names the occurrence acknowledged")

	// Without by, the caller is recorded.
	got = decodeAs[drift.Drift](t, f.do(t, "POST", "/v1/clients/acme-corp/drift/"+id+"/ack", `{"reason":"accepted"}`), http.StatusOK)
	require.Equal(t, "bootstrap", got.AcknowledgedBy)

	e := requireError(t, f.do(t, "POST", "/v1/clients/acme-corp/drift/0000/ack", `{"reason":"accepted"}`), http.StatusNotFound, codeNotFound)
	require.Equal(t, "no open drift 0000 for client acme-corp", e.Error.Message)
	requireError(t, f.do(t, "POST", "/v1/clients/globex/drift/"+id+"/ack", `{"reason":"accepted"}`), http.StatusNotFound, codeNotFound)
	requireError(t, f.do(t, "POST", "/v1/clients/acme-corp/drift/"+id+"/ack", `by=jo`, "Content-Type", "application/x-www-form-urlencoded"), http.StatusUnsupportedMediaType, codeUnsupportedMedia)
	requireError(t, f.do(t, "POST", "/v1/clients/acme-corp/drift/"+id+"/ack", `{"by":`), http.StatusBadRequest, codeBadRequest)
}

func TestPolicy(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.seed(t)

	p := decodeAs[policyAnswer](t, f.do(t, "GET", "/v1/clients/acme-corp/policy", ""), http.StatusOK)
	require.True(t, p.Spec.AutoHeal.Enabled)
	require.Equal(t, []string{"webhook_broken", "resource_unhealthy"}, p.Spec.AutoHeal.AllowedDriftTypes)
	p = decodeAs[policyAnswer](t, f.do(t, "GET", "/v1/clients/acme-corp/policy?stack_id=status-page", ""), http.StatusOK)
	require.Equal(t, "status-page", p.StackID)
	require.True(t, p.Spec.AutoHeal.Enabled, "the client policy governs the stack")
	p = decodeAs[policyAnswer](t, f.do(t, "GET", "/v1/clients/globex/policy", ""), http.StatusOK)
	require.Equal(t, config.DefaultPolicy().AutoHeal.Enabled, p.Spec.AutoHeal.Enabled)

	body := `{"auto_heal": {"enabled": false, "max_attempts": 1}, "schedule": {"interval": "1m"}}`
	w := f.do(t, "PUT", "/v1/clients/acme-corp/policy?stack_id=status-page", body)
	p = decodeAs[policyAnswer](t, w, http.StatusOK)
	require.False(t, p.Spec.AutoHeal.Enabled)
	require.Equal(t, time.Minute, p.Spec.Schedule.Interval.D())
	golden(t, "policy", w.Body.Bytes())

	rec := decodeAs[store.StateRecord](t, f.do(t, "GET", "/v1/stacks/acme-corp/status-page", ""), http.StatusOK)
	_ = rec
	p = decodeAs[policyAnswer](t, f.do(t, "GET", "/v1/clients/acme-corp/policy", ""), http.StatusOK)
	require.True(t, p.Spec.AutoHeal.Enabled, "the client policy is unchanged")
	audit := decodeAs[list[store.AuditEntry]](t, f.do(t, "GET", "/v1/audit?action=policy_changed", ""), http.StatusOK)
	require.Equal(t, "bootstrap", audit.Items[len(audit.Items)-1].TriggeredBy)

	// A policy may be put before the client has stacks; then it is known.
	decodeAs[policyAnswer](t, f.do(t, "PUT", "/v1/clients/initech/policy", `{"auto_heal": {"enabled": true}}`), http.StatusOK)
	decodeAs[policyAnswer](t, f.do(t, "GET", "/v1/clients/initech/policy", ""), http.StatusOK)

	e := requireError(t, f.do(t, "PUT", "/v1/clients/acme-corp/policy", `{"auto_heal": {"max_attempts": -1, "backoff_strategy": "random"}}`), http.StatusUnprocessableEntity, codeInvalidConfig)
	require.Len(t, e.Error.Details, 2)
	require.Positive(t, e.Error.Details[0].Line)
	requireError(t, f.do(t, "PUT", "/v1/clients/acme-corp/policy", `{"auto_heel": {}}`), http.StatusUnprocessableEntity, codeInvalidConfig)
	requireError(t, f.do(t, "PUT", "/v1/clients/acme-corp/policy", ``), http.StatusUnprocessableEntity, codeInvalid)
	requireError(t, f.do(t, "PUT", "/v1/clients/acme-corp/policy", body, "Content-Type", "application/yaml"), http.StatusUnsupportedMediaType, codeUnsupportedMedia)
	requireError(t, f.do(t, "PUT", "/v1/clients/Bad%20Client/policy", body), http.StatusUnprocessableEntity, codeInvalid)
	requireError(t, f.do(t, "PUT", "/v1/clients/acme-corp/policy?stack_id=-x", body), http.StatusUnprocessableEntity, codeInvalid)
	requireError(t, f.do(t, "GET", "/v1/clients/nobody/policy", ""), http.StatusNotFound, codeNotFound)
	requireError(t, f.do(t, "GET", "/v1/clients/acme-corp/policy?stack_id=nope", ""), http.StatusNotFound, codeNotFound)
}

func TestEvents(t *testing.T) {
	t.Parallel()
	f := setup(t)
	base := time.Date(2025, 10, 10, 4, 0, 0, 0, time.UTC)
	var events []store.Event
	for i := range 5 {
		provider, client := "sanity", "acme-corp"
		if i%2 == 1 {
			provider = "shopify"
		}
		if i == 4 {
			client = "globex"
		}
		events = append(events, store.Event{
			EventID: fmt.Sprintf("evt-%d", i), ClientID: client, ProviderName: provider, EventType: "content.updated",
			ContentID: fmt.Sprintf("doc-%d", i), Timestamp: base.Add(time.Duration(i) * time.Minute),
			Payload: json.RawMessage(`{"_id":"doc"}`), ReceivedAt: base.Add(time.Duration(i) * time.Minute),
			TTLTimestamp: base.Add(30 * 24 * time.Hour).Unix(),
		})
	}
	_, err := f.store.InsertEvents(context.Background(), events)
	require.NoError(t, err)

	all := decodeAs[list[store.Event]](t, f.do(t, "GET", "/v1/events", ""), http.StatusOK)
	require.Len(t, all.Items, 5)
	require.Equal(t, "evt-4", all.Items[0].EventID, "newest first")

	acme := decodeAs[list[store.Event]](t, f.do(t, "GET", "/v1/events?client_id=acme-corp&provider=shopify", ""), http.StatusOK)
	require.Len(t, acme.Items, 2)

	window := decodeAs[list[store.Event]](t, f.do(t, "GET", "/v1/events?since=2025-10-10T04:01:00Z&until=2025-10-10T04:03:00Z", ""), http.StatusOK)
	require.Len(t, window.Items, 2)
	none := decodeAs[list[store.Event]](t, f.do(t, "GET", "/v1/events?type=content.deleted", ""), http.StatusOK)
	require.Empty(t, none.Items)

	page := decodeAs[list[store.Event]](t, f.do(t, "GET", "/v1/events?limit=3", ""), http.StatusOK)
	require.Len(t, page.Items, 3)
	rest := decodeAs[list[store.Event]](t, f.do(t, "GET", "/v1/events?limit=3&cursor="+page.NextCursor, ""), http.StatusOK)
	require.Len(t, rest.Items, 2)
	require.Empty(t, rest.NextCursor)

	requireError(t, f.do(t, "GET", "/v1/events?since=yesterday", ""), http.StatusBadRequest, codeBadRequest)
	requireError(t, f.do(t, "GET", "/v1/events?since=2025-10-10T05:00:00Z&until=2025-10-10T04:00:00Z", ""), http.StatusBadRequest, codeBadRequest)
	requireError(t, f.do(t, "GET", "/v1/events?cursor=%25%25", ""), http.StatusBadRequest, codeBadRequest)
}

func TestAudit(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.seed(t)
	all := decodeAs[list[store.AuditEntry]](t, f.do(t, "GET", "/v1/audit", ""), http.StatusOK)
	require.Len(t, all.Items, 4, "three stacks and a policy")
	require.Equal(t, all.Items[0].Hash, all.Items[1].PrevHash, "the chain is linked")

	page := decodeAs[list[store.AuditEntry]](t, f.do(t, "GET", "/v1/audit?limit=3", ""), http.StatusOK)
	require.Len(t, page.Items, 3)
	rest := decodeAs[list[store.AuditEntry]](t, f.do(t, "GET", "/v1/audit?limit=3&cursor="+page.NextCursor, ""), http.StatusOK)
	require.Len(t, rest.Items, 1)

	globex := decodeAs[list[store.AuditEntry]](t, f.do(t, "GET", "/v1/audit?client_id=globex", ""), http.StatusOK)
	require.Len(t, globex.Items, 1)
	pol := decodeAs[list[store.AuditEntry]](t, f.do(t, "GET", "/v1/audit?action=policy_changed", ""), http.StatusOK)
	require.Len(t, pol.Items, 1)
	requireError(t, f.do(t, "GET", "/v1/audit?limit=many", ""), http.StatusBadRequest, codeBadRequest)
}

// failingStore fails chosen methods.
type failingStore struct {
	store.Store
	listStates   error
	applyDesired error
}

func (s failingStore) ListStates(ctx context.Context, clientID, cursor string, limit int) ([]store.StateRecord, store.Page, error) {
	if s.listStates != nil {
		return nil, "", s.listStates
	}
	return s.Store.ListStates(ctx, clientID, cursor, limit)
}

func (s failingStore) ApplyDesired(ctx context.Context, in []store.DesiredInput) ([]store.ApplyResult, error) {
	if s.applyDesired != nil {
		return nil, s.applyDesired
	}
	return s.Store.ApplyDesired(ctx, in)
}

func TestInternalErrorsAreLoggedNotLeaked(t *testing.T) {
	t.Parallel()
	f := setup(t, func(o *Options) {
		o.Store = failingStore{Store: o.Store, listStates: errors.New("disk I/O error at /var/lib/secret.db")}
	})
	w := f.do(t, "GET", "/v1/stacks?client_id=acme-corp&token=hunter2", "", requestIDHeader, "req-42")
	e := requireError(t, w, http.StatusInternalServerError, codeInternal)
	require.Equal(t, "internal error (request id req-42)", e.Error.Message)
	require.NotContains(t, w.Body.String(), "secret.db")
	require.Equal(t, "req-42", w.Header().Get(requestIDHeader))

	logs := f.logs.String()
	require.Contains(t, logs, "secret.db", "the cause is logged")
	require.Contains(t, logs, "request_id=req-42")
	require.Contains(t, logs, "status=500")
	require.Contains(t, logs, "path=/v1/stacks")
	require.NotContains(t, logs, "hunter2", "query strings are not logged")
}

func TestConflictAnswers409(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.seed(t)
	g := setup(t, func(o *Options) {
		fs := failingStore{Store: f.store, applyDesired: fmt.Errorf("apply: %w", store.ErrConflict)}
		o.Store = fs
		o.State = state.New(fs, state.Options{})
	})
	spec := `{"spec": {"resources": {"page": {"probe": "http", "url": "https://status.acme.example/v3"}}}}`
	requireError(t, g.do(t, "PATCH", "/v1/stacks/acme-corp/status-page", spec), http.StatusConflict, codeConflict)
}

func TestPanicsAnswer500(t *testing.T) {
	t.Parallel()
	f := setup(t, func(o *Options) {
		o.Ready = func(context.Context) error { panic("boom") }
	})
	requireError(t, f.do(t, "GET", "/readyz", ""), http.StatusInternalServerError, codeInternal)
	require.Contains(t, f.logs.String(), "boom")
}

// TestOpenAPIMatchesRoutes: every documented route is served and every
// served route is documented.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	f := setup(t)
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(openAPIDocument, &doc))
	require.Equal(t, "3.1.0", doc.OpenAPI)

	documented := map[string]bool{}
	for path, item := range doc.Paths {
		for method := range item {
			switch method {
			case "get", "put", "post", "patch", "delete", "head", "options":
				documented[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	// The mux pattern "/{$}" (the root only) is the OpenAPI path "/".
	openAPIPath := func(pattern string) string { return strings.TrimSuffix(pattern, "{$}") }
	served := map[string]bool{}
	for _, rt := range f.srv.routes() {
		served[rt.method+" "+openAPIPath(rt.path)] = true
	}
	require.Equal(t, served, documented)

	// Every reference resolves.
	var all map[string]any
	require.NoError(t, json.Unmarshal(openAPIDocument, &all))
	for _, ref := range regexp.MustCompile(`"\$ref":\s*"#/([^"]+)"`).FindAllStringSubmatch(string(openAPIDocument), -1) {
		var node any = all
		for _, part := range strings.Split(ref[1], "/") {
			m, ok := node.(map[string]any)
			require.True(t, ok, "ref %s", ref[1])
			node, ok = m[part]
			require.True(t, ok, "ref %s does not resolve", ref[1])
		}
	}

	// Each documented GET route reaches a handler, not the mux's not-found.
	for route := range documented {
		method, path, _ := strings.Cut(route, " ")
		if method != http.MethodGet {
			continue
		}
		target := strings.NewReplacer("{client_id}", "acme-corp", "{stack_id}", "site", "{drift_id}", "d1").Replace(path)
		req := httptest.NewRequest(method, target, nil)
		_, pattern := f.srv.mux.Handler(req)
		require.Equal(t, method+" "+path, openAPIPath(pattern), "route %s", route)
		w := f.do(t, method, target, "")
		if w.Code == http.StatusNotFound {
			e := requireError(t, w, http.StatusNotFound, codeNotFound)
			require.NotContains(t, e.Error.Message, "no route", "route %s", route)
		}
	}
}

func TestRequestIDs(t *testing.T) {
	t.Parallel()
	f := setup(t)
	w := f.do(t, "GET", "/healthz", "")
	require.Len(t, w.Header().Get(requestIDHeader), 16)
	w = f.do(t, "GET", "/healthz", "", requestIDHeader, "bad id\x01")
	require.NotEqual(t, "bad id\x01", w.Header().Get(requestIDHeader))
}

// TestOpenAPIDocumentsRefusals: every route that needs a token documents
// 401 and 403, every write 415 (its content type is checked), every
// receiver the 403 of a foreign Host or Origin; the routes that parse a
// configuration document the 503 of a busy parser, and the scoped writes
// the 422 target_not_allowed.
func TestOpenAPIDocumentsRefusals(t *testing.T) {
	t.Parallel()
	f := setup(t)
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Responses map[string]struct {
				Description string `json:"description"`
			} `json:"responses"`
		} `json:"components"`
	}
	require.NoError(t, json.Unmarshal(openAPIDocument, &doc))
	type response struct {
		Ref         string `json:"$ref"`
		Description string `json:"description"`
	}
	// describe returns a response's description, following its $ref.
	describe := func(r response) string {
		if name, ok := strings.CutPrefix(r.Ref, "#/components/responses/"); ok {
			return doc.Components.Responses[name].Description
		}
		return r.Description
	}
	table := routeAccess()
	for _, rt := range f.srv.routes() {
		pattern := rt.method + " " + rt.path
		var op struct {
			Responses map[string]response `json:"responses"`
		}
		require.NoError(t, json.Unmarshal(doc.Paths[strings.TrimSuffix(rt.path, "{$}")][strings.ToLower(rt.method)], &op), pattern)
		has := func(code, words string) {
			t.Helper()
			r, ok := op.Responses[code]
			require.True(t, ok, "%s documents no %s", pattern, code)
			require.Contains(t, describe(r), words, "%s %s", pattern, code)
		}
		switch {
		case strings.HasPrefix(rt.path, "/v1/webhooks/"):
			has("403", "Host or Origin")
		case table[pattern].role != "":
			has("401", "code unauthorized")
			has("403", "code forbidden")
			if isWrite(pattern) {
				has("403", "Host or Origin")
				has("415", "unsupported_media_type")
			}
		case rt.path == "/metrics":
			has("401", "--metrics-auth")
			has("403", "scoped to one client")
		}
		switch pattern {
		case "PATCH /v1/stacks/{client_id}/{stack_id}", "PUT /v1/clients/{client_id}/policy":
			has("422", "target_not_allowed")
			fallthrough
		case "POST /v1/config":
			has("503", "being parsed at once")
		}
	}
}
