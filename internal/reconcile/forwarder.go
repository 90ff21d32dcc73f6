package reconcile

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/blackwellio/blackwell/internal/store"
)

// Forwarder carries triggers between replicas through the store (NOTIFY
// and LISTEN on PostgreSQL): a webhook or API call on a replica that does
// not own the stack is forwarded (Options.Forward), and the owner, which
// listens, enqueues it. A lost notification costs latency only: the owner
// still passes the stack on its schedule. On SQLite there is one replica,
// which owns every stack and forwards nothing.
type Forwarder struct {
	leases store.Leases
	log    *slog.Logger

	mu      sync.Mutex
	pending map[forwarded]struct{} // waiting to be notified
	wake    chan struct{}
}

// forwarded is a trigger of a stack waiting to be notified: one of each
// pair is sent, so a burst of one trigger is one line, and a trigger of
// another kind (a promotion handed over) is never folded into a pass's.
type forwarded struct{ key, trigger string }

// NewForwarder returns a Forwarder over leases; Run sends what Forward
// queues, Listen delivers the other replicas' triggers.
func NewForwarder(leases store.Leases, log *slog.Logger) *Forwarder {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Forwarder{leases: leases, log: log, pending: map[forwarded]struct{}{}, wake: make(chan struct{}, 1)}
}

// Forward queues a trigger for the replica that owns the stack (key, as
// Key makes it); Run sends what is queued in batches. It is
// Options.Forward.
func (f *Forwarder) Forward(key, trigger string) {
	f.mu.Lock()
	f.pending[forwarded{key, trigger}] = struct{}{}
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Run sends the queued triggers, grouped by trigger, until ctx ends.
func (f *Forwarder) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.wake:
		}
		// A moment for a burst to gather into one notification.
		time.Sleep(2 * time.Millisecond)
		f.mu.Lock()
		batch := f.pending
		f.pending = map[forwarded]struct{}{}
		f.mu.Unlock()
		byTrigger := map[string][]string{}
		for fw := range batch {
			byTrigger[fw.trigger] = append(byTrigger[fw.trigger], fw.key)
		}
		for trigger, keys := range byTrigger {
			if err := f.leases.NotifyTriggers(ctx, keys, trigger); err != nil && ctx.Err() == nil {
				// The owner still passes the stacks on its schedule.
				f.log.Warn("notify other replicas", "error", err, "stacks", len(keys))
			}
		}
	}
}

// Listen hands the triggers other replicas forward to deliver (the loop's
// TriggerLocal, which ignores stacks this replica does not own) until ctx
// ends, and an empty key and trigger whenever listening (re)starts
// (store.ListenStarted); a lost connection is retried every second.
func (f *Forwarder) Listen(ctx context.Context, deliver func(key, trigger string)) {
	for ctx.Err() == nil {
		err := f.leases.ListenTriggers(ctx, deliver)
		if ctx.Err() != nil {
			return
		}
		f.log.Warn("listen for triggers of other replicas", "error", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}
