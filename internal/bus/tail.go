package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/blackwellio/blackwell/internal/store"
)

// TailOptions configure a Tail.
type TailOptions struct {
	// Store holds the stream log (required).
	Store store.StreamStore
	// Logger gets read failures (rate-limited); nil discards.
	Logger *slog.Logger
	// Poll is how often the log is read when no wake came (default 1s):
	// a wake lost with a connection costs this much latency.
	Poll time.Duration
	// Batch bounds the events of one read (default 1000).
	Batch int
	// Linger is the least time between two reads (default 20ms; < 0:
	// none). A wake that comes sooner waits for the rest of it, so a
	// burst of commits (one wake each, from every replica) is read in one
	// page, not one read per commit: at 100,000 stacks passed by three
	// replicas the wakes came 150 times a second, and each replica's tail
	// read the log on each. It adds at most Linger to an event's lag.
	Linger time.Duration
	// OnEvents, when set, is called with each batch of events published
	// (keep it quick).
	OnEvents func([]Event)
	// Registerer receives blackwell_stream_lag_seconds; nil registers
	// nothing.
	Registerer prometheus.Registerer
}

// Tail publishes the events of the store's stream log on a bus as they
// commit: woken by the store (store.StreamStore.WatchStream: PostgreSQL's
// LISTEN, SQLite's commits), and every Poll, it reads the log from the
// last seq it published. Seqs are gap-free and commit in order, so reading
// "after the last" misses nothing and repeats nothing; every replica's
// tail publishes the same events in the same order.
type Tail struct {
	b      *Bus
	opts   TailOptions
	log    *slog.Logger
	errLog *rate.Limiter
	wake   chan struct{}

	lag prometheus.Histogram

	mu     sync.Mutex
	cancel context.CancelFunc
	done   sync.WaitGroup
}

// NewTail returns a tail publishing on b; nothing runs before Start.
func NewTail(b *Bus, opts TailOptions) (*Tail, error) {
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	if opts.Batch <= 0 {
		opts.Batch = 1000
	}
	if opts.Linger == 0 {
		opts.Linger = 20 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	t := &Tail{b: b, opts: opts, log: opts.Logger, errLog: rate.NewLimiter(rate.Every(30*time.Second), 1),
		wake: make(chan struct{}, 1),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "blackwell_stream_lag_seconds",
			Help:    "Time from an event's commit to the stream log to its publication on this replica's event stream.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		})}
	if opts.Registerer != nil {
		if err := opts.Registerer.Register(t.lag); err != nil {
			return nil, fmt.Errorf("register stream tail metrics: %w", err)
		}
	}
	return t, nil
}

// Start reads the log's head, from which the bus goes on (older events
// are replayed from the log), and starts following the log.
func (t *Tail) Start(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cancel != nil {
		return errors.New("stream tail started twice")
	}
	page, err := t.opts.Store.ReadStream(ctx, 0, 0)
	if err != nil {
		return fmt.Errorf("stream tail: %w", err)
	}
	t.b.Resume(page.Head)
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	t.cancel = cancel
	t.done.Go(func() {
		_ = t.opts.Store.WatchStream(runCtx, t.Wake)
	})
	t.done.Go(func() { t.run(runCtx) })
	return nil
}

// Wake asks for a read now. It never blocks.
func (t *Tail) Wake() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// Stop ends the tail and waits for it.
func (t *Tail) Stop() {
	t.mu.Lock()
	cancel := t.cancel
	t.mu.Unlock()
	if cancel != nil {
		cancel()
		t.done.Wait()
	}
}

func (t *Tail) run(ctx context.Context) {
	poll := time.NewTicker(t.opts.Poll)
	defer poll.Stop()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.wake:
		case <-poll.C:
		}
		if wait := t.opts.Linger - time.Since(last); wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			// The wakes of the wait are read now.
			select {
			case <-t.wake:
			default:
			}
		}
		last = time.Now()
		if err := t.Read(ctx); err != nil && !errors.Is(err, context.Canceled) && t.errLog.Allow() {
			t.log.Warn("stream: read the stream log; retrying", "error", err)
		}
	}
}

// Read publishes what the log holds after the bus's last event, in
// batches, until it has caught up.
func (t *Tail) Read(ctx context.Context) error {
	for {
		after := t.b.Seq()
		page, err := t.opts.Store.ReadStream(ctx, after, t.opts.Batch)
		if err != nil {
			return err
		}
		if page.Pruned > after && len(page.Events) > 0 {
			t.log.Warn("stream: events were pruned from the log before this replica read them",
				"after", after, "pruned_through", page.Pruned)
		}
		out := make([]Event, 0, len(page.Events))
		now := time.Now()
		for _, r := range page.Events {
			out = append(out, t.b.Publish(ctx, FromRecord(r)))
			t.lag.Observe(max(0, now.Sub(r.CreatedAt).Seconds()))
		}
		if len(out) > 0 && t.opts.OnEvents != nil {
			t.opts.OnEvents(out)
		}
		if len(page.Events) < t.opts.Batch {
			return nil
		}
	}
}
