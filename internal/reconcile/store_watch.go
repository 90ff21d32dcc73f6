package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/blackwellio/blackwell/internal/store"
)

// Store watch timings: how often the store is pinged, and how long a ping
// (and a /readyz answer) may take before the store counts as unreachable.
const (
	storeWatchEvery   = time.Second
	storeWatchTimeout = 2 * time.Second
)

// WatchedLoop is what a StoreWatch does to the reconcile loop: a
// *Reconciler.
type WatchedLoop interface {
	Pause()
	Resume()
	Trigger(clientID, stackID, trigger string)
}

// StoreWatch follows whether the store answers, for /readyz and for the
// reconcile loop across an outage. While the store is unreachable:
// /readyz answers 503 (a load balancer stops sending traffic), webhooks
// answer 503 with Retry-After (the gateway's commit fails; nothing is
// acknowledged that is not committed), and the reconcile loop is paused:
// no pass starts (triggers keep queueing), and passes in flight fail at
// their next read, writing nothing. When the store answers again the loop
// resumes and every stack is triggered, so reconciliation picks up at once
// rather than at the end of each stack's retry backoff. Transitions are
// logged once each, not per failed ping.
type StoreWatch struct {
	st   store.Store
	log  *slog.Logger
	loop WatchedLoop
	up   prometheus.Gauge

	mu        sync.Mutex
	down      bool
	downSince time.Time
}

// NewStoreWatch returns the watch of st over loop; it registers
// blackwell_store_up with reg. Run pings.
func NewStoreWatch(st store.Store, log *slog.Logger, reg prometheus.Registerer, loop WatchedLoop) *StoreWatch {
	w := &StoreWatch{
		st:   st,
		log:  log,
		loop: loop,
		up: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "blackwell_store_up",
			Help: "1 while the store answers pings, 0 while it is unreachable.",
		}),
	}
	w.up.Set(1)
	reg.MustRegister(w.up)
	return w
}

// Ready pings the store, bounded by storeWatchTimeout, for /readyz.
func (w *StoreWatch) Ready(ctx context.Context) error {
	err := w.ping(ctx)
	if err != nil {
		return fmt.Errorf("store unreachable: %w", err)
	}
	return nil
}

func (w *StoreWatch) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, storeWatchTimeout)
	defer cancel()
	return w.st.Ping(ctx)
}

// Run pings the store every storeWatchEvery until ctx ends.
func (w *StoreWatch) Run(ctx context.Context) {
	t := time.NewTicker(storeWatchEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := w.ping(ctx)
		if ctx.Err() != nil {
			return
		}
		w.observe(ctx, err)
	}
}

// observe records a ping's outcome; on recovery it triggers every stack.
func (w *StoreWatch) observe(ctx context.Context, err error) {
	w.mu.Lock()
	wasDown, since := w.down, w.downSince
	switch {
	case err != nil && !wasDown:
		w.down, w.downSince = true, time.Now()
	case err == nil && wasDown:
		w.down = false
	}
	w.mu.Unlock()
	switch {
	case err != nil && !wasDown:
		w.up.Set(0)
		w.loop.Pause()
		w.log.Error("store unreachable: webhooks answer 503, reconciliation paused until it answers", "error", err)
	case err == nil && wasDown:
		w.up.Set(1)
		w.loop.Resume()
		n, terr := w.triggerAll(ctx)
		w.log.Info("store reachable again: reconciliation resumes", "down_for", time.Since(since).Round(time.Millisecond).String(), "stacks_triggered", n)
		if terr != nil && !errors.Is(terr, context.Canceled) {
			// The passes already retrying will still run, after backoff.
			w.log.Warn("trigger stacks after the store outage", "error", terr)
		}
	}
}

// triggerAll asks for a pass of every stack.
func (w *StoreWatch) triggerAll(ctx context.Context) (int, error) {
	n, cursor := 0, ""
	for {
		recs, next, err := w.st.ListStates(ctx, "", cursor, 1000)
		if err != nil {
			return n, err
		}
		for _, r := range recs {
			w.loop.Trigger(r.ClientID, r.StackID, TriggerStart)
			n++
		}
		if next == "" {
			return n, nil
		}
		cursor = next
	}
}
