package probe_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/probe"
	"github.com/blackwellio/blackwell/internal/sim"
)

// newHTTPFixture serves the pages the http probe tests ask for.
func newHTTPFixture(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ok", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<html><body>hello MARKER</body></html>")
	})
	mux.HandleFunc("GET /status/{code}", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.PathValue("code"))
		w.WriteHeader(code)
	})
	mux.HandleFunc("GET /redirect/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.PathValue("n"))
		if n == 0 {
			http.Redirect(w, r, "/ok", http.StatusFound)
			return
		}
		http.Redirect(w, r, "/redirect/"+strconv.Itoa(n-1)+"?token=s3cret", http.StatusFound)
	})
	mux.HandleFunc("GET /loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop?token=s3cret", http.StatusFound)
	})
	// NEEDLE straddles the first 32 KiB read.
	mux.HandleFunc("GET /straddle", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, strings.Repeat("a", 32<<10-3)+"NEEDLE")
	})
	// NEEDLE comes after the first MiB, which is all a probe reads.
	mux.HandleFunc("GET /huge", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, strings.Repeat("a", probe.MaxBodyBytes)+"NEEDLE")
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestProbeHTTP(t *testing.T) {
	t.Parallel()
	srv := newHTTPFixture(t)
	b := setup(t, nil)
	tests := []struct {
		name       string
		path       string
		expect     int
		bodyMatch  string
		wantStatus drift.ResourceStatus
		wantDetail string
	}{
		{"2xx by default", "/ok", 0, "", drift.StatusHealthy, "status 200 in"},
		{"expected status", "/status/204", 204, "", drift.StatusHealthy, "status 204 in"},
		{"3xx by default", "/status/304", 0, "", drift.StatusHealthy, "status 304 in"},
		{"other status than expected", "/ok", 201, "", drift.StatusUnhealthy, "status 200, expected 201"},
		{"503 against expected 200", "/status/503", 200, "", drift.StatusUnhealthy, "status 503, expected 200"},
		{"503 by default", "/status/503", 0, "", drift.StatusUnhealthy, "status 503, expected 2xx or 3xx"},
		{"500", "/status/500", 0, "", drift.StatusUnhealthy, "status 500, expected 2xx or 3xx"},
		{"404 is missing", "/status/404", 0, "", drift.StatusMissing, "resource missing: status 404"},
		{"410 is missing", "/status/410", 200, "", drift.StatusMissing, "resource missing: status 410"},
		{"404 when expected", "/status/404", 404, "", drift.StatusHealthy, "status 404 in"},
		{"body matches", "/ok", 0, "MARKER", drift.StatusHealthy, "status 200 in"},
		{"body does not match", "/ok", 0, "OTHER", drift.StatusUnhealthy, `body does not contain "OTHER"`},
		{"match across reads", "/straddle", 0, "NEEDLE", drift.StatusHealthy, "status 200 in"},
		{"match past the first MiB", "/huge", 0, "NEEDLE", drift.StatusUnhealthy, `body does not contain "NEEDLE"`},
		{"five redirects are followed", "/redirect/4", 0, "MARKER", drift.StatusHealthy, "status 200 in"},
		{"six are not", "/redirect/5", 0, "", drift.StatusUnhealthy, "more than 5 redirects, last to " + srv.URL + "/ok"},
		{"redirect loop", "/loop", 0, "", drift.StatusUnhealthy, "more than 5 redirects, last to " + srv.URL + "/loop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			obs := b.prober.Probe(t.Context(), tt.name, config.Resource{
				Probe:        config.ProbeHTTP,
				URL:          srv.URL + tt.path,
				ExpectStatus: tt.expect,
				BodyMatch:    tt.bodyMatch,
			})
			require.Equal(t, tt.wantStatus, obs.Status, obs.Detail)
			require.Contains(t, obs.Detail, tt.wantDetail)
			require.NotContains(t, obs.Detail, "s3cret")
		})
	}
}

