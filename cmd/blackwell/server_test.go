package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/poll"
	"github.com/blackwellio/blackwell/internal/sim"
	"github.com/blackwellio/blackwell/internal/store"
)

// e2eConfig is a one-stack config whose resource is a local site.
func e2eConfig(siteURL, extra string) string {
	return fmt.Sprintf(`apiVersion: blackwell.io/v1
kind: Stack
metadata: {client_id: acme, stack_id: web, environment: prod}
spec:
  resources:
    site: {probe: http, url: "%s/", expect_status: 200, timeout: 1s}%s
---
apiVersion: blackwell.io/v1
kind: ReconciliationPolicy
metadata: {client_id: acme}
spec:
  schedule: {interval: 1s}
  confirmation: {observations: 2, grace_period: 3s}
`, siteURL, extra)
}

type e2e struct {
	srv     *server
	base    string
	cfgPath string
	// token is sent with every API call (the bootstrap token).
	token string
}

func startE2E(t *testing.T, cfg string) *e2e {
	t.Helper()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "blackwell.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o600))
	srv, err := startServer(context.Background(), serverOptions{
		configPath: cfgPath, configRequired: true, listen: "127.0.0.1:0",
		storeURL: "sqlite://" + filepath.Join(dir, "blackwell.db"), logOut: io.Discard,
	})
	require.NoError(t, err)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	return &e2e{srv: srv, base: "http://" + srv.Addr(), cfgPath: cfgPath, token: srv.bootstrapToken}
}

// waitPasses waits until n passes of client/stack that started after
// since have committed: a test that lets passes go on before it looks
// again counts them rather than timing them.
func (e *e2e) waitPasses(t *testing.T, client, stack string, since time.Time, n int) {
	t.Helper()
	poll.Until(t, time.Duration(n)*15*time.Second, fmt.Sprintf("%d passes of %s/%s", n, client, stack), func() bool {
		return e.passed(client, stack, since, n)
	})
}

// passed reports whether n passes of client/stack that started after
// since have committed.
func (e *e2e) passed(client, stack string, since time.Time, n int) bool {
	res, _, err := e.srv.store.ListReconciliations(context.Background(), client, stack, "", n)
	return err == nil && len(res) == n && res[n-1].StartedAt.After(since)
}

