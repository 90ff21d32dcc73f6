package demo

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/poll"
	bwserver "github.com/blackwellio/blackwell/internal/server"
)

// syncBuffer is a bytes.Buffer safe for the demo's concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestDemoInjectsFaultsAndShowsDrift(t *testing.T) {
	t.Parallel()
	var out syncBuffer
	began := time.Now()
	err := Run(context.Background(), &out, Options{
		Listen: "127.0.0.1:0", FaultEvery: 300 * time.Millisecond, MendAfter: 2 * time.Second,
		Interval: time.Second, Duration: 8 * time.Second,
	})
	require.NoError(t, err)
	// It returned on its own (the context never ends): the demo stops
	// after Duration, and not before.
	require.GreaterOrEqual(t, time.Since(began), 8*time.Second, "the demo runs for Duration")
	got := out.String()
	for _, want := range []string{
		"blackwell demo: 5 stacks of 3 clients", "fault  ", "mend   ",
		"status acme-corp/shop-prod healthy", "drift_detected: ", "demo stopped",
	} {
		require.Contains(t, got, want)
	}
	require.False(t, strings.Contains(got, "/build_hooks/"), "build hook URLs are secrets")
}

func TestConcreteListen(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, addr string
		usage      bool // the error is a server.UsageError
		same       bool // the address is returned as it is
	}{
		{name: "fixed port", addr: "127.0.0.1:8080", same: true},
		{name: "free port", addr: "127.0.0.1:0"},
		{name: "no port", addr: "127.0.0.1", usage: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := concreteListen(tc.addr)
			if tc.usage {
				var ue bwserver.UsageError
				require.ErrorAs(t, err, &ue)
				require.Contains(t, err.Error(), `--listen "`+tc.addr+`"`)
				return
			}
			require.NoError(t, err)
			if tc.same {
				require.Equal(t, tc.addr, got)
				return
			}
			host, port, err := net.SplitHostPort(got)
			require.NoError(t, err)
			require.Equal(t, "127.0.0.1", host)
			require.NotEqual(t, "0", port)
		})
	}
}

// The demo's application moves its release: dev to staging once dev's
// pass verified it, then to prod, which waits for approval.
func TestDemoPromotesTheShop(t *testing.T) {
	t.Parallel()
	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, &out, Options{Listen: "127.0.0.1:0", FaultEvery: time.Hour, MendAfter: time.Hour, Interval: time.Second})
	}()
	poll.Until(t, time.Minute, "prod's promotion to await approval", func() bool {
		return strings.Contains(out.String(), "awaits approval")
	})
	cancel()
	require.NoError(t, <-done)
	got := out.String()
	for _, want := range []string{
		"promote acme-corp/shop dev -> staging: v1.0.0 to shop-staging (1 changes), applying",
		"promote acme-corp/shop dev -> staging succeeded: shop-staging is v1.1.0, verified on a fresh pass",
		"promote acme-corp/shop staging -> prod: v1.1.0 to shop-prod (1 changes), awaiting_approval",
		"promote acme-corp/shop staging -> prod awaits approval: blackwell approve appr-",
	} {
		require.Contains(t, got, want)
	}
}