func TestProbeHTTPLatencyBound(t *testing.T) {
	t.Parallel()
	srv := newHTTPFixture(t)
	tests := []struct {
		name       string
		maxLatency time.Duration
		wantStatus drift.ResourceStatus
		wantDetail string
	}{
		{"no bound", 0, drift.StatusHealthy, "status 200 in 100ms"},
		{"within", time.Second, drift.StatusHealthy, "status 200 in 100ms"},
		{"exactly at", 100 * time.Millisecond, drift.StatusHealthy, "status 200 in 100ms"},
		{"beyond", 50 * time.Millisecond, drift.StatusUnhealthy, "slow: answered in 100ms, max 50ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Every reading of the clock moves it 100ms: the request
			// takes 100ms by the Prober's clock, whatever the machine.
			b := setup(t, nil)
			b.clock.step = 100 * time.Millisecond
			obs := b.prober.Probe(t.Context(), "site", config.Resource{
				Probe:      config.ProbeHTTP,
				URL:        srv.URL + "/ok",
				MaxLatency: config.Duration(tt.maxLatency),
			})
			require.Equal(t, tt.wantStatus, obs.Status, obs.Detail)
			require.Equal(t, tt.wantDetail, obs.Detail)
			require.Equal(t, 100*time.Millisecond, obs.Latency)
		})
	}
}

func TestProbeHTTPTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // never answers while the probe waits
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	tests := []struct {
		name           string
		timeout        time.Duration
		defaultTimeout time.Duration
		want           string
	}{
		{"resource timeout", 20 * time.Millisecond, time.Hour, "timeout after 20ms"},
		{"default timeout", 0, 30 * time.Millisecond, "timeout after 30ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, func(o *probe.Options) { o.DefaultTimeout = tt.defaultTimeout })
			obs := b.prober.Probe(t.Context(), "site", config.Resource{
				Probe:   config.ProbeHTTP,
				URL:     srv.URL,
				Timeout: config.Duration(tt.timeout),
			})
			require.Equal(t, drift.StatusUnhealthy, obs.Status)
			require.Equal(t, tt.want, obs.Detail)
		})
	}
}

func TestProbeHTTPUnreachable(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	addr := closedAddr(t)
	tests := []struct {
		name       string
		url        string
		wantStatus drift.ResourceStatus
		wantDetail string
	}{
		{"connection refused", "http://user:pa55@" + addr + "/hook?token=s3cret", drift.StatusUnhealthy, "connection refused by " + addr},
		{"name does not exist", "https://nosuch.example.invalid/hook?token=s3cret", drift.StatusMissing, "host nosuch.example.invalid not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			obs := b.prober.Probe(t.Context(), "hook", config.Resource{Probe: config.ProbeHTTP, URL: tt.url})
			require.Equal(t, tt.wantStatus, obs.Status, obs.Detail)
			require.Equal(t, tt.wantDetail, obs.Detail)
		})
	}
}

func TestProbeHTTPResolverFailureIsUnknown(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.dns.Fail("broken.example.test")
	obs := b.prober.Probe(t.Context(), "site", config.Resource{Probe: config.ProbeHTTP, URL: "http://broken.example.test/"})
	require.Equal(t, drift.StatusUnknown, obs.Status)
	require.Contains(t, obs.Detail, "lookup of broken.example.test failed")
}

func TestProbeHTTPAgainstSimSite(t *testing.T) {
	t.Parallel()
	site, err := sim.NewSite(sim.SiteOptions{SlowDelay: time.Hour})
	require.NoError(t, err)
	t.Cleanup(site.Close)
	b := setup(t, nil)
	// The name resolves through the sim DNS server to 127.0.0.1.
	_, port, _ := strings.Cut(site.Addr(), ":")
	r := config.Resource{
		Probe:     config.ProbeHTTP,
		URL:       "http://site.example.test:" + port + "/",
		BodyMatch: site.Marker(),
		Timeout:   config.Duration(50 * time.Millisecond),
	}
	steps := []struct {
		mode       sim.Mode
		wantStatus drift.ResourceStatus
		wantDetail string
	}{
		{sim.ModeHealthy, drift.StatusHealthy, "status 200"},
		{sim.ModeFailing, drift.StatusUnhealthy, "status 503, expected 2xx or 3xx"},
		{sim.ModeMissing, drift.StatusMissing, "resource missing: status 404"},
		{sim.ModeSlow, drift.StatusUnhealthy, "timeout after 50ms"},
		{sim.ModeDown, drift.StatusUnhealthy, "connection refused by 127.0.0.1:" + port},
		{sim.ModeHealthy, drift.StatusHealthy, "status 200"},
	}
	for _, s := range steps {
		require.NoError(t, site.SetMode(s.mode))
		obs := b.prober.Probe(t.Context(), "site", r)
		require.Equal(t, s.wantStatus, obs.Status, "%s: %s", s.mode, obs.Detail)
		require.Contains(t, obs.Detail, s.wantDetail, s.mode)
	}
}
