package sim_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/poll"
	"github.com/blackwellio/blackwell/internal/sim"
)

type siteBundle struct {
	site   *sim.Site
	client *http.Client
}

func setupSite(t *testing.T, opts sim.SiteOptions) siteBundle {
	t.Helper()
	site, err := sim.NewSite(opts)
	require.NoError(t, err)
	t.Cleanup(site.Close)
	transport := &http.Transport{}
	t.Cleanup(transport.CloseIdleConnections)
	return siteBundle{site: site, client: &http.Client{Transport: transport, Timeout: 30 * time.Second}}
}

// get fetches the site's root and returns the status and body.
func (b siteBundle) get(t *testing.T) (int, string, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, b.site.URL()+"/", nil)
	require.NoError(t, err)
	resp, err := b.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body), nil
}

func TestSiteModes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode       sim.Mode
		wantStatus int
		wantMarker bool
	}{
		{sim.ModeHealthy, http.StatusOK, true},
		{sim.ModeFailing, http.StatusServiceUnavailable, false},
		{sim.ModeMissing, http.StatusNotFound, false},
		{sim.ModeSlow, http.StatusOK, true},
	}
	for _, tt := range tests {
		t.Run(string(tt.mode), func(t *testing.T) {
			t.Parallel()
			const delay = 30 * time.Millisecond
			b := setupSite(t, sim.SiteOptions{Marker: "marker-" + string(tt.mode), SlowDelay: delay})
			require.NoError(t, b.site.SetMode(tt.mode))
			require.Equal(t, tt.mode, b.site.Mode())

			start := time.Now()
			status, body, err := b.get(t)
			elapsed := time.Since(start)
			require.NoError(t, err)
			require.Equal(t, tt.wantStatus, status)
			require.Equal(t, tt.wantMarker, strings.Contains(body, "marker-"+string(tt.mode)), body)
			if tt.mode == sim.ModeSlow {
				require.GreaterOrEqual(t, elapsed, delay)
			}
			require.EqualValues(t, 1, b.site.Requests())
		})
	}
}

func TestSiteDefaults(t *testing.T) {
	t.Parallel()
	b := setupSite(t, sim.SiteOptions{})
	require.Equal(t, sim.ModeHealthy, b.site.Mode())
	require.Equal(t, sim.DefaultSiteMarker, b.site.Marker())
	host, _, err := net.SplitHostPort(b.site.Addr())
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1", host)
	require.Equal(t, "http://"+b.site.Addr(), b.site.URL())
	status, body, err := b.get(t)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, sim.DefaultSiteMarker)
}

func TestSiteDownThenUpOnSamePort(t *testing.T) {
	t.Parallel()
	b := setupSite(t, sim.SiteOptions{})
	addr := b.site.Addr()

	// A kept-alive connection exists before the site goes down.
	status, _, err := b.get(t)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)

	require.NoError(t, b.site.SetMode(sim.ModeDown))
	require.Equal(t, sim.ModeDown, b.site.Mode())
	_, _, err = b.get(t)
	require.ErrorIs(t, err, syscall.ECONNREFUSED)
	_, err = net.Dial("tcp", addr)
	require.ErrorIs(t, err, syscall.ECONNREFUSED)

	// Down twice is still down.
	require.NoError(t, b.site.SetMode(sim.ModeDown))

	require.NoError(t, b.site.SetMode(sim.ModeFailing))
	require.Equal(t, addr, b.site.Addr())
	status, _, err = b.get(t)
	require.NoError(t, err)
	require.Equal(t, http.StatusServiceUnavailable, status)

	require.NoError(t, b.site.SetMode(sim.ModeHealthy))
	status, _, err = b.get(t)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)
	require.EqualValues(t, 3, b.site.Requests())
}

func TestSiteStartsDown(t *testing.T) {
	t.Parallel()
	b := setupSite(t, sim.SiteOptions{Mode: sim.ModeDown})
	_, _, err := b.get(t)
	require.ErrorIs(t, err, syscall.ECONNREFUSED)
	require.NoError(t, b.site.SetMode(sim.ModeHealthy))
	status, _, err := b.get(t)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)
}

func TestSiteRejectsUnknownMode(t *testing.T) {
	t.Parallel()
	_, err := sim.NewSite(sim.SiteOptions{Mode: "sideways"})
	require.ErrorContains(t, err, "sideways")

	b := setupSite(t, sim.SiteOptions{})
	require.Error(t, b.site.SetMode("sideways"))
	require.Equal(t, sim.ModeHealthy, b.site.Mode())
}

func TestSiteCloseReleasesSlowRequests(t *testing.T) {
	t.Parallel()
	b := setupSite(t, sim.SiteOptions{Mode: sim.ModeSlow, SlowDelay: time.Hour})
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, b.site.URL(), nil)
	require.NoError(t, err)
	errc := make(chan error, 1)
	go func() {
		resp, err := b.client.Do(req)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			_ = resp.Body.Close()
		}
		errc <- err
	}()
	poll.Until(t, 10*time.Second, "the site's first request", func() bool { return b.site.Requests() == 1 })
	b.site.Close()
	select {
	case err := <-errc:
		require.Error(t, err) // the answer never came
	case <-time.After(10 * time.Second):
		t.Fatal("slow request still waiting after Close")
	}
	require.Error(t, b.site.SetMode(sim.ModeHealthy))
	b.site.Close() // twice is fine
}

func TestSiteSlowDelayChangesAtRunTime(t *testing.T) {
	t.Parallel()
	b := setupSite(t, sim.SiteOptions{Mode: sim.ModeSlow, SlowDelay: time.Hour})
	b.site.SetSlowDelay(time.Millisecond)
	status, _, err := b.get(t)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)
}

func TestSiteConcurrentModeChanges(t *testing.T) {
	t.Parallel()
	b := setupSite(t, sim.SiteOptions{SlowDelay: time.Millisecond})
	modes := []sim.Mode{sim.ModeHealthy, sim.ModeFailing, sim.ModeMissing, sim.ModeSlow, sim.ModeDown}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.site.URL(), nil)
				if resp, err := b.client.Do(req); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
				}
			}
		})
	}
	for i := range 100 {
		require.NoError(t, b.site.SetMode(modes[i%len(modes)]))
	}
	cancel()
	wg.Wait()
	require.NoError(t, b.site.SetMode(sim.ModeHealthy))
	status, _, err := b.get(t)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)
}