func (e *e2e) getJSON(t *testing.T, path string, v any) int {
	t.Helper()
	resp, err := bearerClient(e.token).Get(e.base + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.NoError(t, json.NewDecoder(resp.Body).Decode(v))
	return resp.StatusCode
}

type driftStatus struct {
	ClientID     string `json:"client_id"`
	HasDrift     bool   `json:"has_drift"`
	DriftCount   int    `json:"drift_count"`
	DriftDetails []struct {
		Code      string `json:"code"`
		Component string `json:"component"`
		Severity  string `json:"severity"`
	} `json:"drift_details"`
}

func TestEndToEndResourceDriftAppearsAndClears(t *testing.T) {
	t.Parallel()
	site, err := sim.NewSite(sim.SiteOptions{})
	require.NoError(t, err)
	t.Cleanup(site.Close)
	e := startE2E(t, e2eConfig(site.URL(), ""))

	stackStatus := func() string {
		var rec struct{ Status string }
		e.getJSON(t, "/v1/stacks/acme/web", &rec)
		return rec.Status
	}
	poll.Until(t, time.Minute, "first pass healthy", func() bool { return stackStatus() == "healthy" })

	require.NoError(t, site.SetMode(sim.ModeDown))
	stopped := time.Now()
	var ds driftStatus
	// Confirmation: 2 observations 1s apart or a 3s grace period.
	poll.Until(t, time.Minute, "resource_unhealthy reported", func() bool {
		ds = driftStatus{}
		e.getJSON(t, "/v1/clients/acme/drift", &ds)
		return ds.HasDrift
	})
	// Reported as soon as confirmation allows: 2 observations 1s apart or
	// the 3s grace period, so no pass that started more than the grace
	// period and one interval (1s +10% jitter) after the first pass that
	// saw the site down may leave it unreported. Judged by the passes'
	// own start times, so extra triggered passes and a busy machine that
	// spaces passes out do not count against it.
	hist, _, err := e.srv.store.ListReconciliations(context.Background(), "acme", "web", "", 100)
	require.NoError(t, err)
	slices.Reverse(hist)
	var firstDown time.Time
	late := 0
	i := slices.IndexFunc(hist, func(r store.ReconciliationResult) bool {
		if !r.StartedAt.After(stopped) {
			return false
		}
		if firstDown.IsZero() {
			firstDown = r.StartedAt
		}
		if !r.DriftDetected && r.StartedAt.Sub(firstDown) > 3*time.Second+1100*time.Millisecond {
			late++
		}
		return r.DriftDetected
	})
	require.GreaterOrEqual(t, i, 0, "a pass reported the drift")
	require.Zero(t, late, "passes after the confirmation window that did not report the drift")
	require.Equal(t, 1, ds.DriftCount)
	require.Equal(t, "resource_unhealthy", ds.DriftDetails[0].Code)
	require.Equal(t, "site", ds.DriftDetails[0].Component)
	require.Equal(t, "high", ds.DriftDetails[0].Severity)
	// A pass in flight shows "reconciling"; the status between passes is
	// what is asserted.
	poll.Until(t, 10*time.Second, "stack status drift_detected", func() bool { return stackStatus() == "drift_detected" })
	require.Contains(t, fetch(t, e.base+"/metrics"), "blackwell_state_consistency_score 0\n")

	require.NoError(t, site.SetMode(sim.ModeHealthy))
	poll.Until(t, time.Minute, "stack healthy again", func() bool { return stackStatus() == "healthy" })
	ds = driftStatus{}
	e.getJSON(t, "/v1/clients/acme/drift", &ds)
	require.False(t, ds.HasDrift)

	metrics := fetch(t, e.base+"/metrics")
	for _, name := range []string{
		"blackwell_reconciliation_duration_seconds", "blackwell_reconciliation_success_total",
		"blackwell_drift_detected_total", "blackwell_auto_heal_attempts_total", "blackwell_auto_heal_success_total",
		"blackwell_auto_heal_failure_total", "blackwell_active_reconciliations", "blackwell_state_consistency_score",
		"blackwell_event_processing_lag_seconds",
	} {
		require.Contains(t, metrics, "# TYPE "+name, name)
	}
	require.Contains(t, metrics, `blackwell_drift_detected_total{code="resource_unhealthy",severity="high",type="resource"} 1`)
	require.Contains(t, metrics, "blackwell_state_consistency_score 1")
}

func fetch(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

func TestReloadAppliesAValidConfigAndRefusesAnInvalidOneWhole(t *testing.T) {
	t.Parallel()
	site, err := sim.NewSite(sim.SiteOptions{})
	require.NoError(t, err)
	t.Cleanup(site.Close)
	e := startE2E(t, e2eConfig(site.URL(), ""))
	ctx := context.Background()

	var rec struct {
		StateVersion string `json:"state_version"`
		DesiredHash  string `json:"desired_hash"`
	}
	e.getJSON(t, "/v1/stacks/acme/web", &rec)
	require.Equal(t, "v1.0.0", rec.StateVersion)
	first := rec.DesiredHash

	// Unchanged file: no new version.
	require.NoError(t, e.srv.Reload(ctx))
	e.getJSON(t, "/v1/stacks/acme/web", &rec)
	require.Equal(t, "v1.0.0", rec.StateVersion)

	// An invalid file is refused whole: the valid stack in it is not applied.
	bad := e2eConfig(site.URL(), "\n    port: {probe: tcp, address: \""+site.Addr()+"\"}") +
		"---\napiVersion: blackwell.io/v1\nkind: Stack\nmetadata: {client_id: acme, stack_id: other}\nspec: {bogus: 1}\n"
	require.NoError(t, os.WriteFile(e.cfgPath, []byte(bad), 0o600))
	err = e.srv.Reload(ctx)
	require.Error(t, err)
	require.Contains(t, err.Error(), "blackwell.yaml:")
	e.getJSON(t, "/v1/stacks/acme/web", &rec)
	require.Equal(t, "v1.0.0", rec.StateVersion)
	require.Equal(t, first, rec.DesiredHash)
	var missing map[string]any
	require.Equal(t, http.StatusNotFound, e.getJSON(t, "/v1/stacks/acme/other", &missing))

	// A valid change makes a new version.
	good := e2eConfig(site.URL(), "\n    port: {probe: tcp, address: \""+site.Addr()+"\"}")
	require.NoError(t, os.WriteFile(e.cfgPath, []byte(good), 0o600))
	require.NoError(t, e.srv.Reload(ctx))
	e.getJSON(t, "/v1/stacks/acme/web", &rec)
	require.Equal(t, "v1.1.0", rec.StateVersion)
	require.NotEqual(t, first, rec.DesiredHash)
}

func TestServeRefusesAnInvalidConfigAtStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "blackwell.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte("apiVersion: blackwell.io/v1\nkind: Stak\n"), 0o600))
	_, err := startServer(context.Background(), serverOptions{
		configPath: cfgPath, configRequired: true, listen: "127.0.0.1:0",
		storeURL: "sqlite://" + filepath.Join(dir, "blackwell.db"), logOut: io.Discard,
	})
	require.Error(t, err)
	require.True(t, strings.Contains(err.Error(), "blackwell.yaml:2:"), err.Error())
	_, statErr := os.Stat(filepath.Join(dir, "blackwell.db"))
	require.True(t, os.IsNotExist(statErr), "nothing written for a refused config")
}

func TestShutdownAbandonsSlowPassesWithinTheBoundAndLosesNothing(t *testing.T) {
	t.Parallel()
	site, err := sim.NewSite(sim.SiteOptions{Mode: sim.ModeSlow, SlowDelay: time.Minute})
	require.NoError(t, err)
	t.Cleanup(site.Close)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "blackwell.yaml")
	cfg := strings.Replace(e2eConfig(site.URL(), ""), "timeout: 1s", "timeout: 30s", 1)
	require.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o600))
	dbPath := filepath.Join(dir, "blackwell.db")
	srv, err := startServer(context.Background(), serverOptions{
		configPath: cfgPath, configRequired: true, listen: "127.0.0.1:0",
		storeURL: "sqlite://" + dbPath, logOut: io.Discard, shutdownTimeout: 300 * time.Millisecond,
	})
	require.NoError(t, err)
	// The pass is in flight once its probe reached the site (it loaded
	// and observes: a pass cancelled before it loaded records nothing).
	poll.Until(t, time.Minute, "a pass probing the slow site", func() bool {
		return srv.loop.InFlight("acme", "web") && site.Requests() >= 1
	})

	began := time.Now()
	err = srv.Shutdown(context.Background())
	require.Error(t, err, "the slow pass is reported as abandoned")
	require.Less(t, time.Since(began), raceSlowdown*5*time.Second, "shutdown is bounded")
	_, err = http.Get("http://" + srv.Addr() + "/healthz")
	require.Error(t, err, "no longer taking requests")

	// The store reopens cleanly with everything committed before and the
	// abandoned pass recorded (its probe was cancelled: unknown, not drift).
	st, err := openStore(context.Background(), "sqlite://"+dbPath)
	require.NoError(t, err)
	defer st.Close()
	rec, err := st.GetState(context.Background(), "acme", "web")
	require.NoError(t, err)
	require.Equal(t, "v1.0.0", rec.StateVersion)
	hist, _, err := st.ListReconciliations(context.Background(), "acme", "web", "", 10)
	require.NoError(t, err)
	require.Len(t, hist, 1)
	require.False(t, hist[0].DriftDetected)
}

