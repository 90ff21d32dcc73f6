package probe_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/egress"
	"github.com/blackwellio/blackwell/internal/probe"
)

// TestProbesUnderAnEgressPolicy: a probe the operator's allowlist refuses
// is unknown (never drift) and says why; an allowed one runs as before.
func TestProbesUnderAnEgressPolicy(t *testing.T) {
	t.Parallel()
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("secret page")) }))
	t.Cleanup(site.Close)
	tlsSite := newQuietTLSServer(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	resources := map[string]config.Resource{
		"page": {Probe: config.ProbeHTTP, URL: site.URL, ExpectStatus: 200, BodyMatch: "secret"},
		"port": {Probe: config.ProbeTCP, Address: site.Listener.Addr().String()},
		"cert": {Probe: config.ProbeTLS, Address: tlsSite.Listener.Addr().String(), MinDaysValid: 1},
	}
	cases := []struct {
		allow string
		want  drift.ResourceStatus
	}{
		{"public,*.example.com", drift.StatusUnknown},
		{"10.0.0.0/8", drift.StatusUnknown},
		{"127.0.0.1", ""}, // allowed: whatever the probe finds
	}
	for _, c := range cases {
		t.Run(c.allow, func(t *testing.T) {
			t.Parallel()
			pol, err := egress.Parse(c.allow)
			require.NoError(t, err)
			b := setup(t, func(o *probe.Options) { o.Egress = pol })
			for name, obs := range b.prober.ProbeAll(context.Background(), resources) {
				if c.want == drift.StatusUnknown {
					require.Equal(t, drift.StatusUnknown, obs.Status, name)
					require.Contains(t, obs.Detail, "refused by the egress allowlist", name)
					require.Contains(t, obs.Detail, "loopback", name)
					continue
				}
				require.NotContains(t, obs.Detail, "egress", name)
				if name != "cert" { // the test certificate is not trusted: unhealthy
					require.Equal(t, drift.StatusHealthy, obs.Status, "%s: %s", name, obs.Detail)
				}
			}
		})
	}
}

// TestHTTPProbeRedirectIsCheckedAgain: a redirect from an allowed address
// to one that is not is refused when the redirect is dialled.
func TestHTTPProbeRedirectIsCheckedAgain(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		// Linux routes all of 127/8 to loopback; macOS has only
		// 127.0.0.1 unless an alias is added. CI runs on Linux.
		if os.Getenv("CI") == "true" {
			t.Fatalf("127.0.0.2 is required under CI=true: %v", err)
		}
		t.Skipf("127.0.0.2 is not usable here (add a loopback alias; under CI=true this fails instead): %v", err)
	}
	inner := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("inner")) }))
	inner.Listener = ln
	inner.Start()
	t.Cleanup(inner.Close)
	outer := httptest.NewServer(http.RedirectHandler(inner.URL+"/", http.StatusFound))
	t.Cleanup(outer.Close)

	pol, err := egress.Parse("127.0.0.1")
	require.NoError(t, err)
	b := setup(t, func(o *probe.Options) { o.Egress = pol })
	obs := b.prober.Probe(context.Background(), "page", config.Resource{Probe: config.ProbeHTTP, URL: outer.URL, ExpectStatus: 200})
	require.Equal(t, drift.StatusUnknown, obs.Status, obs.Detail)
	require.Contains(t, obs.Detail, "127.0.0.2")

	open := setup(t, nil)
	obs = open.prober.Probe(context.Background(), "page", config.Resource{Probe: config.ProbeHTTP, URL: outer.URL, ExpectStatus: 200})
	require.Equal(t, drift.StatusHealthy, obs.Status, obs.Detail)
}
