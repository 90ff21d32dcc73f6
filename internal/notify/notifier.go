package notify

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Notifier joins noise control and the dispatcher: the reconcile loop
// hands it drift events, and it publishes what noise control lets through.
// Start runs a ticker for reminders, time escalations and digests.
type Notifier struct {
	tracker    *Tracker
	dispatcher *Dispatcher
	now        func() time.Time
	interval   time.Duration

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// NotifierOptions tune a Notifier.
type NotifierOptions struct {
	// Now is the clock (default time.Now); give the tracker's and the
	// dispatcher's the same one.
	Now func() time.Time
	// TickInterval is how often Start's loop calls Tick (default 30s).
	TickInterval time.Duration
}

// NewNotifier returns a notifier over t and d.
func NewNotifier(t *Tracker, d *Dispatcher, opts NotifierOptions) *Notifier {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.TickInterval <= 0 {
		opts.TickInterval = 30 * time.Second
	}
	return &Notifier{tracker: t, dispatcher: d, now: opts.Now, interval: opts.TickInterval}
}

// Handle applies one drift event and publishes its messages; a suppressed
// repeat is counted on the channels that would have heard it. It never
// blocks on a channel.
func (n *Notifier) Handle(ctx context.Context, ev Event) {
	now := n.now()
	out := n.tracker.Handle(now, ev)
	if out.Suppressed {
		if st, ok := n.tracker.State(ev.Drift.ID); ok {
			m := st.Drift
			n.dispatcher.Suppressed(Message{ClientID: m.ClientID, StackID: m.StackID, DriftID: m.ID,
				Code: m.Code, Severity: st.Severity, Kind: KindDetected})
		}
	}
	n.dispatcher.Publish(ctx, out.Messages...)
}

// Tick publishes the reminders, escalations and digests due now.
func (n *Notifier) Tick(ctx context.Context) {
	n.dispatcher.Publish(ctx, n.tracker.Tick(n.now())...)
	n.dispatcher.FlushDigests(ctx)
}

// Start starts the dispatcher and the tick loop.
func (n *Notifier) Start(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cancel != nil {
		return errors.New("notifier: started twice")
	}
	if err := n.dispatcher.Start(ctx); err != nil {
		return err
	}
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	n.cancel, n.done = cancel, make(chan struct{})
	go func() {
		defer close(n.done)
		t := time.NewTicker(n.interval)
		defer t.Stop()
		for {
			select {
			case <-loopCtx.Done():
				return
			case <-t.C:
				n.Tick(loopCtx)
			}
		}
	}()
	return nil
}

// Stop ends the tick loop, then stops the dispatcher (see Dispatcher.Stop).
func (n *Notifier) Stop(ctx context.Context) error {
	n.mu.Lock()
	cancel, done := n.cancel, n.done
	n.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	return n.dispatcher.Stop(ctx)
}
