package probe_test

import (
	"context"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/config"
	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/probe"
)

func TestProbeTCP(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	closed := closedAddr(t)

	tests := []struct {
		name       string
		address    string
		wantStatus drift.ResourceStatus
		wantDetail string
	}{
		{"listening", ln.Addr().String(), drift.StatusHealthy, "connected in"},
		{"by name", "site.example.test:" + port, drift.StatusHealthy, "connected in"},
		{"localhost from hosts file", "localhost:" + port, drift.StatusHealthy, "connected in"},
		{"closed port", closed, drift.StatusUnhealthy, "connection refused by " + closed},
		{"name does not exist", "nosuch.example.invalid:" + port, drift.StatusMissing, "host nosuch.example.invalid not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, nil)
			obs := b.prober.Probe(t.Context(), "port", config.Resource{Probe: config.ProbeTCP, Address: tt.address})
			require.Equal(t, tt.wantStatus, obs.Status, obs.Detail)
			require.Contains(t, obs.Detail, tt.wantDetail)
		})
	}
}

func TestProbeTCPTimeout(t *testing.T) {
	t.Parallel()
	// A dialer whose connect hangs until the probe's deadline, as a
	// firewalled port does, without sending a packet anywhere.
	hanging := &net.Dialer{ControlContext: func(ctx context.Context, _, _ string, _ syscall.RawConn) error {
		<-ctx.Done()
		return ctx.Err()
	}}
	b := setup(t, func(o *probe.Options) { o.Dialer = hanging })
	obs := b.prober.Probe(t.Context(), "port", config.Resource{
		Probe:   config.ProbeTCP,
		Address: closedAddr(t),
		Timeout: config.Duration(20 * time.Millisecond),
	})
	require.Equal(t, drift.StatusUnhealthy, obs.Status)
	require.Equal(t, "timeout after 20ms", obs.Detail)
}
