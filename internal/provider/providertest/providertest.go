// Package providertest is the conformance suite every provider driver runs
// against its fake in internal/sim: observe, register, update, 429 with a
// wait honoured or refused, 5xx tripping the breaker, revoked credentials,
// a slow provider.
package providertest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/provider"
	"github.com/blackwellio/blackwell/internal/sim"
)

// Setup is a driver wired to a fresh fake.
type Setup struct {
	Driver  provider.Driver
	Binding provider.Binding
	// Faults of the fake API.
	Faults *sim.APIFaults
	// Revoke makes the fake reject the binding's credentials.
	Revoke func()
	// Integration is one the provider accepts, and Address our receiver
	// for the binding.
	Integration provider.Integration
	Address     string
}

// NewFunc starts a fake and returns a driver built with api options.
type NewFunc func(t *testing.T, api provider.APIClientOptions) Setup

// Exercise runs the conformance cases.
func Exercise(t *testing.T, newSetup NewFunc) {
	ctx := context.Background()
	fast := func(o provider.APIClientOptions) provider.APIClientOptions {
		if o.Timeout == 0 {
			o.Timeout = 2 * time.Second
		}
		return o
	}
	at := func(obs provider.Observation, address string) []drift.Subscription {
		var out []drift.Subscription
		for _, s := range obs.Subscriptions {
			if s.Address == address {
				out = append(out, s)
			}
		}
		return out
	}

	t.Run("RegisterObserveIdempotent", func(t *testing.T) {
		t.Parallel()
		s := newSetup(t, fast(provider.APIClientOptions{}))
		obs := s.Driver.Observe(ctx, s.Binding)
		require.Equal(t, drift.Reachable, obs.Reachability, obs.Detail)
		require.True(t, obs.SubscriptionsKnown)
		require.Empty(t, at(obs, s.Address))

		sub, err := s.Driver.Register(ctx, s.Binding, s.Integration, s.Address)
		require.NoError(t, err)
		require.Equal(t, s.Address, sub.Address)
		require.True(t, sub.Enabled)
		obs = s.Driver.Observe(ctx, s.Binding)
		require.True(t, obs.SubscriptionsKnown, obs.Detail)
		require.Equal(t, []drift.Subscription{sub}, at(obs, s.Address))

		again, err := s.Driver.Register(ctx, s.Binding, s.Integration, s.Address)
		require.NoError(t, err)
		require.Equal(t, sub, again)
		require.Len(t, at(s.Driver.Observe(ctx, s.Binding), s.Address), 1, "registering twice creates nothing")
	})

	t.Run("UpdateRepoints", func(t *testing.T) {
		t.Parallel()
		s := newSetup(t, fast(provider.APIClientOptions{}))
		sub, err := s.Driver.Register(ctx, s.Binding, s.Integration, s.Address+"/old")
		require.NoError(t, err)
		require.NoError(t, s.Driver.Update(ctx, s.Binding, sub, s.Integration, s.Address))
		obs := s.Driver.Observe(ctx, s.Binding)
		require.Empty(t, at(obs, s.Address+"/old"))
		got := at(obs, s.Address)
		require.Len(t, got, 1)
		require.Equal(t, sub.Topics, got[0].Topics)
		require.Equal(t, sub.Filter, got[0].Filter)
		require.True(t, got[0].Enabled)
	})

	t.Run("RateLimitHonoured", func(t *testing.T) {
		t.Parallel()
		s := newSetup(t, fast(provider.APIClientOptions{MaxRetryWait: 3 * time.Second}))
		s.Faults.RateLimit(1200*time.Millisecond, 1)
		began := time.Now()
		obs := s.Driver.Observe(ctx, s.Binding)
		require.True(t, obs.SubscriptionsKnown, obs.Detail)
		require.GreaterOrEqual(t, time.Since(began), time.Second, "the provider's wait was honoured")
		require.Equal(t, int64(2), s.Faults.Requests(), "one retry")
	})

	t.Run("RateLimitBeyondBound", func(t *testing.T) {
		t.Parallel()
		s := newSetup(t, fast(provider.APIClientOptions{MaxRetryWait: 200 * time.Millisecond}))
		s.Faults.RateLimit(30*time.Second, -1)
		began := time.Now()
		obs := s.Driver.Observe(ctx, s.Binding)
		require.Less(t, time.Since(began), 2*time.Second, "a long wait is refused, not slept")
		require.Equal(t, drift.Reachable, obs.Reachability, "throttled is not missing")
		require.False(t, obs.SubscriptionsKnown)
		require.Contains(t, obs.Detail, "429")
		n := s.Faults.Requests()
		require.False(t, s.Driver.Observe(ctx, s.Binding).SubscriptionsKnown)
		require.Equal(t, n, s.Faults.Requests(), "the endpoint stays paused for the wait asked")
	})

	t.Run("ServerErrorsTripBreaker", func(t *testing.T) {
		t.Parallel()
		s := newSetup(t, fast(provider.APIClientOptions{BreakerFailures: 3, BreakerCooldown: time.Minute}))
		s.Faults.FailServer(-1)
		for range 3 {
			obs := s.Driver.Observe(ctx, s.Binding)
			require.Equal(t, drift.Unreachable, obs.Reachability)
			require.Contains(t, obs.Detail, "500")
		}
		n := s.Faults.Requests()
		began := time.Now()
		obs := s.Driver.Observe(ctx, s.Binding)
		require.Equal(t, drift.Unreachable, obs.Reachability)
		require.Contains(t, obs.Detail, "circuit breaker open")
		require.Less(t, time.Since(began), 100*time.Millisecond, "an open breaker answers at once")
		require.Equal(t, n, s.Faults.Requests(), "and sends nothing")
		_, err := s.Driver.Register(ctx, s.Binding, s.Integration, s.Address)
		require.ErrorIs(t, err, provider.ErrUnreachable)
	})

	t.Run("BreakerRecovers", func(t *testing.T) {
		t.Parallel()
		s := newSetup(t, fast(provider.APIClientOptions{BreakerFailures: 1, BreakerCooldown: 200 * time.Millisecond}))
		s.Faults.FailServer(1)
		require.Equal(t, drift.Unreachable, s.Driver.Observe(ctx, s.Binding).Reachability)
		require.Contains(t, s.Driver.Observe(ctx, s.Binding).Detail, "circuit breaker open")
		deadline := time.Now().Add(5 * time.Second)
		for s.Driver.Observe(ctx, s.Binding).Reachability != drift.Reachable {
			require.True(t, time.Now().Before(deadline), "the breaker never let a trial through")
			time.Sleep(50 * time.Millisecond)
		}
	})

	t.Run("RevokedCredentials", func(t *testing.T) {
		t.Parallel()
		s := newSetup(t, fast(provider.APIClientOptions{}))
		s.Revoke()
		obs := s.Driver.Observe(ctx, s.Binding)
		require.Equal(t, drift.Unauthorized, obs.Reachability)
		require.False(t, obs.SubscriptionsKnown)
		require.Contains(t, obs.Detail, "401")
		if tok := s.Binding.Token(); tok != "" {
			require.NotContains(t, obs.Detail, tok, "no secret in details")
		}
		_, err := s.Driver.Register(ctx, s.Binding, s.Integration, s.Address)
		require.ErrorIs(t, err, provider.ErrUnauthorized)
	})

	t.Run("SlowIsUnreachable", func(t *testing.T) {
		t.Parallel()
		s := newSetup(t, provider.APIClientOptions{Timeout: 150 * time.Millisecond})
		s.Faults.Slow(5 * time.Second)
		began := time.Now()
		obs := s.Driver.Observe(ctx, s.Binding)
		require.Equal(t, drift.Unreachable, obs.Reachability)
		require.Contains(t, obs.Detail, "no answer within")
		require.Less(t, time.Since(began), 2*time.Second)
	})

	t.Run("CancelledIsUnknown", func(t *testing.T) {
		t.Parallel()
		s := newSetup(t, fast(provider.APIClientOptions{BreakerFailures: 1}))
		s.Faults.Slow(5 * time.Second)
		cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		obs := s.Driver.Observe(cctx, s.Binding)
		require.Equal(t, drift.Unknown, obs.Reachability, "the caller gave up: nothing was learnt")
		s.Faults.Recover()
		require.Equal(t, drift.Reachable, s.Driver.Observe(ctx, s.Binding).Reachability, "and the breaker did not count it")
	})
}
