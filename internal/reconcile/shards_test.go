package reconcile_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/blackwellio/blackwell/internal/store"
)

// listCounter is a store that counts the stacks its listings return.
type listCounter struct {
	store.Store
	all, byShard atomic.Int64
}

func (c *listCounter) ListStackRefs(ctx context.Context, cursor string, limit int) ([]store.StackRef, store.Page, error) {
	refs, next, err := c.Store.ListStackRefs(ctx, cursor, limit)
	c.all.Add(int64(len(refs)))
	return refs, next, err
}

func (c *listCounter) ListStates(ctx context.Context, clientID, cursor string, limit int) ([]store.StateRecord, store.Page, error) {
	recs, next, err := c.Store.ListStates(ctx, clientID, cursor, limit)
	c.all.Add(int64(len(recs)))
	return recs, next, err
}

func (c *listCounter) ListShardStacks(ctx context.Context, q store.ShardStacksQuery) ([]store.StackRef, store.Page, error) {
	refs, next, err := c.Store.ListShardStacks(ctx, q)
	c.byShard.Add(int64(len(refs)))
	return refs, next, err
}

// TestEnqueueShardsReadsOnlyTheirStacks: a replica that gains shards
// queues exactly their stacks, and reads no other stack to find them.
func TestEnqueueShardsReadsOnlyTheirStacks(t *testing.T) {
	t.Parallel()
	var counter *listCounter
	f := setup(t, fixtureOpts{wrap: func(s store.Store) store.Store { counter = &listCounter{Store: s}; return counter }})
	ctx := context.Background()
	var in []store.DesiredInput
	byShard := map[int]int{}
	for i := range 2000 {
		c, k := fmt.Sprintf("client-%d", i%20), fmt.Sprintf("stack-%d", i)
		in = append(in, store.DesiredInput{ClientID: c, StackID: k, Environment: "prod", Hash: "h", Document: []byte(`{}`)})
		byShard[store.ShardOf(c, k)]++
	}
	_, err := f.store.ApplyDesired(ctx, in) // the store's own: no trigger
	require.NoError(t, err)
	depth := func() int {
		mfs, err := f.reg.Gather()
		require.NoError(t, err)
		for _, mf := range mfs {
			if mf.GetName() == "blackwell_reconcile_queue_depth" {
				return int(mf.GetMetric()[0].GetGauge().GetValue())
			}
		}
		t.Fatal("no queue depth gauge")
		return 0
	}
	require.Zero(t, depth())

	gained := []int{3, 77, 200}
	want := byShard[3] + byShard[77] + byShard[200]
	require.NoError(t, f.loop.EnqueueShards(ctx, gained))
	require.Equal(t, want, depth(), "the stacks of the gained shards are queued")
	require.Equal(t, int64(want), counter.byShard.Load(), "and only they were read")
	require.Zero(t, counter.all.Load(), "no listing of every stack")
}
