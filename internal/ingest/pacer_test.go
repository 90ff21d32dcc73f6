package ingest

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPacer(t *testing.T) {
	t.Parallel()
	var (
		mu    sync.Mutex
		fired []time.Time
	)
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(fired)
	}
	const every = 100 * time.Millisecond
	p := newPacer(every, time.Now, func(c, s string) {
		require.Equal(t, "acme/shop", c+"/"+s)
		mu.Lock()
		fired = append(fired, time.Now())
		mu.Unlock()
	})

	start := time.Now()
	p.trigger("acme", "shop")
	require.Equal(t, 1, count(), "the first event triggers at once")
	for range 50 {
		p.trigger("acme", "shop") // a burst within the interval
	}
	require.Equal(t, 1, count(), "a burst is folded")
	require.Eventually(t, func() bool { return count() == 2 }, 5*time.Second, time.Millisecond,
		"the burst gets one more pass at the interval's end")
	mu.Lock()
	require.GreaterOrEqual(t, fired[1].Sub(start), every-5*time.Millisecond)
	mu.Unlock()

	// After a quiet interval (a clock moved by hand), at once again.
	clock := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	k := 0
	c := newPacer(every, func() time.Time { return clock }, func(string, string) { k++ })
	c.trigger("acme", "shop")
	clock = clock.Add(every)
	c.trigger("acme", "shop")
	require.Equal(t, 2, k, "a full interval later, at once")

	// Stacks are paced apart.
	q := newPacer(time.Hour, time.Now, func(string, string) {})
	n := 0
	q.fire = func(string, string) { n++ }
	q.trigger("acme", "a")
	q.trigger("acme", "b")
	q.trigger("globex", "a")
	require.Equal(t, 3, n)

	// A zero or negative interval fires every time.
	m := 0
	r := newPacer(-1, time.Now, func(string, string) { m++ })
	r.trigger("acme", "a")
	r.trigger("acme", "a")
	require.Equal(t, 2, m)
}
