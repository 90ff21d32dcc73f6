// Package providertest is the conformance suite every provider driver runs
// against its fake in internal/sim: observe, register, update, 429 with a
// wait honoured or refused, 5xx tripping the breaker and its cooldown
// doubling, revoked credentials, a slow provider, HTML and cut answers,
// and stacks of one account sharing one listing. Every unknown
// observation carries its drift.Reason.
package providertest

import (
	"context"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/drift"
	"github.com/blackwellio/blackwell/internal/poll"
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

// Exercise runs the conformance cases, each in parallel on its own fake.
func Exercise(t *testing.T, newSetup NewFunc) {
	ctx := context.Background()
	for _, c := range cases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(ctx, t, newSetup)
		})
	}
}

type testCase struct {
	name string
	run  func(ctx context.Context, t *testing.T, newSetup NewFunc)
}

func cases() []testCase {
	return []testCase{
		{"RegisterObserveIdempotent", testRegisterObserveIdempotent},
		{"UpdateRepoints", testUpdateRepoints},
		{"RateLimitHonoured", testRateLimitHonoured},
		{"RateLimitBeyondBound", testRateLimitBeyondBound},
		{"ServerErrorsTripBreaker", testServerErrorsTripBreaker},
		{"BreakerCooldownDoublesAndResets", testBreakerCooldownDoublesAndResets},
		{"HTMLInsteadOfJSON", testHTMLInsteadOfJSON},
		{"ProxyErrorPageIsUnreachable", testProxyErrorPageIsUnreachable},
		{"TruncatedAnswer", testTruncatedAnswer},
		{"StacksOfOneAccountShareOneListing", testStacksOfOneAccountShareOneListing},
		{"BreakerRecovers", testBreakerRecovers},
		{"RevokedCredentials", testRevokedCredentials},
		{"SlowIsUnreachable", testSlowIsUnreachable},
		{"CancelledIsUnknown", testCancelledIsUnknown},
	}
}

// fast bounds every request of a case (2s unless o says otherwise).
func fast(o provider.APIClientOptions) provider.APIClientOptions {
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Second
	}
	return o
}

// at returns the observed subscriptions that deliver to address.
func at(obs provider.Observation, address string) []drift.Subscription {
	var out []drift.Subscription
	for _, s := range obs.Subscriptions {
		if s.Address == address {
			out = append(out, s)
		}
	}
	return out
}

func testRegisterObserveIdempotent(ctx context.Context, t *testing.T, newSetup NewFunc) {
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
}

func testUpdateRepoints(ctx context.Context, t *testing.T, newSetup NewFunc) {
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
}

func testRateLimitHonoured(ctx context.Context, t *testing.T, newSetup NewFunc) {
	s := newSetup(t, fast(provider.APIClientOptions{MaxRetryWait: 3 * time.Second}))
	s.Faults.RateLimit(1200*time.Millisecond, 1)
	began := time.Now()
	obs := s.Driver.Observe(ctx, s.Binding)
	require.True(t, obs.SubscriptionsKnown, obs.Detail)
	require.GreaterOrEqual(t, time.Since(began), time.Second, "the provider's wait was honoured")
	require.Equal(t, int64(2), s.Faults.Requests(), "one retry")
}

func testRateLimitBeyondBound(ctx context.Context, t *testing.T, newSetup NewFunc) {
	s := newSetup(t, fast(provider.APIClientOptions{MaxRetryWait: 200 * time.Millisecond}))
	s.Faults.RateLimit(30*time.Second, -1)
	began := time.Now()
	obs := s.Driver.Observe(ctx, s.Binding)
	require.Less(t, time.Since(began), 2*time.Second, "a long wait is refused, not slept")
	unknown(t, obs, drift.Unknown, drift.ReasonThrottled)
	require.Contains(t, obs.Detail, "429")
	n := s.Faults.Requests()
	unknown(t, s.Driver.Observe(ctx, s.Binding), drift.Unknown, drift.ReasonThrottled)
	require.Equal(t, n, s.Faults.Requests(), "the account stays paused for the wait asked")
}

