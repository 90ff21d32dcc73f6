package provider

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/poll"
)

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestSharedOneFetchForConcurrentCallersAndTheWindow(t *testing.T) {
	t.Parallel()
	clock := &testClock{now: time.Unix(1_700_000_000, 0)}
	s := NewShared[[]string](2*time.Second, clock.Now)
	var fetches atomic.Int64
	release := make(chan struct{})
	fetch := func(context.Context) ([]string, error) {
		fetches.Add(1)
		<-release
		return []string{"hook"}, nil
	}
	const callers = 10
	var wg sync.WaitGroup
	got := make([][]string, callers)
	for i := range callers {
		wg.Go(func() {
			v, err := s.Do(context.Background(), "acct", fetch)
			require.NoError(t, err)
			got[i] = v
		})
	}
	poll.Until(t, 10*time.Second, "every caller to join", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		c := s.inflight["acct"]
		return c != nil && c.waiters == callers
	})
	close(release)
	wg.Wait()
	require.Equal(t, int64(1), fetches.Load())
	for _, v := range got {
		require.Equal(t, []string{"hook"}, v)
	}

	_, err := s.Do(context.Background(), "acct", fetch)
	require.NoError(t, err)
	require.Equal(t, int64(1), fetches.Load(), "kept for the window")
	_, err = s.Do(context.Background(), "other", fetch)
	require.NoError(t, err)
	require.Equal(t, int64(2), fetches.Load(), "another account fetches its own")
	clock.Add(2 * time.Second)
	_, err = s.Do(context.Background(), "acct", fetch)
	require.NoError(t, err)
	require.Equal(t, int64(3), fetches.Load(), "the window ended")
	s.Forget("acct")
	_, err = s.Do(context.Background(), "acct", fetch)
	require.NoError(t, err)
	require.Equal(t, int64(4), fetches.Load(), "forgotten after a write")
}

func TestSharedKeepsNoFailureAndNothingFetchedBeforeAForget(t *testing.T) {
	t.Parallel()
	s := NewShared[int](time.Hour, nil)
	var fetches atomic.Int64
	boom := errors.New("boom")
	_, err := s.Do(context.Background(), "k", func(context.Context) (int, error) { fetches.Add(1); return 0, boom })
	require.ErrorIs(t, err, boom)
	v, err := s.Do(context.Background(), "k", func(context.Context) (int, error) { fetches.Add(1); return 7, nil })
	require.NoError(t, err)
	require.Equal(t, 7, v)
	require.Equal(t, int64(2), fetches.Load(), "a failure is not kept")

	s.Forget("k")
	started, release := make(chan struct{}), make(chan struct{})
	done := make(chan int)
	go func() {
		v, _ := s.Do(context.Background(), "k", func(context.Context) (int, error) { close(started); <-release; return 8, nil })
		done <- v
	}()
	<-started
	s.Forget("k") // a write while the listing runs
	close(release)
	require.Equal(t, 8, <-done, "its waiters get it")
	v, err = s.Do(context.Background(), "k", func(context.Context) (int, error) { return 9, nil })
	require.NoError(t, err)
	require.Equal(t, 9, v, "but it is not kept")
}

// TestSharedCancellation: one caller giving up does not fail the others;
// the fetch is cancelled when the last waiter leaves.
func TestSharedCancellation(t *testing.T) {
	t.Parallel()
	s := NewShared[int](time.Hour, nil)
	fetchCtx := make(chan context.Context, 1)
	release := make(chan struct{})
	fetch := func(ctx context.Context) (int, error) {
		fetchCtx <- ctx
		select {
		case <-release:
			return 1, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	ctx1, cancel1 := context.WithCancel(context.Background())
	err1 := make(chan error, 1)
	go func() { _, err := s.Do(ctx1, "k", fetch); err1 <- err }()
	fctx := <-fetchCtx
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	res2 := make(chan int, 1)
	go func() { v, _ := s.Do(ctx2, "k", fetch); res2 <- v }()
	poll.Until(t, 10*time.Second, "the second caller to join", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.inflight["k"].waiters == 2
	})
	cancel1()
	require.ErrorIs(t, <-err1, context.Canceled)
	require.NoError(t, fctx.Err(), "another caller still waits: the fetch goes on")
	close(release)
	require.Equal(t, 1, <-res2)

	s.Forget("k")
	ctx3, cancel3 := context.WithCancel(context.Background())
	go func() {
		_, _ = s.Do(ctx3, "k", func(ctx context.Context) (int, error) { fetchCtx <- ctx; <-ctx.Done(); return 0, ctx.Err() })
	}()
	fctx = <-fetchCtx
	cancel3()
	select {
	case <-fctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the fetch went on with nobody waiting")
	}
	v, err := s.Do(context.Background(), "k", func(context.Context) (int, error) { return 5, nil })
	require.NoError(t, err)
	require.Equal(t, 5, v, "the next caller does not join the cancelled fetch")
}
