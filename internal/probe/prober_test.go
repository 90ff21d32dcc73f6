package probe_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/poll"
	"github.com/blackwellio/blackwell/internal/probe"
	"github.com/blackwellio/blackwell/internal/sim"
)

// testClock is a clock that moves by step on every reading.
type testClock struct {
	mu   sync.Mutex
	now  time.Time
	step time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.now
	c.now = c.now.Add(c.step)
	return t
}

type bundle struct {
	prober *probe.Prober
	clock  *testClock
	dns    *sim.DNSServer
}

// setup returns a Prober whose lookups go to a sim.DNSServer (never to the
// machine's resolver) and whose clock stands still unless a test moves it.
// edit changes the options before the Prober is built.
func setup(t *testing.T, edit func(*probe.Options)) bundle {
	t.Helper()
	dns, err := sim.NewDNSServer(sim.DNSOptions{Records: map[string][]netip.Addr{
		"site.example.test": {netip.MustParseAddr("127.0.0.1")},
	}})
	require.NoError(t, err)
	t.Cleanup(dns.Close)
	clock := &testClock{now: time.Now()}
	opts := probe.Options{Resolver: dns.Resolver(), Now: clock.Now}
	if edit != nil {
		edit(&opts)
	}
	return bundle{prober: probe.New(opts), clock: clock, dns: dns}
}

// closedAddr is a 127.0.0.1 address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func TestProbeBadConfigIsUnknown(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	tests := []struct {
		name       string
		r          config.Resource
		wantDetail string
	}{
		{"no kind", config.Resource{}, "no probe kind"},
		{"unknown kind", config.Resource{Probe: "icmp"}, `unknown probe kind "icmp"`},
		{"http without url", config.Resource{Probe: config.ProbeHTTP}, "no url"},
		{"http ftp url", config.Resource{Probe: config.ProbeHTTP, URL: "ftp://example.test/x?token=s3cret"}, "invalid url ftp://example.test/x: want http(s)://host/path"},
		{"http no host", config.Resource{Probe: config.ProbeHTTP, URL: "http:///path"}, "invalid url"},
		{"http unparsable", config.Resource{Probe: config.ProbeHTTP, URL: "http://a b.test:x/?token=s3cret"}, "invalid url <invalid url>"},
		{"tls without address", config.Resource{Probe: config.ProbeTLS}, "no address"},
		{"tls without port", config.Resource{Probe: config.ProbeTLS, Address: "example.test"}, `invalid address "example.test": want host:port`},
		{"tcp without host", config.Resource{Probe: config.ProbeTCP, Address: ":443"}, `invalid address ":443"`},
		{"dns without name", config.Resource{Probe: config.ProbeDNS}, "no name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			obs := b.prober.Probe(t.Context(), tt.name, tt.r)
			require.Equal(t, drift.StatusUnknown, obs.Status)
			require.Contains(t, obs.Detail, tt.wantDetail)
			require.NotContains(t, obs.Detail, "s3cret")
		})
	}
}

func TestProbeCancelledBeforeStart(t *testing.T) {
	t.Parallel()
	site, err := sim.NewSite(sim.SiteOptions{})
	require.NoError(t, err)
	t.Cleanup(site.Close)
	b := setup(t, nil)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	obs := b.prober.Probe(ctx, "site", config.Resource{Probe: config.ProbeHTTP, URL: site.URL()})
	require.Equal(t, drift.StatusUnknown, obs.Status)
	require.Equal(t, "not started: context canceled", obs.Detail)

	all := b.prober.ProbeAll(ctx, map[string]config.Resource{
		"a": {Probe: config.ProbeHTTP, URL: site.URL()},
		"b": {Probe: config.ProbeTCP, Address: site.Addr()},
	})
	require.Len(t, all, 2)
	for name, obs := range all {
		require.Equal(t, drift.StatusUnknown, obs.Status, name)
	}
	require.Zero(t, site.Requests())
}

func TestProbeCancelledWhileRunning(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{})
	var once sync.Once
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(arrived) })
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	b := setup(t, nil)

	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-arrived
		cancel()
	}()
	obs := b.prober.Probe(ctx, "site", config.Resource{Probe: config.ProbeHTTP, URL: srv.URL, Timeout: config.Duration(time.Minute)})
	require.Equal(t, drift.StatusUnknown, obs.Status)
	require.Equal(t, "cancelled: context canceled", obs.Detail)
}

func TestProbeAllBoundsConcurrency(t *testing.T) {
	t.Parallel()
	const bound = 5
	var inFlight, maxInFlight, served atomic.Int64
	gate := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := maxInFlight.Load()
			if n <= m || maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		select {
		case <-gate:
		case <-r.Context().Done():
		}
		served.Add(1)
	}))
	t.Cleanup(srv.Close)
	b := setup(t, func(o *probe.Options) { o.Concurrency = bound })

	// Two calls at once share the one bound: 25 resources each.
	batch := func(prefix string) map[string]config.Resource {
		rs := make(map[string]config.Resource)
		for i := range 25 {
			rs[prefix+strconv.Itoa(i)] = config.Resource{Probe: config.ProbeHTTP, URL: srv.URL + "/" + prefix + strconv.Itoa(i)}
		}
		return rs
	}
	results := make(chan map[string]drift.ResourceObservation, 2)
	for _, prefix := range []string{"a", "b"} {
		go func() { results <- b.prober.ProbeAll(t.Context(), batch(prefix)) }()
	}

	// The bound fills up, and holds while every request is held.
	poll.Until(t, 10*time.Second, "the bound of probes in flight", func() bool { return inFlight.Load() == bound })
	close(gate)

	for range 2 {
		got := <-results
		require.Len(t, got, 25)
		for name, obs := range got {
			require.Equal(t, drift.StatusHealthy, obs.Status, "%s: %s", name, obs.Detail)
		}
	}
	require.EqualValues(t, 50, served.Load())
	require.LessOrEqual(t, maxInFlight.Load(), int64(bound))
	require.EqualValues(t, bound, maxInFlight.Load())
}

func TestProbeAllEmpty(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	require.Empty(t, b.prober.ProbeAll(t.Context(), nil))
}

// panickyTransport stands for a broken HTTPClient given in Options.
type panickyTransport struct{}

func (panickyTransport) RoundTrip(*http.Request) (*http.Response, error) { panic("boom") }

func TestProbeNeverPanics(t *testing.T) {
	t.Parallel()
	b := setup(t, func(o *probe.Options) { o.HTTPClient = &http.Client{Transport: panickyTransport{}} })
	obs := b.prober.Probe(t.Context(), "site", config.Resource{Probe: config.ProbeHTTP, URL: "http://127.0.0.1:1/"})
	require.Equal(t, drift.StatusUnknown, obs.Status)
	require.Equal(t, "probe site panicked: boom", obs.Detail)

	// The slot was given back: the Prober still works.
	obs = b.prober.Probe(t.Context(), "tcp", config.Resource{Probe: config.ProbeTCP, Address: closedAddr(t)})
	require.Equal(t, drift.StatusUnhealthy, obs.Status)
}