func testServerErrorsTripBreaker(ctx context.Context, t *testing.T, newSetup NewFunc) {
	s := newSetup(t, fast(provider.APIClientOptions{BreakerFailures: 3, BreakerCooldown: time.Minute}))
	s.Faults.FailServer(-1)
	for range 3 {
		obs := s.Driver.Observe(ctx, s.Binding)
		unknown(t, obs, drift.Unreachable, drift.ReasonUnreachable)
		require.Contains(t, obs.Detail, "500")
	}
	n := s.Faults.Requests()
	began := time.Now()
	obs := s.Driver.Observe(ctx, s.Binding)
	unknown(t, obs, drift.Unreachable, drift.ReasonBreakerOpen)
	require.Contains(t, obs.Detail, "circuit breaker open")
	require.Contains(t, obs.Detail, endpointOf(t, s.Binding), "the detail names the endpoint")
	require.NotContains(t, obs.Detail, "invalid url")
	require.Less(t, time.Since(began), 100*time.Millisecond, "an open breaker answers at once")
	require.Equal(t, n, s.Faults.Requests(), "and sends nothing")
	_, err := s.Driver.Register(ctx, s.Binding, s.Integration, s.Address)
	require.ErrorIs(t, err, provider.ErrUnreachable)
	require.ErrorIs(t, err, provider.ErrBreakerOpen)
}

func testBreakerCooldownDoublesAndResets(ctx context.Context, t *testing.T, newSetup NewFunc) {
	clock := newClock()
	s := newSetup(t, fast(provider.APIClientOptions{BreakerFailures: 1, BreakerCooldown: time.Second,
		BreakerMaxCooldown: 4 * time.Second, Now: clock.Now}))
	s.Faults.FailServer(-1)
	observe := func() provider.Observation { return s.Driver.Observe(ctx, s.Binding) }
	// sent checks whether an observation after moving the clock by d
	// reached the provider, and with which reason it came back.
	sent := func(d time.Duration, want bool, reason drift.Reason) {
		t.Helper()
		clock.Add(d)
		n := s.Faults.Requests()
		obs := observe()
		require.Equal(t, want, s.Faults.Requests() > n, "after %s: %s", d, obs.Detail)
		require.Equal(t, reason, obs.Reason, obs.Detail)
	}
	sent(0, true, drift.ReasonUnreachable)                     // opens: cooldown 1s
	sent(900*time.Millisecond, false, drift.ReasonBreakerOpen) //
	sent(200*time.Millisecond, true, drift.ReasonUnreachable)  // trial fails: 2s
	sent(1900*time.Millisecond, false, drift.ReasonBreakerOpen)
	sent(200*time.Millisecond, true, drift.ReasonUnreachable) // trial fails: 4s
	sent(3900*time.Millisecond, false, drift.ReasonBreakerOpen)
	sent(200*time.Millisecond, true, drift.ReasonUnreachable) // trial fails: the cap, 4s
	sent(3900*time.Millisecond, false, drift.ReasonBreakerOpen)
	s.Faults.Recover()
	sent(200*time.Millisecond, true, "") // the trial succeeds: closed, cooldown back to 1s
	clock.Add(time.Hour)                 // past any shared listing
	s.Faults.FailServer(-1)
	sent(0, true, drift.ReasonUnreachable) // opens again: 1s
	sent(1100*time.Millisecond, true, drift.ReasonUnreachable)
}

func testHTMLInsteadOfJSON(ctx context.Context, t *testing.T, newSetup NewFunc) {
	s := newSetup(t, fast(provider.APIClientOptions{}))
	s.Faults.AnswerHTML(200, -1)
	obs := s.Driver.Observe(ctx, s.Binding)
	unknown(t, obs, drift.Unknown, drift.ReasonInvalidAnswer)
	require.Contains(t, obs.Detail, "HTML")
	_, err := s.Driver.Register(ctx, s.Binding, s.Integration, s.Address)
	require.ErrorIs(t, err, provider.ErrInvalidAnswer)
}

func testProxyErrorPageIsUnreachable(ctx context.Context, t *testing.T, newSetup NewFunc) {
	s := newSetup(t, fast(provider.APIClientOptions{}))
	s.Faults.AnswerHTML(502, -1)
	obs := s.Driver.Observe(ctx, s.Binding)
	unknown(t, obs, drift.Unreachable, drift.ReasonUnreachable)
	require.Contains(t, obs.Detail, "502")
}

func testTruncatedAnswer(ctx context.Context, t *testing.T, newSetup NewFunc) {
	s := newSetup(t, fast(provider.APIClientOptions{}))
	s.Faults.TruncateAnswers(-1)
	obs := s.Driver.Observe(ctx, s.Binding)
	unknown(t, obs, drift.Unknown, drift.ReasonInvalidAnswer)
	require.Contains(t, obs.Detail, "cut short")
}

