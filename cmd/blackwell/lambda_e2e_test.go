package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/store/sqlite"
)

// fakeRuntime is the Lambda runtime API (2018-06-01) as far as one
// invocation goes: /runtime/invocation/next hands out event once (later
// calls wait until the test ends), and the function's answer arrives on
// answers.
type fakeRuntime struct {
	event   string
	served  chan struct{}
	answers chan string // "response: BODY" or "error: BODY"
}

func newFakeRuntime(t *testing.T, event string) (*fakeRuntime, string) {
	t.Helper()
	rt := &fakeRuntime{event: event, served: make(chan struct{}, 1), answers: make(chan string, 4)}
	rt.served <- struct{}{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-rt.served:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Lambda-Runtime-Aws-Request-Id", "req-1")
		w.Header().Set("Lambda-Runtime-Deadline-Ms", fmt.Sprint(time.Now().Add(time.Minute).UnixMilli()))
		w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:eu-west-1:123456789012:function:blackwell-reconciler")
		_, _ = io.WriteString(w, rt.event)
	})
	answer := func(kind string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			rt.answers <- kind + ": " + string(b)
			w.WriteHeader(http.StatusAccepted)
		}
	}
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", answer("response"))
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", answer("error"))
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", answer("init error"))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return rt, strings.TrimPrefix(srv.URL, "http://")
}

// TestLambdaCommandRunsAScheduledPass: blackwell lambda, under a Lambda
// runtime API, applies the config file named by BLACKWELL_CONFIG to the
// store of BLACKWELL_STORE and answers a scheduled event with the pass it
// ran.
func TestLambdaCommandRunsAScheduledPass(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("blackwell") // the test binary as the CLI (TestMain)
	require.NoError(t, err)
	dir := t.TempDir()
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") }))
	t.Cleanup(site.Close)
	cfg := filepath.Join(dir, "blackwell.yaml")
	require.NoError(t, os.WriteFile(cfg, fmt.Appendf(nil, `apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: site, environment: prod}
spec:
  resources:
    home: {probe: http, url: %q, expect_status: 200}
`, site.URL), 0o600))
	db := filepath.Join(dir, "blackwell.db")
	st, err := sqlite.Open(t.Context(), db) // the store exists, as after blackwell migrate
	require.NoError(t, err)
	require.NoError(t, st.Close())

	rt, addr := newFakeRuntime(t, `{"version":"0","id":"e-1","detail-type":"Scheduled Event","source":"aws.events",`+
		`"account":"123456789012","time":"2026-12-07T20:00:00Z","region":"eu-west-1","resources":[],"detail":{}}`)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "lambda")
	cmd.Env = append(os.Environ(), "AWS_LAMBDA_RUNTIME_API="+addr, "BLACKWELL_CONFIG="+cfg, "BLACKWELL_STORE=sqlite://"+db)
	stderr := &syncBuffer{}
	cmd.Stderr, cmd.WaitDelay = stderr, 5*time.Second
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	select {
	case got := <-rt.answers:
		body, ok := strings.CutPrefix(got, "response: ")
		require.True(t, ok, "%s\n%s", got, stderr.String())
		var res struct {
			Stacks int      `json:"stacks"`
			Failed []string `json:"failed"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &res), body)
		require.Equal(t, 1, res.Stacks)
		require.Empty(t, res.Failed)
	case <-ctx.Done():
		t.Fatalf("no answer from blackwell lambda:\n%s", stderr.String())
	}
}
