package provider

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// DefaultShareFor is how long a successful listing of an account is
// shared with the other stacks of that account: long enough to cover the
// passes of one burst (a client-wide reconcile, a restart, a schedule
// tick), short against the pass interval.
const DefaultShareFor = 2 * time.Second

// Shared lets the stacks of one provider account share one listing of it:
// concurrent callers of one key wait for one fetch, and a successful
// result is reused for a short while (the "pass window"). Failures are
// shared only with the callers that waited for them, never kept. A fetch
// runs while anyone still waits for it: it is cancelled when the last
// waiter gives up, so one caller's cancellation does not fail the others
// and nobody's cancellation counts as the provider's failure.
//
// Heals must see the provider as it is: drivers bypass Shared under a
// ForHeal context and Forget the account after every write. A fetch that
// began before a Forget is not kept.
type Shared[T any] struct {
	ttl time.Duration
	now func() time.Time

	mu       sync.Mutex
	cache    map[string]sharedEntry[T]
	inflight map[string]*sharedCall[T]
	gen      map[string]uint64 // bumped by Forget
}

type sharedEntry[T any] struct {
	val T
	at  time.Time
}

type sharedCall[T any] struct {
	done    chan struct{}
	val     T
	err     error
	waiters int
	cancel  context.CancelFunc
}

// NewShared returns a Shared keeping results for ttl (<= 0: results are
// not kept, concurrent callers still share one fetch); now is the clock
// (nil: time.Now).
func NewShared[T any](ttl time.Duration, now func() time.Time) *Shared[T] {
	if now == nil {
		now = time.Now
	}
	return &Shared[T]{ttl: ttl, now: now, cache: map[string]sharedEntry[T]{},
		inflight: map[string]*sharedCall[T]{}, gen: map[string]uint64{}}
}

// Do returns the kept result of key, or joins the fetch of key under way,
// or starts fetch. The fetch's context carries ctx's values, not its
// cancellation. Results must be treated as read-only: they are shared.
func (s *Shared[T]) Do(ctx context.Context, key string, fetch func(context.Context) (T, error)) (T, error) {
	s.mu.Lock()
	if e, ok := s.cache[key]; ok {
		if s.ttl > 0 && s.now().Sub(e.at) < s.ttl {
			s.mu.Unlock()
			return e.val, nil
		}
		delete(s.cache, key)
	}
	c := s.inflight[key]
	if c == nil {
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		c = &sharedCall[T]{done: make(chan struct{}), cancel: cancel}
		s.inflight[key] = c
		gen := s.gen[key]
		go s.run(fctx, key, gen, c, fetch)
	}
	c.waiters++
	s.mu.Unlock()

	select {
	case <-c.done:
		return c.val, c.err
	case <-ctx.Done():
		s.mu.Lock()
		c.waiters--
		if c.waiters == 0 {
			// Nobody waits any more: stop the fetch, and let the next
			// caller start a fresh one rather than join a cancelled one.
			c.cancel()
			if s.inflight[key] == c {
				delete(s.inflight, key)
			}
		}
		s.mu.Unlock()
		var zero T
		return zero, fmt.Errorf("the listing was not done in time: %w", ctx.Err())
	}
}

func (s *Shared[T]) run(ctx context.Context, key string, gen uint64, c *sharedCall[T], fetch func(context.Context) (T, error)) {
	defer c.cancel()
	val, err := fetch(ctx)
	s.mu.Lock()
	c.val, c.err = val, err
	if s.inflight[key] == c {
		delete(s.inflight, key)
	}
	if err == nil && s.ttl > 0 && s.gen[key] == gen {
		s.cache[key] = sharedEntry[T]{val: val, at: s.now()}
	}
	s.mu.Unlock()
	close(c.done)
}

// Forget drops the kept result of key and makes a fetch under way not be
// kept: the account was just written to.
func (s *Shared[T]) Forget(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.cache, key)
	s.gen[key]++
	delete(s.inflight, key) // later callers start a fresh fetch
}
