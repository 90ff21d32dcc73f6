package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/blackwellio/blackwell/internal/reconcile"
	"github.com/blackwellio/blackwell/internal/store"
)

// Store watch timings: how often the store is pinged, and how long a ping
// (and a /readyz answer) may take before the store counts as unreachable.
const (
	storeWatchEvery   = time.Second
	storeWatchTimeout = 2 * time.Second
)

// storeWatch follows whether the store answers, for /readyz and for the
// reconcile loop across an outage. While the store is unreachable:
// /readyz answers 503 (a load balancer stops sending traffic), webhooks
// answer 503 with Retry-After (the gateway's commit fails; nothing is
// acknowledged that is not committed), and the reconcile loop is paused:
// no pass starts (triggers keep queueing), and passes in flight fail at
// their next read, writing nothing. When the store answers again the loop
// resumes and every stack is triggered, so reconciliation picks up at once
// rather than at the end of each stack's retry backoff. Transitions are
// logged once each, not per failed ping.
type storeWatch struct {
	st      store.Store
	log     *slog.Logger
	trigger func(clientID, stackID string)
	loop    interface {
		Pause()
		Resume()
	}
	up prometheus.Gauge

	mu        sync.Mutex
	down      bool
	downSince time.Time
}

func newStoreWatch(st store.Store, log *slog.Logger, reg prometheus.Registerer, loop *reconcile.Reconciler) *storeWatch {
	w := &storeWatch{
		st:   st,
		log:  log,
		loop: loop,
		trigger: func(c, k string) {
			loop.Trigger(c, k, reconcile.TriggerStart)
		},
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
func (w *storeWatch) Ready(ctx context.Context) error {
	err := w.ping(ctx)
	if err != nil {
		return fmt.Errorf("store unreachable: %w", err)
	}
	return nil
}

func (w *storeWatch) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, storeWatchTimeout)
	defer cancel()
	return w.st.Ping(ctx)
}

// run pings the store every storeWatchEvery until ctx ends.
func (w *storeWatch) run(ctx context.Context) {
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
func (w *storeWatch) observe(ctx context.Context, err error) {
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
func (w *storeWatch) triggerAll(ctx context.Context) (int, error) {
	n, cursor := 0, ""
	for {
		recs, next, err := w.st.ListStates(ctx, "", cursor, 1000)
		if err != nil {
			return n, err
		}
		for _, r := range recs {
			w.trigger(r.ClientID, r.StackID)
			n++
		}
		if next == "" {
			return n, nil
		}
		cursor = next
	}
}
