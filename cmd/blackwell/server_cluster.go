package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/blackwellio/blackwell/internal/reconcile"
	"github.com/blackwellio/blackwell/internal/store"
)

// cluster is this server's part in work distribution: its membership
// (which shards of stacks it reconciles) and the forwarding of triggers of
// other replicas' stacks through the store (LISTEN/NOTIFY on PostgreSQL).
// On SQLite there is one replica, which holds every shard.
type cluster struct {
	leases     store.Leases
	membership *reconcile.Membership
	log        *slog.Logger

	mu      sync.Mutex
	pending map[string]string // key -> trigger, waiting to be notified
	wake    chan struct{}
}

// newCluster returns the cluster of a server on st; ttl is the lease TTL;
// reg receives the membership's metrics.
func newCluster(st store.Leases, ttl time.Duration, log *slog.Logger, reg prometheus.Registerer, onGain func(context.Context, []int)) *cluster {
	return &cluster{
		leases:     st,
		membership: reconcile.NewMembership(reconcile.MembershipOptions{Store: st, TTL: ttl, Logger: log, OnGain: onGain, Registerer: reg}),
		log:        log,
		pending:    map[string]string{},
		wake:       make(chan struct{}, 1),
	}
}

// forward queues a trigger for the replica that owns the stack; the
// notifier sends what is queued in batches.
func (c *cluster) forward(key, trigger string) {
	c.mu.Lock()
	if _, ok := c.pending[key]; !ok {
		c.pending[key] = trigger
	}
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// start claims this replica's shards once (so the loop starts on them)
// and then runs the membership, the notifier and the listener until ctx
// ends. wg tracks the goroutines.
func (c *cluster) start(ctx context.Context, wg *sync.WaitGroup, loop *reconcile.Reconciler) error {
	if err := c.membership.Tick(ctx); err != nil {
		return err
	}
	wg.Add(3)
	go func() {
		defer wg.Done()
		c.membership.Run(ctx)
	}()
	go func() {
		defer wg.Done()
		c.notify(ctx)
	}()
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			err := c.leases.ListenTriggers(ctx, loop.TriggerLocal)
			if ctx.Err() != nil {
				return
			}
			c.log.Warn("listen for triggers of other replicas", "error", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	return nil
}

// notify sends the queued triggers, grouped by trigger, until ctx ends.
func (c *cluster) notify(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		}
		// A moment for a burst to gather into one notification.
		time.Sleep(2 * time.Millisecond)
		c.mu.Lock()
		batch := c.pending
		c.pending = map[string]string{}
		c.mu.Unlock()
		byTrigger := map[string][]string{}
		for key, trigger := range batch {
			byTrigger[trigger] = append(byTrigger[trigger], key)
		}
		for trigger, keys := range byTrigger {
			if err := c.leases.NotifyTriggers(ctx, keys, trigger); err != nil && ctx.Err() == nil {
				// The owner still passes the stacks on its schedule.
				c.log.Warn("notify other replicas", "error", err, "stacks", len(keys))
			}
		}
	}
}
