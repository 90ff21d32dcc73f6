package postgres

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGroupBatchesCallsThatQueueDuringAFlight: a lone call runs at once,
// alone; calls that arrive while it runs share the next batch, each gets
// its own result, and a call whose context ends while queued never runs.
func TestGroupBatchesCallsThatQueueDuringAFlight(t *testing.T) {
	release := make(chan struct{})
	var (
		mu      sync.Mutex
		batches [][]int
	)
	g := &group[int, int]{maxFlights: 1, maxBatch: 4, run: func(_ context.Context, batch []*call[int, int]) {
		var ins []int
		for _, c := range batch {
			ins = append(ins, c.in)
			if c.in < 0 {
				c.err = errors.New("negative")
			} else {
				c.out = c.in * 10
			}
		}
		mu.Lock()
		batches = append(batches, ins)
		first := len(batches) == 1
		mu.Unlock()
		if first {
			<-release
		}
	}}
	ctx := context.Background()
	var wg sync.WaitGroup
	wg.Go(func() {
		out, err := g.do(ctx, 1)
		assert.NoError(t, err)
		assert.Equal(t, 10, out)
	})
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(batches) == 1 }, 5*time.Second, time.Millisecond)

	// While the first batch runs: six calls queue (two batches of at most
	// four), and one gives up before it is taken.
	gone, cancel := context.WithCancel(ctx)
	withdrawn := make(chan error, 1)
	go func() { _, err := g.do(gone, 99); withdrawn <- err }()
	for i := 2; i <= 7; i++ {
		wg.Go(func() {
			in := i
			if i == 5 {
				in = -5
			}
			out, err := g.do(ctx, in)
			if in < 0 {
				assert.EqualError(t, err, "negative")
				return
			}
			assert.NoError(t, err)
			assert.Equal(t, in*10, out)
		})
	}
	require.Eventually(t, func() bool { g.mu.Lock(); defer g.mu.Unlock(); return len(g.queue) == 7 }, 5*time.Second, time.Millisecond)
	cancel()
	require.ErrorIs(t, <-withdrawn, context.Canceled)
	close(release)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []int{1}, batches[0], "a lone call runs alone, at once")
	require.Len(t, batches, 3, "the six queued calls run in two batches")
	require.Len(t, batches[1], 4, "bounded by maxBatch")
	require.Len(t, batches[2], 2)
	for _, b := range batches {
		require.NotContains(t, b, 99, "the withdrawn call never runs")
	}
	require.Eventually(t, func() bool { g.mu.Lock(); defer g.mu.Unlock(); return g.flights == 0 }, 5*time.Second, time.Millisecond,
		"the flight ends with the queue")
}

// TestGroupWeighsCalls: a batch takes calls up to maxBatch of weight, and
// a call heavier than that alone.
func TestGroupWeighsCalls(t *testing.T) {
	g := &group[int, int]{maxFlights: 1, maxBatch: 10, weight: func(n int) int { return n }}
	for _, n := range []int{4, 5, 2, 30, 1} {
		g.queue = append(g.queue, &call[int, int]{in: n})
	}
	g.flights = 1
	var got [][]int
	for {
		batch := g.take()
		if batch == nil {
			break
		}
		var ins []int
		for _, c := range batch {
			ins = append(ins, c.in)
		}
		got = append(got, ins)
	}
	require.Equal(t, [][]int{{4, 5}, {2}, {30}, {1}}, got)
	require.Zero(t, g.flights)
}