func TestStoreURLIsRedactedForLogs(t *testing.T) {
	t.Parallel()
	got := redactStoreURL("postgres://blackwell:s3cret@db.example:5432/blackwell?sslmode=require")
	require.NotContains(t, got, "s3cret")
	require.Contains(t, got, "db.example")
	require.Equal(t, "sqlite://./blackwell.db", redactStoreURL("sqlite://./blackwell.db"))
}

func TestDriftIsNotifiedOnceAndItsResolutionOnce(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var types []string
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct{ Type string }
		if err := json.NewDecoder(r.Body).Decode(&ev); err == nil && r.Header.Get("webhook-signature") != "" {
			mu.Lock()
			types = append(types, ev.Type)
			mu.Unlock()
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(receiver.Close)
	seen := func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), types...) }

	site, err := sim.NewSite(sim.SiteOptions{})
	require.NoError(t, err)
	t.Cleanup(site.Close)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "blackwell.yaml")
	cfg := e2eConfig(site.URL(), "") + fmt.Sprintf(`  notifications:
    channels:
      - {type: webhook, url: "%s/hook", secret: "${DRIFT_WHSEC}", severity_threshold: low}
`, receiver.URL)
	require.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o600))
	env := map[string]string{"DRIFT_WHSEC": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
	srv, err := startServer(context.Background(), serverOptions{
		configPath: cfgPath, configRequired: true, listen: "127.0.0.1:0",
		storeURL: "sqlite://" + filepath.Join(dir, "blackwell.db"), logOut: io.Discard,
		getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
	})
	require.NoError(t, err)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })

	e := &e2e{srv: srv, base: "http://" + srv.Addr(), token: srv.bootstrapToken}
	poll.Until(t, time.Minute, "first pass healthy (desired state applied)", func() bool {
		var rec struct {
			Status      string `json:"status"`
			AppliedHash string `json:"applied_hash"`
		}
		e.getJSON(t, "/v1/stacks/acme/web", &rec)
		return rec.Status == "healthy" && rec.AppliedHash != ""
	})
	require.NoError(t, site.SetMode(sim.ModeFailing))
	poll.Until(t, time.Minute, "drift announced", func() bool { return len(seen()) >= 1 })
	// Several more passes see the same drift: no repeat.
	e.waitPasses(t, "acme", "web", time.Now(), 3)
	require.Equal(t, []string{"io.blackwell.drift.detected"}, seen())

	require.NoError(t, site.SetMode(sim.ModeHealthy))
	poll.Until(t, time.Minute, "resolution announced", func() bool { return len(seen()) >= 2 })
	require.Equal(t, []string{"io.blackwell.drift.detected", "io.blackwell.drift.resolved"}, seen())
}

// TestServeRefusesANegativeGCHeapFloor: a usage error, before anything
// starts.
func TestServeRefusesANegativeGCHeapFloor(t *testing.T) {
	t.Parallel()
	_, errOut, code := runCLI(t, "serve", "--gc-heap-floor", "-1", "--store", "sqlite://"+filepath.Join(t.TempDir(), "never.db"))
	require.Equal(t, 2, code, errOut)
	require.Contains(t, errOut, "--gc-heap-floor: -1 is negative")
}
