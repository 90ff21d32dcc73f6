package postgres

import (
	"context"
	"slices"
	"sync"
)

// group runs concurrent calls of one kind together: calls that arrive while
// a batch is in flight queue up and share the next one (one round trip, one
// transaction), and a call that finds a flight slot free runs at once,
// alone: nothing waits to fill a batch. The server's cost of a statement, a
// round trip and a commit is paid once per batch instead of once per call.
//
// The caller whose call starts a flight runs batches until the queue is
// empty, but hands the flight to a goroutine as soon as its own call is
// done, so it answers without waiting for later calls.
type group[In, Out any] struct {
	// maxFlights bounds the batches in flight (connections of the pool in
	// use by this kind of call); maxBatch the weight of the calls one batch
	// takes (a call heavier than that is still taken, alone).
	maxFlights, maxBatch int
	// weight is a call's share of maxBatch (nil: 1).
	weight func(In) int
	// run runs a batch: it sets every call's out or err.
	run func(ctx context.Context, batch []*call[In, Out])

	mu      sync.Mutex
	queue   []*call[In, Out]
	flights int
}

// call is one queued call.
type call[In, Out any] struct {
	in    In
	out   Out
	err   error
	taken bool          // a flight has taken it (group.mu)
	done  chan struct{} // closed when out or err is set
}

// do queues in and returns its result once its batch has run. If ctx ends
// while the call is still queued, it is withdrawn and never runs; once
// taken, it completes (the batch runs without the callers' contexts).
func (g *group[In, Out]) do(ctx context.Context, in In) (Out, error) {
	c := &call[In, Out]{in: in, done: make(chan struct{})}
	g.mu.Lock()
	g.queue = append(g.queue, c)
	fly := g.flights < g.maxFlights
	if fly {
		g.flights++
	}
	g.mu.Unlock()
	if fly {
		g.fly(c)
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		if g.withdraw(c) {
			var zero Out
			return zero, ctx.Err()
		}
		<-c.done
	}
	return c.out, c.err
}

// fly runs batches from the queue until it is empty, or until own's batch
// has run (then a goroutine goes on).
func (g *group[In, Out]) fly(own *call[In, Out]) {
	for {
		batch := g.take()
		if batch == nil {
			return
		}
		g.run(context.Background(), batch)
		for _, c := range batch {
			close(c.done)
		}
		if own != nil && slices.Contains(batch, own) {
			go g.fly(nil)
			return
		}
	}
}

// take removes the next batch from the queue, in arrival order; an empty
// queue ends the caller's flight.
func (g *group[In, Out]) take() []*call[In, Out] {
	g.mu.Lock()
	defer g.mu.Unlock()
	n, w := 0, 0
	for n < len(g.queue) {
		cw := 1
		if g.weight != nil {
			cw = g.weight(g.queue[n].in)
		}
		if n > 0 && w+cw > g.maxBatch {
			break
		}
		n, w = n+1, w+cw
	}
	if n == 0 {
		g.flights--
		return nil
	}
	batch := slices.Clone(g.queue[:n])
	for _, c := range batch {
		c.taken = true
	}
	clear(g.queue[:n])
	g.queue = g.queue[n:]
	return batch
}

// withdraw removes c from the queue unless a flight has taken it.
func (g *group[In, Out]) withdraw(c *call[In, Out]) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c.taken {
		return false
	}
	if i := slices.Index(g.queue, c); i >= 0 {
		g.queue = slices.Delete(g.queue, i, i+1)
	}
	return true
}
