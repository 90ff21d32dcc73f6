package provider_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/egress"
	"github.com/blackwellio/blackwell/internal/provider"
)

// TestAPIClientUnderAnEgressPolicy: an API base the operator's allowlist
// refuses is an unknown observation naming the host, and never opens the
// endpoint's breaker; an allowed one is called.
func TestAPIClientUnderAnEgressPolicy(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(srv.Close)

	refusing, err := egress.Parse("public")
	require.NoError(t, err)
	c := provider.NewAPIClient(provider.APIClientOptions{Provider: "generic", HTTPClient: refusing.HTTPClient(), BreakerFailures: 1})
	for range 3 {
		_, err = c.Do(context.Background(), provider.Request{Method: http.MethodGet, URL: srv.URL + "/hooks?token=secret"})
		require.ErrorIs(t, err, egress.ErrRefused)
		require.NotErrorIs(t, err, provider.ErrUnreachable)
	}
	require.Contains(t, err.Error(), "127.0.0.1")
	require.NotContains(t, err.Error(), "secret")
	require.Equal(t, "closed", c.BreakerState(srv.URL))
	obs := provider.ObservationOf("generic", err)
	require.Equal(t, drift.Unknown, obs.Reachability)
	require.Equal(t, drift.ReasonEgressRefused, obs.Reason)
	require.Contains(t, obs.Detail, "refused by the egress allowlist")
	require.Zero(t, calls.Load())

	allowing, err := egress.Parse("127.0.0.1")
	require.NoError(t, err)
	c = provider.NewAPIClient(provider.APIClientOptions{Provider: "generic", HTTPClient: allowing.HTTPClient()})
	_, err = c.Do(context.Background(), provider.Request{Method: http.MethodGet, URL: srv.URL + "/hooks"})
	require.NoError(t, err)
	require.Equal(t, int32(1), calls.Load())
}