func testStacksOfOneAccountShareOneListing(ctx context.Context, t *testing.T, newSetup NewFunc) {
	clock := newClock()
	s := newSetup(t, fast(provider.APIClientOptions{Now: clock.Now}))
	const stacks = 8
	var wg sync.WaitGroup
	results := make([]provider.Observation, stacks)
	for i := range stacks {
		b := s.Binding
		b.StackID = s.Binding.StackID + "-" + string(rune('a'+i))
		wg.Go(func() { results[i] = s.Driver.Observe(ctx, b) })
	}
	wg.Wait()
	for _, obs := range results {
		require.True(t, obs.SubscriptionsKnown, obs.Detail)
	}
	require.Equal(t, int64(1), s.Faults.Requests(), "one listing for every stack of the account")
	require.True(t, s.Driver.Observe(ctx, s.Binding).SubscriptionsKnown)
	require.Equal(t, int64(1), s.Faults.Requests(), "and it serves the pass window")

	clock.Add(provider.DefaultShareFor + time.Millisecond)
	require.True(t, s.Driver.Observe(ctx, s.Binding).SubscriptionsKnown)
	require.Equal(t, int64(2), s.Faults.Requests(), "a new window lists again")

	sub, err := s.Driver.Register(ctx, s.Binding, s.Integration, s.Address)
	require.NoError(t, err)
	require.Contains(t, at(s.Driver.Observe(ctx, s.Binding), s.Address), sub, "a write makes the next listing fresh")
}

func testBreakerRecovers(ctx context.Context, t *testing.T, newSetup NewFunc) {
	s := newSetup(t, fast(provider.APIClientOptions{BreakerFailures: 1, BreakerCooldown: 200 * time.Millisecond}))
	s.Faults.FailServer(1)
	require.Equal(t, drift.Unreachable, s.Driver.Observe(ctx, s.Binding).Reachability)
	require.Contains(t, s.Driver.Observe(ctx, s.Binding).Detail, "circuit breaker open")
	poll.Until(t, 10*time.Second, "a trial through the breaker after its cooldown", func() bool {
		return s.Driver.Observe(ctx, s.Binding).Reachability == drift.Reachable
	})
}

func testRevokedCredentials(ctx context.Context, t *testing.T, newSetup NewFunc) {
	s := newSetup(t, fast(provider.APIClientOptions{}))
	s.Revoke()
	obs := s.Driver.Observe(ctx, s.Binding)
	unknown(t, obs, drift.Unauthorized, drift.ReasonUnauthorized)
	require.Contains(t, obs.Detail, "401")
	if tok := s.Binding.Token(); tok != "" {
		require.NotContains(t, obs.Detail, tok, "no secret in details")
	}
	_, err := s.Driver.Register(ctx, s.Binding, s.Integration, s.Address)
	require.ErrorIs(t, err, provider.ErrUnauthorized)
}

func testSlowIsUnreachable(ctx context.Context, t *testing.T, newSetup NewFunc) {
	s := newSetup(t, provider.APIClientOptions{Timeout: 150 * time.Millisecond})
	s.Faults.Slow(5 * time.Second)
	began := time.Now()
	obs := s.Driver.Observe(ctx, s.Binding)
	unknown(t, obs, drift.Unreachable, drift.ReasonTimeout)
	require.Contains(t, obs.Detail, "no answer within")
	require.Less(t, time.Since(began), 2*time.Second)
}

func testCancelledIsUnknown(ctx context.Context, t *testing.T, newSetup NewFunc) {
	s := newSetup(t, fast(provider.APIClientOptions{BreakerFailures: 1}))
	s.Faults.Slow(5 * time.Second)
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	obs := s.Driver.Observe(cctx, s.Binding)
	unknown(t, obs, drift.Unknown, drift.ReasonTimeout) // the caller's deadline: nothing was learnt
	s.Faults.Recover()
	require.Equal(t, drift.Reachable, s.Driver.Observe(ctx, s.Binding).Reachability, "and the breaker did not count it")
}

// unknown checks an observation that could not be made.
func unknown(t *testing.T, obs provider.Observation, reach drift.Reachability, reason drift.Reason) {
	t.Helper()
	require.Equal(t, reach, obs.Reachability, obs.Detail)
	require.Equal(t, reason, obs.Reason, obs.Detail)
	require.False(t, obs.SubscriptionsKnown)
	require.Empty(t, obs.Subscriptions)
	require.NotEmpty(t, obs.Detail)
}

// endpointOf is scheme://host of the binding's api_base (or
// integration_api).
func endpointOf(t *testing.T, b provider.Binding) string {
	t.Helper()
	u, err := url.Parse(b.Setting("api_base", b.Setting("integration_api", "")))
	require.NoError(t, err)
	require.NotEmpty(t, u.Host, "the conformance bindings set settings.api_base")
	return u.Scheme + "://" + u.Host
}

// clock is a clock tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
