package provider

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"
)

// breaker is the circuit breaker of one endpoint (scheme://host). It
// opens after a number of consecutive failures; while open, calls fail at
// once with ErrBreakerOpen. Its cooldown (how long it stays open before one
// trial call goes through) starts short and doubles after each failed
// trial, up to a cap; a successful trial closes it and resets the cooldown.
// So a provider that was down for a few seconds is seen again within about
// as long, and one that stays down is tried ever less often.
//
// gobreaker counts the failures and lets one trial through when half-open;
// its own open period (Settings.Timeout) is fixed, so it is set to a
// nanosecond and the breaker holds the open state itself, in openUntil,
// on the injected clock.
type breaker struct {
	endpoint string // scheme://host, sanitised
	provider string
	failures int
	base     time.Duration
	cap      time.Duration
	now      func() time.Time
	cb       *gobreaker.CircuitBreaker[*Response]

	mu        sync.Mutex
	cooldown  time.Duration // of the current (or next) open period
	openUntil time.Time
}

func newBreaker(provider, endpoint string, failures int, base, cap time.Duration, now func() time.Time) *breaker {
	b := &breaker{endpoint: endpoint, provider: provider, failures: failures, base: base, cap: max(cap, base), now: now, cooldown: base}
	threshold := uint32(failures)
	b.cb = gobreaker.NewCircuitBreaker[*Response](gobreaker.Settings{
		Name:          provider + " " + endpoint,
		MaxRequests:   1,
		Timeout:       time.Nanosecond,
		ReadyToTrip:   func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= threshold },
		IsExcluded:    func(err error) bool { return errors.As(err, new(callerDone)) },
		OnStateChange: b.stateChanged,
	})
	return b
}

// stateChanged runs under gobreaker's lock; it must not call b.cb.
func (b *breaker) stateChanged(_ string, from, to gobreaker.State) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch to {
	case gobreaker.StateOpen:
		if from == gobreaker.StateHalfOpen {
			b.cooldown = min(2*b.cooldown, b.cap) // the trial failed
		} else {
			b.cooldown = b.base
		}
		b.openUntil = b.now().Add(b.cooldown)
	case gobreaker.StateClosed:
		b.cooldown = b.base
		b.openUntil = time.Time{}
	}
}

// execute runs fn unless the breaker is open (or its one trial is under
// way), which fails at once with ErrBreakerOpen.
func (b *breaker) execute(fn func() (*Response, error)) (*Response, error) {
	b.mu.Lock()
	until, cooldown := b.openUntil, b.cooldown
	b.mu.Unlock()
	if left := until.Sub(b.now()); left > 0 {
		return nil, b.openError(fmt.Sprintf("next trial in %s (cooldown %s)", left.Round(10*time.Millisecond), cooldown))
	}
	resp, err := b.cb.Execute(fn)
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return nil, b.openError("a trial call is under way")
	}
	return resp, err
}

func (b *breaker) openError(detail string) error {
	return fmt.Errorf("%w: %w: %s endpoint %s after %d consecutive failures; %s",
		ErrUnreachable, ErrBreakerOpen, b.provider, b.endpoint, b.failures, detail)
}

// state is "open" while calls fail at once, else gobreaker's state
// ("closed", or "half-open" while a trial may go through).
func (b *breaker) state() string {
	b.mu.Lock()
	until := b.openUntil
	b.mu.Unlock()
	if b.now().Before(until) {
		return gobreaker.StateOpen.String()
	}
	if s := b.cb.State(); s != gobreaker.StateOpen {
		return s.String()
	}
	return gobreaker.StateHalfOpen.String()
}

// currentCooldown is the cooldown of the current or next open period.
func (b *breaker) currentCooldown() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cooldown
}
